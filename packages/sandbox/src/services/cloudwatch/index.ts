/**
 * CloudWatch metrics: PutMetricData, GetMetricData (MetricStat queries) and ListMetrics, over the
 * datapoints PutMetricData stored and the metrics every sandbox instance reports while it runs
 * (synth.ts). Alarms, dashboards and metric math are not emulated: an `Expression` query is
 * refused by name.
 *
 * Wire: AWS JSON 1.0, target prefix `GraniteServiceVersion20100801`, signing name `monitoring`,
 * which both the pinned SDK (3.1164.0) and the AWS CLI v1 (botocore 1.43: `protocols` lists
 * smithy-rpc-v2-cbor, json, query, and botocore picks json first) speak. The service is
 * awsQueryCompatible: errors carry `x-amzn-query-error: Code;Sender` and the SDK names them by
 * that code's shape (InvalidParameterValue → InvalidParameterValueException).
 *
 * Metrics are regional: stored datapoints answer in the region they were put in. Synthesized
 * instance metrics answer in every region, as sandbox instances are seen in every region.
 */
import { randomUUID } from 'node:crypto';
import { AwsError } from '../../errors';
import { isRecord } from '../../input';
import { decodeOffsetToken, encodeOffsetToken } from '../../pagination';
import type { JsonAction, JsonService, ServiceContext } from '../../service';
import { type InstanceRunsRecord, instanceRuns } from '../ec2/runs';
import {
  alignedStart,
  checkPeriod,
  decodeDataToken,
  pageSeries,
  parseStatistic,
  periodSeries,
  type Series,
  validationError,
} from './metric-data';
import {
  CloudWatchTable,
  type DatapointRecord,
  type Dimension,
  type MetricIdentity,
  type MetricProfile,
  metricKey,
  type Sample,
  sortDimensions,
} from './model';
import { profileRoutes } from './profiles';
import { runningMinutes, SYNTHESIZED_METRICS, synthesizedIdentity, synthesizedOf, synthesizedSamples } from './synth';

type Input = Record<string, unknown>;

/** Query error codes → the JSON error shapes the SDK deserializes (botocore's cloudwatch model). */
export const CLOUDWATCH_QUERY_ERRORS: Readonly<Record<string, string>> = {
  InvalidParameterValue: 'InvalidParameterValueException',
  MissingParameter: 'MissingRequiredParameterException',
  InvalidParameterCombination: 'InvalidParameterCombinationException',
  InvalidNextToken: 'InvalidNextToken',
  InternalServiceError: 'InternalServiceFault',
  // The SDK's model (3.1164.0) names the generic query ValidationError `ValidationException`.
  ValidationError: 'ValidationException',
};

const invalidValue = (message: string): AwsError => new AwsError('InvalidParameterValue', message);
const missing = (member: string): AwsError => new AwsError('MissingParameter', `The parameter ${member} is required.`);

function stringAt(input: Input, key: string, member: string, required: true): string;
function stringAt(input: Input, key: string, member: string, required?: false): string | undefined;
function stringAt(input: Input, key: string, member: string, required = false): string | undefined {
  const value = input[key];
  if (value === undefined || value === null) {
    if (required) throw missing(member);
    return undefined;
  }
  if (typeof value !== 'string') throw invalidValue(`The parameter ${member} must be a string.`);
  return value;
}

const listAt = (input: Input, key: string, member: string): unknown[] => {
  const value = input[key];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalidValue(`The parameter ${member} must be a list.`);
  return value;
};

/** JSON 1.0 timestamps are epoch seconds; an ISO string is read too. */
const timeAt = (input: Input, key: string, member: string): number | undefined => {
  const value = input[key];
  if (value === undefined || value === null) return undefined;
  const ms = typeof value === 'number' ? value * 1000 : typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms)) throw invalidValue(`The parameter ${member} must be a timestamp.`);
  return ms;
};

const readDimensions = (input: Input, member: string): Dimension[] => {
  const list = listAt(input, 'Dimensions', `${member}.Dimensions`);
  // Up to 30 dimensions a metric (PutMetricData API reference).
  if (list.length > 30) throw invalidValue(`The collection ${member}.Dimensions must not have more than 30 members.`);
  const dimensions = list.map((item, index) => {
    const at = `${member}.Dimensions.member.${index + 1}`;
    if (!isRecord(item)) throw invalidValue(`The parameter ${at} must be a structure.`);
    return { name: stringAt(item, 'Name', `${at}.Name`, true), value: stringAt(item, 'Value', `${at}.Value`, true) };
  });
  const names = new Set(dimensions.map((d) => d.name));
  if (names.size !== dimensions.length) {
    throw new AwsError('InvalidParameterCombination', `No metric may have the same dimension name twice (${member}).`);
  }
  return sortDimensions(dimensions);
};

const render = (identity: MetricIdentity) => ({
  Namespace: identity.namespace,
  MetricName: identity.metricName,
  Dimensions: identity.dimensions.map((d) => ({ Name: d.name, Value: d.value })),
});

const profilesOf = (ctx: ServiceContext): MetricProfile[] => [
  ...ctx.store.table<MetricProfile>(CloudWatchTable.Profiles).values(),
];

const storedIn = (ctx: ServiceContext): DatapointRecord[] =>
  [...ctx.store.table<DatapointRecord>(CloudWatchTable.Datapoints).values()].filter((d) => d.region === ctx.region);

// ---------------------------------------------------------------- PutMetricData

/** Values must lie within ±2^360 and be finite (PutMetricData API reference). */
const LIMIT = 2 ** 360;

const checkValue = (value: unknown, member: string): number => {
  if (typeof value !== 'number' || !Number.isFinite(value) || Math.abs(value) > LIMIT) {
    throw invalidValue(`The value ${String(value)} for parameter ${member} is invalid: a finite number within ±2^360.`);
  }
  return value;
};

const readDatum = (item: unknown, index: number, ctx: ServiceContext, namespace: string): DatapointRecord => {
  const member = `MetricData.member.${index + 1}`;
  if (!isRecord(item)) throw invalidValue(`The parameter ${member} must be a structure.`);
  const metricName = stringAt(item, 'MetricName', `${member}.MetricName`, true);
  const dimensions = readDimensions(item, member);
  const timestamp = timeAt(item, 'Timestamp', `${member}.Timestamp`) ?? ctx.clock.nowMs();
  const unit = stringAt(item, 'Unit', `${member}.Unit`) ?? 'None';
  const given = ['Value', 'StatisticValues', 'Values'].filter((key) => item[key] !== undefined && item[key] !== null);
  if (given.length > 1) {
    throw new AwsError(
      'InvalidParameterCombination',
      `The parameters ${member}.${given[0]} and ${member}.${given[1]} are mutually exclusive and you have specified both.`,
    );
  }
  const base = {
    region: ctx.region,
    namespace,
    metricName,
    dimensions,
    timestamp: new Date(timestamp).toISOString(),
    unit,
  };
  if (given[0] === 'StatisticValues') {
    const set = item.StatisticValues;
    if (!isRecord(set)) throw invalidValue(`The parameter ${member}.StatisticValues must be a structure.`);
    const read = (key: string) => {
      if (set[key] === undefined || set[key] === null) throw missing(`${member}.StatisticValues.${key}`);
      return checkValue(set[key], `${member}.StatisticValues.${key}`);
    };
    return {
      ...base,
      sampleCount: read('SampleCount'),
      sum: read('Sum'),
      minimum: read('Minimum'),
      maximum: read('Maximum'),
    };
  }
  if (given[0] === 'Values') {
    const values = listAt(item, 'Values', `${member}.Values`).map((v, i) =>
      checkValue(v, `${member}.Values.member.${i + 1}`),
    );
    const counts = listAt(item, 'Counts', `${member}.Counts`).map((c, i) =>
      checkValue(c, `${member}.Counts.member.${i + 1}`),
    );
    // Up to 150 values a metric in one request (PutMetricData API reference).
    if (values.length > 150) throw invalidValue(`The collection ${member}.Values must not have more than 150 members.`);
    if (counts.length > 0 && counts.length !== values.length) {
      throw invalidValue(`The parameters ${member}.Values and ${member}.Counts must have the same number of members.`);
    }
    const weighted = values.map((value, i) => ({ value, count: counts[i] ?? 1 }));
    const total = weighted.reduce((sum, v) => sum + v.count, 0);
    return {
      ...base,
      sampleCount: total,
      sum: weighted.reduce((sum, v) => sum + v.value * v.count, 0),
      minimum: Math.min(...values),
      maximum: Math.max(...values),
      values: weighted,
    };
  }
  if (given[0] === 'Value') {
    const value = checkValue(item.Value, `${member}.Value`);
    return { ...base, sampleCount: 1, sum: value, minimum: value, maximum: value, values: [{ value, count: 1 }] };
  }
  throw missing(`${member}.Value`);
};

/**
 * PutMetricData (API reference "PutMetricData"): up to 1,000 metrics a request; each datum gives
 * Value, Values (with Counts) or StatisticValues; `AWS/` namespaces belong to AWS services.
 * The whole request is checked before anything is stored.
 */
const putMetricData: JsonAction = (input, ctx) => {
  const namespace = stringAt(input, 'Namespace', 'Namespace', true);
  if (namespace.startsWith('AWS/')) {
    throw invalidValue(
      `The value ${namespace} for parameter Namespace is invalid: namespaces starting with AWS/ are reserved for AWS services.`,
    );
  }
  const items = listAt(input, 'MetricData', 'MetricData');
  if (items.length === 0) throw missing('MetricData');
  if (items.length > 1000) throw invalidValue('The collection MetricData must not have more than 1000 members.');
  const records = items.map((item, index) => readDatum(item, index, ctx, namespace));
  ctx.transact((tx) => {
    for (const record of records) tx.put<DatapointRecord>(CloudWatchTable.Datapoints, randomUUID(), record);
  });
  return {};
};

// ---------------------------------------------------------------- GetMetricData

const DEFAULT_MAX_DATAPOINTS = 100_800;

/**
 * What a GetMetricData call reads, gathered once for all its queries: the region's stored
 * datapoints by metric, every instance's runs, the profiles.
 */
interface Sources {
  readonly stored: ReadonlyMap<string, readonly DatapointRecord[]>;
  readonly runs: ReadonlyMap<string, InstanceRunsRecord>;
  readonly profiles: readonly MetricProfile[];
  readonly nowMs: number;
}

const sourcesOf = (ctx: ServiceContext): Sources => {
  const stored = new Map<string, DatapointRecord[]>();
  for (const record of storedIn(ctx)) {
    const key = metricKey(record);
    const list = stored.get(key);
    if (list) list.push(record);
    else stored.set(key, [record]);
  }
  return {
    stored,
    runs: new Map(instanceRuns(ctx.store).map((record) => [record.instanceId, record])),
    profiles: profilesOf(ctx),
    nowMs: ctx.clock.nowMs(),
  };
};

/** The samples of one metric (exact dimension set) in [fromMs, toMs), stored and synthesized. */
const samplesOf = (
  sources: Sources,
  identity: MetricIdentity,
  unit: string | undefined,
  fromMs: number,
  toMs: number,
): Sample[] => {
  const samples: Sample[] = (sources.stored.get(metricKey(identity)) ?? []).map((record) => ({
    t: Date.parse(record.timestamp),
    unit: record.unit,
    sampleCount: record.sampleCount,
    sum: record.sum,
    minimum: record.minimum,
    maximum: record.maximum,
    ...(record.values ? { values: record.values } : {}),
  }));
  const synthesized = synthesizedOf(identity);
  const runs = synthesized ? sources.runs.get(synthesized.instanceId) : undefined;
  if (synthesized && runs) {
    samples.push(...synthesizedSamples(synthesized.metric, runs, sources.profiles, fromMs, toMs, sources.nowMs));
  }
  // With a Unit, only data sent with that unit answers (MetricStat: "CloudWatch does not perform unit conversions").
  return unit === undefined ? samples : samples.filter((s) => s.unit === unit);
};

interface ParsedQuery {
  readonly id: string;
  readonly label: string;
  readonly returnData: boolean;
  readonly identity: MetricIdentity;
  readonly period: number;
  readonly stat: ReturnType<typeof parseStatistic>;
  readonly unit?: string;
}

const readQuery = (item: unknown, index: number): ParsedQuery => {
  const member = `MetricDataQueries.member.${index + 1}`;
  if (!isRecord(item)) throw validationError(`The parameter ${member} must be a structure.`);
  const id = stringAt(item, 'Id', `${member}.Id`, true);
  // Id: a lowercase letter first, then letters, digits and underscores (MetricDataQuery).
  if (!/^[a-z][a-zA-Z0-9_]{0,254}$/.test(id)) {
    throw validationError(
      `The value ${id} for parameter ${member}.Id is invalid: start with a lowercase letter, then letters, digits or _.`,
    );
  }
  const expression = stringAt(item, 'Expression', `${member}.Expression`);
  const stat = item.MetricStat;
  if (expression !== undefined && stat !== undefined && stat !== null) {
    throw validationError(`${member} specifies both MetricStat and Expression: give exactly one.`);
  }
  if (expression !== undefined) {
    throw validationError(
      `The sandbox does not evaluate metric math or Metrics Insights (${member}.Expression '${expression}' of query ${id}): use MetricStat queries.`,
    );
  }
  if (!isRecord(stat)) throw validationError(`${member} must specify MetricStat or Expression.`);
  const metric = stat.Metric;
  if (!isRecord(metric)) throw missing(`${member}.MetricStat.Metric`);
  const identity: MetricIdentity = {
    namespace: stringAt(metric, 'Namespace', `${member}.MetricStat.Metric.Namespace`, true),
    metricName: stringAt(metric, 'MetricName', `${member}.MetricStat.Metric.MetricName`, true),
    dimensions: readDimensions(metric, `${member}.MetricStat.Metric`),
  };
  const period = stat.Period;
  if (period === undefined || period === null) throw missing(`${member}.MetricStat.Period`);
  if (typeof period !== 'number')
    throw validationError(`The parameter ${member}.MetricStat.Period must be an integer.`);
  checkPeriod(period, `${member}.MetricStat.Period`);
  const statistic = parseStatistic(
    stringAt(stat, 'Stat', `${member}.MetricStat.Stat`, true),
    `${member}.MetricStat.Stat`,
  );
  const unit = stringAt(stat, 'Unit', `${member}.MetricStat.Unit`);
  const returnData = item.ReturnData === undefined || item.ReturnData === null ? true : item.ReturnData === true;
  return {
    id,
    // Without a Label, CloudWatch generates one; for a metric it is the metric's name.
    label: stringAt(item, 'Label', `${member}.Label`) ?? identity.metricName,
    returnData,
    identity,
    period,
    stat: statistic,
    ...(unit === undefined ? {} : { unit }),
  };
};

/**
 * GetMetricData (API reference "GetMetricData"): up to 500 queries, each a MetricStat; StartTime
 * inclusive (rounded down), EndTime exclusive; ScanBy, MaxDatapoints and NextToken as
 * metric-data.ts describes.
 */
const getMetricData: JsonAction = (input, ctx) => {
  const items = listAt(input, 'MetricDataQueries', 'MetricDataQueries');
  if (input.MetricDataQueries === undefined) throw missing('MetricDataQueries');
  if (items.length > 500) {
    throw validationError('The collection MetricDataQueries must not have more than 500 members.');
  }
  const start = timeAt(input, 'StartTime', 'StartTime');
  const end = timeAt(input, 'EndTime', 'EndTime');
  if (start === undefined) throw missing('StartTime');
  if (end === undefined) throw missing('EndTime');
  if (start >= end) throw validationError('The parameter StartTime must be less than the parameter EndTime.');
  const scanBy = stringAt(input, 'ScanBy', 'ScanBy') ?? 'TimestampDescending';
  if (scanBy !== 'TimestampDescending' && scanBy !== 'TimestampAscending') {
    throw validationError(
      `The value ${scanBy} for parameter ScanBy is invalid: TimestampDescending or TimestampAscending.`,
    );
  }
  const max = input.MaxDatapoints ?? DEFAULT_MAX_DATAPOINTS;
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 1) {
    throw validationError('The parameter MaxDatapoints must be a positive integer.');
  }
  const queries = items.map(readQuery);
  const ids = new Set<string>();
  for (const query of queries) {
    if (ids.has(query.id))
      throw validationError(`The Id ${query.id} is used by more than one query: Ids must be unique.`);
    ids.add(query.id);
  }
  const returned = queries.filter((q) => q.returnData);
  const token = stringAt(input, 'NextToken', 'NextToken');
  const offsets = token === undefined ? returned.map(() => 0) : decodeDataToken(token, returned.length);
  if (offsets === undefined)
    throw new AwsError(
      'InvalidNextToken',
      "The service couldn't process the NextToken: it is not one this request issued.",
    );
  const sources = sourcesOf(ctx);
  const series: Series[] = returned.map((query) => {
    const from = alignedStart(start, query.period);
    return periodSeries(samplesOf(sources, query.identity, query.unit, from, end), query.stat, from, end, query.period);
  });
  const page = pageSeries(series, scanBy, max, offsets);
  return {
    MetricDataResults: returned.map((query, index) => {
      const result = page.results[index] as (typeof page.results)[number];
      return {
        Id: query.id,
        Label: query.label,
        Timestamps: result.timestamps.map((t) => t / 1000),
        Values: result.values,
        StatusCode: result.status,
        Messages: [],
      };
    }),
    ...(page.nextToken === undefined ? {} : { NextToken: page.nextToken }),
    Messages: [],
  };
};

// ---------------------------------------------------------------- ListMetrics

/** ListMetrics answers up to 500 metrics a call (API reference "ListMetrics"). */
const LIST_PAGE = 500;
/** ListMetrics leaves out metrics without data in the past two weeks; RecentlyActive PT3H, three hours. */
const TWO_WEEKS_MS = 14 * 24 * 3600 * 1000;
const THREE_HOURS_MS = 3 * 3600 * 1000;

interface Listed {
  readonly identity: MetricIdentity;
  /** Epoch ms of its newest datapoint. */
  readonly latest: number;
}

const allMetrics = (ctx: ServiceContext): Listed[] => {
  const found = new Map<string, Listed>();
  const note = (identity: MetricIdentity, t: number) => {
    const key = metricKey(identity);
    const seen = found.get(key);
    if (!seen || seen.latest < t) found.set(key, { identity, latest: t });
  };
  for (const record of storedIn(ctx)) note(record, Date.parse(record.timestamp));
  const now = ctx.clock.nowMs();
  for (const runs of instanceRuns(ctx.store)) {
    const minutes = runningMinutes(runs.runs, 0, now, now);
    const latest = minutes[minutes.length - 1];
    if (latest === undefined) continue;
    for (const metric of SYNTHESIZED_METRICS) note(synthesizedIdentity(metric, runs.instanceId), latest);
  }
  return [...found.values()].filter((m) => m.latest >= now - TWO_WEEKS_MS);
};

const listMetrics: JsonAction = (input, ctx) => {
  const namespace = stringAt(input, 'Namespace', 'Namespace');
  const metricName = stringAt(input, 'MetricName', 'MetricName');
  const filters = listAt(input, 'Dimensions', 'Dimensions').map((item, index) => {
    const at = `Dimensions.member.${index + 1}`;
    if (!isRecord(item)) throw invalidValue(`The parameter ${at} must be a structure.`);
    return { name: stringAt(item, 'Name', `${at}.Name`, true), value: stringAt(item, 'Value', `${at}.Value`) };
  });
  if (filters.length > 10) throw invalidValue('The collection Dimensions must not have more than 10 members.');
  const recently = stringAt(input, 'RecentlyActive', 'RecentlyActive');
  if (recently !== undefined && recently !== 'PT3H') {
    throw invalidValue(`The value ${recently} for parameter RecentlyActive is invalid: PT3H is the only valid value.`);
  }
  const now = ctx.clock.nowMs();
  const matching = allMetrics(ctx)
    .filter(({ identity, latest }) => {
      if (namespace !== undefined && identity.namespace !== namespace) return false;
      if (metricName !== undefined && identity.metricName !== metricName) return false;
      if (recently !== undefined && latest < now - THREE_HOURS_MS) return false;
      return filters.every((f) =>
        identity.dimensions.some((d) => d.name === f.name && (f.value === undefined || d.value === f.value)),
      );
    })
    .map((m) => m.identity)
    .sort((a, b) => (metricKey(a) < metricKey(b) ? -1 : metricKey(a) > metricKey(b) ? 1 : 0));
  const token = stringAt(input, 'NextToken', 'NextToken');
  const offset = token === undefined ? 0 : decodeOffsetToken(token);
  if (offset === undefined) throw new AwsError('InvalidNextToken', "The service couldn't process the NextToken.");
  const slice = matching.slice(offset, offset + LIST_PAGE);
  return {
    Metrics: slice.map(render),
    ...(offset + LIST_PAGE < matching.length ? { NextToken: encodeOffsetToken(offset + LIST_PAGE) } : {}),
  };
};

export const cloudWatch: JsonService = {
  protocol: 'json',
  jsonVersion: '1.0',
  signingName: 'monitoring',
  iamPrefix: 'cloudwatch',
  targetPrefix: 'GraniteServiceVersion20100801',
  awsQueryCompatible: CLOUDWATCH_QUERY_ERRORS,
  actions: {
    PutMetricData: putMetricData,
    GetMetricData: getMetricData,
    ListMetrics: listMetrics,
  },
  unsignedRoutes: profileRoutes,
};
