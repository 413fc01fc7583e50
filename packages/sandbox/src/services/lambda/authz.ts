/**
 * Which resources and condition keys each Lambda operation authorizes (Service Authorization
 * Reference, "Actions, resources, and condition keys for AWS Lambda"), keyed by route action.
 * Operations not listed are authorized as lambda:Operation on * (ListFunctions).
 *
 * - The route `Invoke` is the IAM action `lambda:InvokeFunction`.
 * - The function is named by name, ARN or partial ARN, with a version or alias after a colon or
 *   in `?Qualifier=`; the resource is the function's ARN, qualified when a qualifier is given
 *   (Lambda Developer Guide, "Fine-tuning the Resources and Conditions sections of policies":
 *   function actions can be restricted by function, version or alias ARN).
 * - InvokeFunction is also decided by the function's resource-based policy (its permissions), which
 *   can allow a caller of the same account on its own.
 * - A role given to CreateFunction or UpdateFunctionConfiguration is passed to
 *   `lambda.amazonaws.com` (`iam:PassRole`, Lambda Developer Guide, "Lambda execution role").
 */
import { type AuthzCheck, passRole } from '../../authz/authorizer';
import type { PolicyDocument } from '../../iam';
import type { AuthzMapper, HttpRequest, ServiceContext } from '../../service';
import { FUNCTIONS_TABLE, type FunctionRecord, recordKey } from './model';

type Json = Record<string, unknown>;

const bodyOf = (request: HttpRequest): Json => {
  try {
    const parsed: unknown = JSON.parse(request.body || '{}');
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Json) : {};
  } catch {
    // A malformed body is the operation's own error to report, after authorization.
    return {};
  }
};

const text = (input: Json, member: string): string | undefined => {
  const value = input[member];
  return typeof value === 'string' ? value : undefined;
};

interface FunctionRef {
  readonly region: string;
  readonly account: string;
  readonly name: string;
  readonly qualifier?: string;
}

const FULL_ARN = /^arn:aws[a-zA-Z-]*:lambda:([a-z0-9-]+):(\d{12}):function:([^:]+)(?::([^:]+))?$/;
const PARTIAL_ARN = /^(\d{12}):function:([^:]+)(?::([^:]+))?$/;

/** The function a reference names, in the request's region and the sandbox account unless it says otherwise. */
const functionRef = (ctx: ServiceContext, reference: string, qualifier: string | undefined): FunctionRef => {
  const full = FULL_ARN.exec(reference);
  const partial = PARTIAL_ARN.exec(reference);
  const [region, account, name, embedded] = full
    ? [full[1] as string, full[2] as string, full[3] as string, full[4]]
    : partial
      ? [ctx.region, partial[1] as string, partial[2] as string, partial[3]]
      : [ctx.region, ctx.account, ...(reference.split(':', 2) as [string, string | undefined])];
  const chosen = qualifier ?? embedded;
  return { region, account, name, ...(chosen ? { qualifier: chosen } : {}) };
};

const arnOf = (ref: FunctionRef): string =>
  `arn:aws:lambda:${ref.region}:${ref.account}:function:${ref.name}${ref.qualifier ? `:${ref.qualifier}` : ''}`;

const pathFunction = (request: HttpRequest, ctx: ServiceContext): FunctionRef =>
  functionRef(ctx, request.params.FunctionName ?? '', request.query.get('Qualifier') ?? undefined);

const onFunction =
  (action: string): AuthzMapper<HttpRequest> =>
  (request, ctx) => [{ action, resource: arnOf(pathFunction(request, ctx)) }];

/** The function's permissions as one policy document, remembered per stored statement list. */
const permissionPolicies = new WeakMap<FunctionRecord['policy'], PolicyDocument>();
const permissionsOf = (ctx: ServiceContext, ref: FunctionRef): PolicyDocument | undefined => {
  if (ref.region !== ctx.region || ref.account !== ctx.account) return undefined;
  const record = ctx.store.get<FunctionRecord>(FUNCTIONS_TABLE, recordKey(ctx, ref.name));
  if (!record || record.policy.length === 0) return undefined;
  let document = permissionPolicies.get(record.policy);
  if (!document) {
    document = { Version: '2012-10-17', Statement: record.policy as unknown as PolicyDocument['Statement'] };
    permissionPolicies.set(record.policy, document);
  }
  return document;
};

const invoke: AuthzMapper<HttpRequest> = (request, ctx) => {
  const ref = pathFunction(request, ctx);
  const policy = permissionsOf(ctx, ref);
  return [{ action: 'lambda:InvokeFunction', resource: arnOf(ref), ...(policy ? { resourcePolicy: policy } : {}) }];
};

const createFunction: AuthzMapper<HttpRequest> = (request, ctx) => {
  const body = bodyOf(request);
  const tags = body.Tags && typeof body.Tags === 'object' ? Object.entries(body.Tags as Json) : [];
  const context: Record<string, string | string[]> = {};
  for (const [key, value] of tags) context[`aws:RequestTag/${key}`] = String(value);
  if (tags.length > 0) context['aws:TagKeys'] = tags.map(([key]) => key);
  const resource = arnOf(functionRef(ctx, text(body, 'FunctionName') ?? '', undefined));
  const checks: AuthzCheck[] = [
    Object.keys(context).length > 0
      ? { action: 'lambda:CreateFunction', resource, context }
      : { action: 'lambda:CreateFunction', resource },
  ];
  const role = text(body, 'Role');
  if (role !== undefined) checks.push(passRole(role, 'lambda.amazonaws.com'));
  return checks;
};

const updateFunctionConfiguration: AuthzMapper<HttpRequest> = (request, ctx) => {
  const checks: AuthzCheck[] = [
    { action: 'lambda:UpdateFunctionConfiguration', resource: arnOf(pathFunction(request, ctx)) },
  ];
  const role = text(bodyOf(request), 'Role');
  if (role !== undefined) checks.push(passRole(role, 'lambda.amazonaws.com'));
  return checks;
};

/** AddPermission sets `lambda:Principal` to the principal being granted. */
const addPermission: AuthzMapper<HttpRequest> = (request, ctx) => {
  const principal = text(bodyOf(request), 'Principal');
  const resource = arnOf(pathFunction(request, ctx));
  return [
    principal === undefined
      ? { action: 'lambda:AddPermission', resource }
      : { action: 'lambda:AddPermission', resource, context: { 'lambda:Principal': principal } },
  ];
};

export const lambdaAuthz: Readonly<Record<string, AuthzMapper<HttpRequest>>> = {
  CreateFunction: createFunction,
  GetFunction: onFunction('lambda:GetFunction'),
  DeleteFunction: onFunction('lambda:DeleteFunction'),
  GetFunctionConfiguration: onFunction('lambda:GetFunctionConfiguration'),
  UpdateFunctionConfiguration: updateFunctionConfiguration,
  UpdateFunctionCode: onFunction('lambda:UpdateFunctionCode'),
  Invoke: invoke,
  AddPermission: addPermission,
  GetPolicy: onFunction('lambda:GetPolicy'),
  RemovePermission: onFunction('lambda:RemovePermission'),
  PutFunctionEventInvokeConfig: onFunction('lambda:PutFunctionEventInvokeConfig'),
  UpdateFunctionEventInvokeConfig: onFunction('lambda:UpdateFunctionEventInvokeConfig'),
  GetFunctionEventInvokeConfig: onFunction('lambda:GetFunctionEventInvokeConfig'),
  DeleteFunctionEventInvokeConfig: onFunction('lambda:DeleteFunctionEventInvokeConfig'),
};
