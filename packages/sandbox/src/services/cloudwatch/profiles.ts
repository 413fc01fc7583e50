/**
 * `/_sandbox/metrics/profiles` (control, not AWS): a profile `{"imageId":"ami-…","metric":
 * "Latency","factor":1.5}` makes every instance of that image report the metric multiplied (a
 * regression to find); `GET` lists profiles, `DELETE` clears them. A second profile for the same
 * image and metric replaces the first. Profiles are kept in the store, so they survive a restart.
 *
 * The body is checked whole before anything changes: a refused request names the field and what
 * it takes, and changes nothing.
 */
import { isNumber, isRecord, unknownField } from '../../input';
import type { HttpReply, HttpRoute, ServiceContext } from '../../service';
import { CloudWatchTable, type MetricProfile, profileKey } from './model';
import { SYNTHESIZED_METRICS } from './synth';

const PATH = /^\/_sandbox\/metrics\/profiles\/?$/;
const FIELDS = ['imageId', 'metric', 'factor'] as const;
/** A factor beyond this is a typo, not a regression. */
const MAX_FACTOR = 1000;

const list = (ctx: ServiceContext): MetricProfile[] =>
  [...ctx.store.table<MetricProfile>(CloudWatchTable.Profiles).values()].sort((a, b) =>
    profileKey(a.imageId, a.metric) < profileKey(b.imageId, b.metric) ? -1 : 1,
  );

const problem = (message: string): HttpReply => ({ status: 400, body: { error: message } });

/** The profile the body describes, or the message that says which field is wrong and how to fix it. */
export const parseProfile = (body: string): MetricProfile | string => {
  let value: unknown;
  try {
    value = body.trim() === '' ? undefined : JSON.parse(body);
  } catch {
    return 'body must be a JSON object, e.g. {"imageId":"ami-0123456789abcdef0","metric":"Latency","factor":1.5}';
  }
  if (!isRecord(value)) {
    return 'body must be a JSON object, e.g. {"imageId":"ami-0123456789abcdef0","metric":"Latency","factor":1.5}';
  }
  const unknown = unknownField(value, FIELDS);
  if (unknown !== undefined) return `unknown field ${unknown}: a profile takes ${FIELDS.join(', ')}`;
  const { imageId, metric, factor } = value;
  if (typeof imageId !== 'string' || !/^ami-[0-9a-f]{8,17}$/.test(imageId)) {
    return 'imageId must be an AMI id such as ami-0123456789abcdef0 (the image whose instances report the changed metric)';
  }
  const names = SYNTHESIZED_METRICS.map((m) => m.metricName);
  if (typeof metric !== 'string' || !names.includes(metric)) {
    return `metric must be the MetricName of a metric sandbox instances report: ${names.join(', ')}`;
  }
  if (!isNumber(factor) || factor <= 0 || factor > MAX_FACTOR) {
    return `factor must be a number greater than 0 and at most ${MAX_FACTOR} (1.5 reports the metric 50 % higher, 1 as usual)`;
  }
  return { imageId, metric, factor };
};

export const profileRoutes: readonly HttpRoute[] = [
  {
    method: 'GET',
    path: PATH,
    action: 'ListMetricProfiles',
    handle: (_request, ctx) => ({ body: { profiles: list(ctx) } }),
  },
  {
    method: 'POST',
    path: PATH,
    action: 'PutMetricProfile',
    handle: (request, ctx) => {
      const profile = parseProfile(request.body);
      if (typeof profile === 'string') return problem(profile);
      ctx.transact((tx) =>
        tx.put<MetricProfile>(CloudWatchTable.Profiles, profileKey(profile.imageId, profile.metric), profile),
      );
      return { body: { profiles: list(ctx) } };
    },
  },
  {
    method: 'DELETE',
    path: PATH,
    action: 'ClearMetricProfiles',
    handle: (_request, ctx) => {
      const keys = [...ctx.store.table(CloudWatchTable.Profiles).keys()];
      if (keys.length > 0) {
        ctx.transact((tx) => {
          for (const key of keys) tx.delete(CloudWatchTable.Profiles, key);
        });
      }
      return { body: { profiles: [] } };
    },
  },
];
