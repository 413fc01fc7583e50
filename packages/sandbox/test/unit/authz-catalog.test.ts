/**
 * The Service Authorization Reference as the sandbox reads it: which required resource types a set
 * of checks leaves out (a mapper that authorizes less than AWS), recorded as a sandbox gap.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { Authorizer, DENIAL_STYLES } from '../../src/authz/authorizer';
import { type IamCatalog, loadCatalog } from '../../src/authz/catalog';
import type { Caller } from '../../src/authz/identity';
import { Store } from '../../src/store';

let catalog: IamCatalog;
beforeAll(async () => {
  catalog = await loadCatalog();
});

const ACCOUNT = '000000000000';

describe('required resource types', () => {
  it('names the required types no resource is of', () => {
    // Act
    const missing = catalog.missingRequiredTypes('ec2:CreateImage', [
      `arn:aws:ec2:us-east-1:${ACCOUNT}:instance/i-0123`,
      'arn:aws:ec2:us-east-1::image/*',
    ]);

    // Assess
    expect(missing).toEqual(['snapshot']);
  });

  it('asks nothing of wildcard-only actions and is satisfied when every required type is named', () => {
    // Assess
    expect(catalog.missingRequiredTypes('ec2:DescribeImages', ['*'])).toEqual([]);
    expect(
      catalog.missingRequiredTypes('ssm:StartAutomationExecution', [
        `arn:aws:ssm:us-east-1:${ACCOUNT}:document/bake`,
        `arn:aws:ssm:us-east-1:${ACCOUNT}:automation-execution/*`,
      ]),
    ).toEqual([]);
  });

  it('takes a standard or an express execution for the execution actions, whose two required types are alternatives', () => {
    // Assess: an execution ARN is one or the other
    expect(
      catalog.missingRequiredTypes('states:DescribeExecution', [
        `arn:aws:states:us-east-1:${ACCOUNT}:execution:bake:al2023-base-0123`,
      ]),
    ).toEqual([]);
    expect(
      catalog.missingRequiredTypes('states:DescribeExecution', [
        `arn:aws:states:us-east-1:${ACCOUNT}:stateMachine:bake`,
      ]),
    ).toEqual(expect.arrayContaining(['execution', 'express']));
  });

  it('records, when a role session is authorized, the types its checks left out', () => {
    // Prepare
    const stateDir = mkdtempSync(join(tmpdir(), 'bakehouse-catalog-'));
    onTestFinished(() => rmSync(stateDir, { recursive: true, force: true }));
    const store = Store.open(stateDir);
    const authorizer = new Authorizer(false, catalog);
    const caller: Caller = {
      kind: 'role-session',
      principal: { type: 'AssumedRole', arn: `arn:aws:sts::${ACCOUNT}:assumed-role/r/s`, account: ACCOUNT },
      session: {
        accessKeyId: 'ASIA0',
        secretAccessKey: 'x',
        sessionToken: 'y',
        account: ACCOUNT,
        roleArn: `arn:aws:iam::${ACCOUNT}:role/r`,
        roleName: 'r',
        sessionName: 's',
        assumedBy: 'lambda.amazonaws.com',
      },
    };

    // Act
    authorizer.authorize(
      store,
      ACCOUNT,
      caller,
      [{ action: 'ssm:StartAutomationExecution', resource: `arn:aws:ssm:us-east-1:${ACCOUNT}:document/bake` }],
      DENIAL_STYLES.json,
      0,
    );
    store.close();

    // Assess
    expect(authorizer.usage.gaps()).toEqual(['ssm:StartAutomationExecution: automation-execution']);
  });
});
