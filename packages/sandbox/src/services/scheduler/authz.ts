/**
 * Which resources and condition keys each EventBridge Scheduler operation authorizes (Service
 * Authorization Reference, "Actions, resources, and condition keys for Amazon EventBridge
 * Scheduler"), keyed by route action. Operations not listed are authorized as scheduler:Operation
 * on * (ListSchedules, ListScheduleGroups: no resource types).
 *
 * Schedules are `schedule/GROUP/NAME` (the group `default` when the request names none) and groups
 * `schedule-group/NAME`, in the caller's account. Creating or updating a schedule passes its
 * target's role to `scheduler.amazonaws.com` (`iam:PassRole`, EventBridge Scheduler User Guide,
 * "Setting up an execution role").
 */
import { type AuthzCheck, passRole } from '../../authz/authorizer';
import type { AuthzMapper, HttpRequest, ServiceContext } from '../../service';

type Json = Record<string, unknown>;

const DEFAULT_GROUP = 'default';

const bodyOf = (request: HttpRequest): Json => {
  try {
    const parsed: unknown = JSON.parse(request.body || '{}');
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Json) : {};
  } catch {
    // A malformed body is the operation's SerializationException, after authorization.
    return {};
  }
};

const account = (ctx: ServiceContext): string => ctx.caller.principal.account;

const scheduleArn = (ctx: ServiceContext, group: string, name: string): string =>
  `arn:aws:scheduler:${ctx.region}:${account(ctx)}:schedule/${group}/${name}`;

const groupArn = (ctx: ServiceContext, name: string): string =>
  `arn:aws:scheduler:${ctx.region}:${account(ctx)}:schedule-group/${name}`;

/** CreateSchedule / UpdateSchedule: the schedule (group from the body), and the target's role passed. */
const writeSchedule =
  (action: string): AuthzMapper<HttpRequest> =>
  (request, ctx) => {
    const body = bodyOf(request);
    const group = typeof body.GroupName === 'string' ? body.GroupName : DEFAULT_GROUP;
    const checks: AuthzCheck[] = [{ action, resource: scheduleArn(ctx, group, request.params.name ?? '') }];
    const target = body.Target;
    if (target && typeof target === 'object') {
      const role = (target as Json).RoleArn;
      if (typeof role === 'string') checks.push(passRole(role, 'scheduler.amazonaws.com'));
    }
    return checks;
  };

/** GetSchedule / DeleteSchedule: the group is the `groupName` query parameter. */
const onSchedule =
  (action: string): AuthzMapper<HttpRequest> =>
  (request, ctx) => [
    {
      action,
      resource: scheduleArn(ctx, request.query.get('groupName') ?? DEFAULT_GROUP, request.params.name ?? ''),
    },
  ];

const onGroup =
  (action: string): AuthzMapper<HttpRequest> =>
  (request, ctx) => [{ action, resource: groupArn(ctx, request.params.name ?? '') }];

/** CreateScheduleGroup with `Tags: [{Key, Value}]` sets `aws:RequestTag/KEY` and `aws:TagKeys`. */
const createScheduleGroup: AuthzMapper<HttpRequest> = (request, ctx) => {
  const body = bodyOf(request);
  const tags = (Array.isArray(body.Tags) ? (body.Tags as unknown[]) : []).filter(
    (tag): tag is Json => !!tag && typeof tag === 'object' && typeof (tag as Json).Key === 'string',
  );
  const resource = groupArn(ctx, request.params.name ?? '');
  if (tags.length === 0) return [{ action: 'scheduler:CreateScheduleGroup', resource }];
  const context: Record<string, string | string[]> = { 'aws:TagKeys': tags.map((tag) => tag.Key as string) };
  for (const tag of tags) context[`aws:RequestTag/${tag.Key as string}`] = String(tag.Value ?? '');
  return [{ action: 'scheduler:CreateScheduleGroup', resource, context }];
};

export const schedulerAuthz: Readonly<Record<string, AuthzMapper<HttpRequest>>> = {
  CreateSchedule: writeSchedule('scheduler:CreateSchedule'),
  UpdateSchedule: writeSchedule('scheduler:UpdateSchedule'),
  GetSchedule: onSchedule('scheduler:GetSchedule'),
  DeleteSchedule: onSchedule('scheduler:DeleteSchedule'),
  CreateScheduleGroup: createScheduleGroup,
  GetScheduleGroup: onGroup('scheduler:GetScheduleGroup'),
  DeleteScheduleGroup: onGroup('scheduler:DeleteScheduleGroup'),
};
