import { describe, expect, it } from 'vitest';
import { BUS_POLICY_SIDS, bakeRequestPolicyStatements } from '../../stacks/bus-policy';
import { useScratchStacks } from './support/scratch-stack';

const BUS_ARN = 'arn:aws:events:us-east-1:000000000000:event-bus/bakehouse-test';
const onlyBakeRequests = {
  'ForAllValues:StringEquals': { 'events:detail-type': ['Bake Requested'] },
  Null: { 'events:detail-type': 'false' },
};

const scratchStack = useScratchStacks();

/** Statements as they render in the template. */
const render = (settings: Parameters<typeof bakeRequestPolicyStatements>[0]) => {
  const stack = scratchStack();
  return bakeRequestPolicyStatements(settings, BUS_ARN).map((s) => stack.resolve(s.toStatementJson()));
};

describe('bakeRequestPolicyStatements', () => {
  it('admits nobody when the configuration names no account and no organization', () => {
    // Act
    const statements = render({ bakeRequestAccounts: [] });

    // Assess
    expect(statements).toEqual([]);
  });

  it('admits each named account once, for Bake Requested only', () => {
    // Act
    const statements = render({ bakeRequestAccounts: ['111122223333', '444455556666', '111122223333'] });

    // Assess
    expect(statements).toHaveLength(1);
    expect(statements[0]).toMatchObject({
      Sid: BUS_POLICY_SIDS.accounts,
      Effect: 'Allow',
      Action: 'events:PutEvents',
      Resource: BUS_ARN,
      Condition: onlyBakeRequests,
    });
    expect(JSON.stringify(statements[0].Principal).match(/\d{12}/g)).toEqual(['111122223333', '444455556666']);
  });

  it('admits the accounts of the organization, for Bake Requested only', () => {
    // Act
    const statements = render({ bakeRequestAccounts: [], bakeRequestOrganizationId: 'o-abc123def4' });

    // Assess
    expect(statements).toEqual([
      {
        Sid: BUS_POLICY_SIDS.organization,
        Effect: 'Allow',
        Principal: { AWS: '*' },
        Action: 'events:PutEvents',
        Resource: BUS_ARN,
        Condition: { ...onlyBakeRequests, StringEquals: { 'aws:PrincipalOrgID': 'o-abc123def4' } },
      },
    ]);
  });

  it('keeps accounts and organization in separate statements', () => {
    // Act
    const statements = render({ bakeRequestAccounts: ['111122223333'], bakeRequestOrganizationId: 'o-abc123def4' });

    // Assess
    expect(statements.map((s) => s.Sid)).toEqual([BUS_POLICY_SIDS.accounts, BUS_POLICY_SIDS.organization]);
  });
});
