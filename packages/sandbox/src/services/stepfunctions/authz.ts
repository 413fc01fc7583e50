/**
 * Which resources and condition keys each Step Functions action authorizes (Service Authorization
 * Reference, "Actions, resources, and condition keys for AWS Step Functions"). Actions not listed
 * are authorized as states:Action on *: ListStateMachines, and SendTaskSuccess, SendTaskFailure and
 * SendTaskHeartbeat, which the reference gives no resource types (a statement naming a state
 * machine's ARN does not grant them; only `*` does).
 *
 * State machines are `stateMachine:NAME`, executions `execution:MACHINE:NAME`, as the request names
 * them. Creating or updating a state machine with a role passes it to `states.amazonaws.com`
 * (Step Functions Developer Guide, "IAM permissions to pass roles").
 */
import type { AuthzCheck } from '../../authz/authorizer';
import type { AuthzMapper } from '../../service';
import { machineArn } from './model';

type Input = Record<string, unknown>;

const text = (input: Input, member: string): string | undefined => {
  const value = input[member];
  return typeof value === 'string' ? value : undefined;
};

const passRole = (roleArn: string): AuthzCheck => ({
  action: 'iam:PassRole',
  resource: roleArn,
  context: { 'iam:PassedToService': 'states.amazonaws.com' },
});

const on =
  (action: string, member: string): AuthzMapper<Input> =>
  (input) => [{ action, resource: text(input, member) ?? '' }];

/** `aws:RequestTag/KEY` and `aws:TagKeys` from Step Functions' `tags: [{key, value}]`. */
const requestTags = (input: Input): Record<string, string | string[]> => {
  const tags = (Array.isArray(input.tags) ? (input.tags as unknown[]) : []).filter(
    (tag): tag is Input => !!tag && typeof tag === 'object' && typeof (tag as Input).key === 'string',
  );
  const context: Record<string, string | string[]> = {};
  for (const tag of tags) context[`aws:RequestTag/${tag.key as string}`] = text(tag, 'value') ?? '';
  if (tags.length > 0) context['aws:TagKeys'] = tags.map((tag) => tag.key as string);
  return context;
};

const createStateMachine: AuthzMapper<Input> = (input, ctx) => {
  const context = requestTags(input);
  const resource = machineArn(ctx, text(input, 'name') ?? '');
  const checks: AuthzCheck[] = [
    Object.keys(context).length > 0
      ? { action: 'states:CreateStateMachine', resource, context }
      : { action: 'states:CreateStateMachine', resource },
  ];
  const role = text(input, 'roleArn');
  if (role !== undefined) checks.push(passRole(role));
  return checks;
};

const updateStateMachine: AuthzMapper<Input> = (input) => {
  const checks: AuthzCheck[] = [
    { action: 'states:UpdateStateMachine', resource: text(input, 'stateMachineArn') ?? '' },
  ];
  const role = text(input, 'roleArn');
  if (role !== undefined) checks.push(passRole(role));
  return checks;
};

export const statesAuthz: Readonly<Record<string, AuthzMapper<Input>>> = {
  CreateStateMachine: createStateMachine,
  UpdateStateMachine: updateStateMachine,
  DescribeStateMachine: on('states:DescribeStateMachine', 'stateMachineArn'),
  DeleteStateMachine: on('states:DeleteStateMachine', 'stateMachineArn'),
  StartExecution: on('states:StartExecution', 'stateMachineArn'),
  ListExecutions: on('states:ListExecutions', 'stateMachineArn'),
  DescribeExecution: on('states:DescribeExecution', 'executionArn'),
  GetExecutionHistory: on('states:GetExecutionHistory', 'executionArn'),
  StopExecution: on('states:StopExecution', 'executionArn'),
};
