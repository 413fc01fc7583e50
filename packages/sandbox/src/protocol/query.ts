/**
 * The AWS query protocol: form-encoded requests (`Action=DescribeImages&ImageId.1=ami-…`) and
 * XML responses. EC2 flavours it with `item` list entries, lowerCamel names and
 * `<Response><Errors>` errors; Auto Scaling and STS (awsquery) use `member` entries, a
 * `<Action>Result>` wrapper and `<ErrorResponse>`.
 *
 * The XML writer is hand-written on purpose: it is a few lines, and the list-wrapping rules
 * above are specific to these protocols (a generic XML builder would need the same mapping).
 */
import { AwsError, invalidParameterValue, missingParameter } from '../errors';

/** The decoded form: every key as sent (`Filter.1.Value.2`), with its value. */
export type QueryParams = ReadonlyMap<string, string>;

export const parseForm = (body: string): QueryParams => new Map(new URLSearchParams(body));

export const optionalString = (params: QueryParams, key: string): string | undefined => params.get(key);

export const requireString = (params: QueryParams, key: string): string => {
  const value = params.get(key);
  if (value === undefined || value === '') throw missingParameter(key);
  return value;
};

export const optionalInt = (params: QueryParams, key: string): number | undefined => {
  const value = params.get(key);
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value))
    throw invalidParameterValue(`Invalid value '${value}' for ${key}. It must be an integer.`);
  return Number(value);
};

export const optionalBool = (params: QueryParams, key: string): boolean | undefined => {
  const value = params.get(key);
  if (value === undefined) return undefined;
  if (value !== 'true' && value !== 'false') {
    throw invalidParameterValue(`Invalid value '${value}' for ${key}. It must be true or false.`);
  }
  return value === 'true';
};

/** Values of `prefix.1`, `prefix.2`, … in index order (EC2 lists). */
export const indexedList = (params: QueryParams, prefix: string): string[] => {
  const found: [number, string][] = [];
  const pattern = new RegExp(`^${escapeRegExp(prefix)}\\.(\\d+)$`);
  for (const [key, value] of params) {
    const match = pattern.exec(key);
    if (match) found.push([Number(match[1]), value]);
  }
  return found.sort((a, b) => a[0] - b[0]).map(([, value]) => value);
};

/** Values of `prefix.member.1`, … (awsquery lists). */
export const memberList = (params: QueryParams, prefix: string): string[] => indexedList(params, `${prefix}.member`);

/**
 * Structures under `prefix.N.`: each becomes its own QueryParams with the prefix removed, so
 * `BlockDeviceMapping.1.Ebs.VolumeSize` is `Ebs.VolumeSize` in the first structure.
 */
export const indexedStructs = (params: QueryParams, prefix: string): QueryParams[] => {
  const byIndex = new Map<number, Map<string, string>>();
  const pattern = new RegExp(`^${escapeRegExp(prefix)}\\.(\\d+)\\.(.+)$`);
  for (const [key, value] of params) {
    const match = pattern.exec(key);
    if (!match) continue;
    const index = Number(match[1]);
    let struct = byIndex.get(index);
    if (!struct) {
      struct = new Map();
      byIndex.set(index, struct);
    }
    struct.set(match[2] as string, value);
  }
  return [...byIndex.entries()].sort((a, b) => a[0] - b[0]).map(([, struct]) => struct);
};

/** Keys under `prefix.` with the prefix removed (a nested structure). */
export const substruct = (params: QueryParams, prefix: string): QueryParams => {
  const out = new Map<string, string>();
  for (const [key, value] of params) if (key.startsWith(`${prefix}.`)) out.set(key.slice(prefix.length + 1), value);
  return out;
};

export interface Filter {
  readonly name: string;
  readonly values: readonly string[];
}

/** EC2 `Filter.N.Name` / `Filter.N.Value.M`. */
export const filters = (params: QueryParams, prefix = 'Filter'): Filter[] =>
  indexedStructs(params, prefix).map((struct) => {
    const name = struct.get('Name');
    if (!name) throw missingParameter(`${prefix}.N.Name`);
    return { name, values: indexedList(struct, 'Value') };
  });

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// ---------------------------------------------------------------- XML

/** A response body: nested objects; arrays become lists; undefined and null are left out. */
export type XmlValue = string | number | boolean | Date | null | undefined | XmlValue[] | { [key: string]: XmlValue };

const escapeXml = (text: string): string =>
  text.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] as string,
  );

const scalar = (value: string | number | boolean | Date): string =>
  value instanceof Date ? value.toISOString() : escapeXml(String(value));

export const renderXml = (name: string, value: XmlValue, listEntry: 'item' | 'member'): string => {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value)) {
    return `<${name}>${value.map((entry) => renderXml(listEntry, entry, listEntry)).join('')}</${name}>`;
  }
  if (typeof value === 'object' && !(value instanceof Date)) {
    const inner = Object.entries(value)
      .map(([key, child]) => renderXml(key, child, listEntry))
      .join('');
    return `<${name}>${inner}</${name}>`;
  }
  return `<${name}>${scalar(value)}</${name}>`;
};

const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n';

/** The top-level fields of a response body, in order. */
const renderFields = (body: Record<string, XmlValue>, listEntry: 'item' | 'member'): string =>
  Object.entries(body)
    .map(([key, value]) => renderXml(key, value, listEntry))
    .join('');

/** EC2: `<ActionResponse xmlns><requestId/>…body…</ActionResponse>`. */
export const ec2Response = (
  action: string,
  namespace: string,
  requestId: string,
  body: Record<string, XmlValue>,
): string =>
  `${XML_DECLARATION}<${action}Response xmlns="${namespace}"><requestId>${requestId}</requestId>${renderFields(body, 'item')}</${action}Response>`;

export const ec2Error = (error: AwsError, requestId: string): string =>
  `${XML_DECLARATION}<Response><Errors><Error><Code>${escapeXml(error.code)}</Code><Message>${escapeXml(error.message)}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`;

/** awsquery: `<ActionResponse xmlns><ActionResult>…</ActionResult><ResponseMetadata/></ActionResponse>`. */
export const awsQueryResponse = (
  action: string,
  namespace: string,
  requestId: string,
  body: Record<string, XmlValue>,
): string =>
  `${XML_DECLARATION}<${action}Response xmlns="${namespace}"><${action}Result>${renderFields(body, 'member')}</${action}Result><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`;

export const awsQueryError = (error: AwsError, namespace: string, requestId: string): string =>
  `${XML_DECLARATION}<ErrorResponse xmlns="${namespace}"><Error><Type>${error.type}</Type><Code>${escapeXml(error.code)}</Code><Message>${escapeXml(error.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`;

/** awsquery services (Auto Scaling, IAM, STS) answer an invalid member with `ValidationError`. */
export const validationError = (message: string): AwsError => new AwsError('ValidationError', message);

export { AwsError };
