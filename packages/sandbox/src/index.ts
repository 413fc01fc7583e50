/**
 * @bakehouse/sandbox: a local endpoint that speaks the AWS wire protocols, for development and
 * tests. Reach it over the wire with any AWS client (`AWS_ENDPOINT_URL`); what is exported here
 * is for starting it in a process, provisioning it from a cloud assembly, and extending it with
 * stand-in services in tests.
 */

export { type CatalogAction, type IamCatalog, loadCatalog } from './authz/catalog';
export {
  iamReport,
  type LeastPrivilegeReport,
  leastPrivilegeReport,
  type RoleReport,
  summarizeReport,
  type UnusedGrant,
} from './authz/report';
export type { Denial, RoleUsage } from './authz/usage';
export { AwsError } from './errors';
export { type ContextKeys, evaluate, mayAssume, type PolicyDocument, type PolicyStatement } from './iam';
export {
  type AssemblyStack,
  type CfnTemplate,
  type ProvisionReport,
  provisionFromAssembly,
  readAssemblyStack,
  summarizeProvisioning,
} from './provision';
export type { EventualConsistency, ServiceEvent } from './runtime';
export { DEFAULT_ACCOUNT, DEFAULT_SPEED, type Sandbox, type SandboxOptions, startSandbox } from './server';
export type { JsonService, QueryService, RestJsonService, SandboxService, ServiceContext } from './service';
export type { HiddenAnswer } from './services/ec2/consistency';
export { matchesPattern, validatePattern } from './services/events/pattern';
export { type Expression, firstOccurrence, latestOccurrence, parseExpression } from './services/scheduler/expressions';
