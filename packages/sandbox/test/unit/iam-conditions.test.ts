/**
 * Condition operators as the IAM User Guide describes them: "IAM JSON policy elements: Condition
 * operators" (String, Numeric, Date, Bool, BinaryEquals, IpAddress, Arn, …IfExists, Null),
 * "Single-valued vs. multivalued context keys" (ForAnyValue / ForAllValues) and "Creating a
 * condition with multiple keys or values". Each case is one Allow statement whose condition either
 * holds (Allow) or not (ImplicitDeny).
 */
import { describe, expect, it } from 'vitest';
import { type ConditionBlock, type ContextKeys, evaluate, type Principal } from '../../src/iam';

const ACCOUNT = '111111111111';
const principal: Principal = {
  type: 'User',
  arn: `arn:aws:iam::${ACCOUNT}:user/carlos`,
  account: ACCOUNT,
  tags: { team: 'bakers' },
};

/** A policy variable as written in a policy: `${key}`. */
const variable = (key: string): string => `\${${key}}`;

/** Whether a condition block holds for these context keys. */
const holds = (condition: ConditionBlock, context: ContextKeys = {}): boolean =>
  evaluate({
    request: { principal, action: 'ec2:RunInstances', resource: '*', context },
    identityPolicies: [
      { Version: '2012-10-17', Statement: { Effect: 'Allow', Action: '*', Resource: '*', Condition: condition } },
    ],
    resourceAccount: ACCOUNT,
  }).decision === 'Allow';

describe('iam conditions: strings', () => {
  it('StringEquals is exact and case-sensitive; StringEqualsIgnoreCase is not', () => {
    expect(
      holds({ StringEquals: { 'aws:RequestedRegion': 'eu-central-1' } }, { 'aws:RequestedRegion': 'eu-central-1' }),
    ).toBe(true);
    expect(
      holds({ StringEquals: { 'aws:RequestedRegion': 'eu-central-1' } }, { 'aws:RequestedRegion': 'EU-central-1' }),
    ).toBe(false);
    expect(
      holds(
        { StringEqualsIgnoreCase: { 'aws:RequestedRegion': 'EU-Central-1' } },
        { 'aws:RequestedRegion': 'eu-central-1' },
      ),
    ).toBe(true);
    expect(holds({ StringEquals: { 'aws:RequestedRegion': 'eu-*' } }, { 'aws:RequestedRegion': 'eu-central-1' })).toBe(
      false,
    );
  });

  it('StringLike takes * and ? wildcards; StringNotLike negates it', () => {
    const context = { 's3:prefix': 'home/carlos/notes' };
    expect(holds({ StringLike: { 's3:prefix': 'home/*' } }, context)).toBe(true);
    expect(holds({ StringLike: { 's3:prefix': 'home/?arlos/*' } }, context)).toBe(true);
    expect(holds({ StringLike: { 's3:prefix': 'Home/*' } }, context)).toBe(false);
    expect(holds({ StringNotLike: { 's3:prefix': 'home/*' } }, context)).toBe(false);
    expect(holds({ StringNotLike: { 's3:prefix': 'public/*' } }, context)).toBe(true);
  });

  it('several values for one key are alternatives; StringNotEquals holds when none matches', () => {
    const context = { 'aws:RequestedRegion': 'eu-west-1' };
    expect(holds({ StringEquals: { 'aws:RequestedRegion': ['eu-central-1', 'eu-west-1'] } }, context)).toBe(true);
    expect(holds({ StringNotEquals: { 'aws:RequestedRegion': ['eu-central-1', 'eu-west-1'] } }, context)).toBe(false);
    expect(holds({ StringNotEquals: { 'aws:RequestedRegion': ['us-east-1'] } }, context)).toBe(true);
  });

  it('several keys, and several operators, must all hold', () => {
    const context = { 'aws:RequestedRegion': 'eu-west-1', 'aws:SourceAccount': ACCOUNT };
    const both = { 'aws:RequestedRegion': 'eu-west-1', 'aws:SourceAccount': ACCOUNT };
    expect(holds({ StringEquals: both }, context)).toBe(true);
    expect(holds({ StringEquals: { ...both, 'aws:SourceAccount': '222222222222' } }, context)).toBe(false);
    expect(
      holds(
        { StringEquals: { 'aws:RequestedRegion': 'eu-west-1' }, StringLike: { 'aws:SourceAccount': '2*' } },
        context,
      ),
    ).toBe(false);
  });

  it('condition key names are case-insensitive', () => {
    expect(
      holds({ StringEquals: { 'AWS:REQUESTEDREGION': 'eu-west-1' } }, { 'aws:requestedRegion': 'eu-west-1' }),
    ).toBe(true);
  });

  it('condition values take policy variables', () => {
    expect(
      holds({ StringEquals: { 's3:prefix': `home/${variable('aws:username')}` } }, { 's3:prefix': 'home/carlos' }),
    ).toBe(true);
    expect(
      holds(
        { StringEquals: { 'aws:ResourceTag/team': variable('aws:PrincipalTag/team') } },
        { 'aws:ResourceTag/team': 'bakers' },
      ),
    ).toBe(true);
    expect(
      holds(
        { StringEquals: { 'aws:ResourceTag/team': variable('aws:PrincipalTag/team') } },
        { 'aws:ResourceTag/team': 'ops' },
      ),
    ).toBe(false);
  });
});

describe('iam conditions: numbers, dates, booleans, binary, addresses, ARNs', () => {
  it('Numeric operators compare numbers, not text', () => {
    const context = { 's3:max-keys': 10 };
    expect(holds({ NumericLessThanEquals: { 's3:max-keys': '10' } }, context)).toBe(true);
    expect(holds({ NumericLessThan: { 's3:max-keys': '10' } }, context)).toBe(false);
    expect(holds({ NumericGreaterThan: { 's3:max-keys': '9' } }, context)).toBe(true);
    expect(holds({ NumericGreaterThanEquals: { 's3:max-keys': '11' } }, context)).toBe(false);
    expect(holds({ NumericEquals: { 's3:max-keys': '10.0' } }, context)).toBe(true);
    expect(holds({ NumericNotEquals: { 's3:max-keys': '10' } }, context)).toBe(false);
    expect(holds({ NumericLessThan: { 's3:max-keys': '100' } }, { 's3:max-keys': 'ten' })).toBe(false);
  });

  it('Date operators compare instants written as ISO 8601 or epoch seconds', () => {
    const context = { 'aws:CurrentTime': '2026-12-05T06:00:00Z' };
    expect(holds({ DateLessThan: { 'aws:CurrentTime': '2026-12-31T00:00:00Z' } }, context)).toBe(true);
    expect(holds({ DateGreaterThan: { 'aws:CurrentTime': '2026-12-31T00:00:00Z' } }, context)).toBe(false);
    expect(holds({ DateEquals: { 'aws:CurrentTime': '2026-12-05T07:00:00+01:00' } }, context)).toBe(true);
    expect(holds({ DateNotEquals: { 'aws:CurrentTime': '2026-12-05T06:00:00Z' } }, context)).toBe(false);
    expect(holds({ DateGreaterThanEquals: { 'aws:EpochTime': '1796450400' } }, { 'aws:EpochTime': 1796450400 })).toBe(
      true,
    );
    expect(holds({ DateLessThanEquals: { 'aws:CurrentTime': '1796450399' } }, context)).toBe(false);
  });

  it('Bool compares true/false whatever their case or type', () => {
    expect(holds({ Bool: { 'aws:SecureTransport': 'true' } }, { 'aws:SecureTransport': true })).toBe(true);
    expect(holds({ Bool: { 'aws:SecureTransport': 'TRUE' } }, { 'aws:SecureTransport': 'true' })).toBe(true);
    expect(holds({ Bool: { 'aws:SecureTransport': 'true' } }, { 'aws:SecureTransport': false })).toBe(false);
  });

  it('BinaryEquals compares base64 values', () => {
    expect(
      holds(
        { BinaryEquals: { 'key:blob': 'QmluYXJ5VmFsdWVJbkJhc2U2NA==' } },
        { 'key:blob': 'QmluYXJ5VmFsdWVJbkJhc2U2NA==' },
      ),
    ).toBe(true);
    expect(holds({ BinaryEquals: { 'key:blob': 'QmluYXJ5VmFsdWVJbkJhc2U2NA==' } }, { 'key:blob': 'b3RoZXI=' })).toBe(
      false,
    );
  });

  it('IpAddress matches IPv4 and IPv6 CIDR blocks and single addresses; NotIpAddress negates', () => {
    expect(holds({ IpAddress: { 'aws:SourceIp': '203.0.113.0/24' } }, { 'aws:SourceIp': '203.0.113.77' })).toBe(true);
    expect(holds({ IpAddress: { 'aws:SourceIp': '203.0.113.0/24' } }, { 'aws:SourceIp': '203.0.114.1' })).toBe(false);
    expect(holds({ IpAddress: { 'aws:SourceIp': '203.0.113.5' } }, { 'aws:SourceIp': '203.0.113.5' })).toBe(true);
    expect(
      holds(
        { IpAddress: { 'aws:SourceIp': '2001:DB8:1234:5678::/64' } },
        { 'aws:SourceIp': '2001:db8:1234:5678:abcd::1' },
      ),
    ).toBe(true);
    expect(
      holds({ IpAddress: { 'aws:SourceIp': '2001:DB8:1234:5678::/64' } }, { 'aws:SourceIp': '2001:db8:1234:5679::1' }),
    ).toBe(false);
    expect(holds({ IpAddress: { 'aws:SourceIp': '0.0.0.0/0' } }, { 'aws:SourceIp': '2001:db8::1' })).toBe(false);
    expect(
      holds(
        { NotIpAddress: { 'aws:SourceIp': ['192.0.2.0/24', '203.0.113.0/24'] } },
        { 'aws:SourceIp': '198.51.100.1' },
      ),
    ).toBe(true);
  });

  it('ArnLike and ArnEquals match component by component, case-sensitively', () => {
    const context = { 'aws:SourceArn': 'arn:aws:sns:eu-central-1:111111111111:bakehouse-topic' };
    expect(holds({ ArnLike: { 'aws:SourceArn': 'arn:aws:sns:*:111111111111:bakehouse-*' } }, context)).toBe(true);
    expect(holds({ ArnEquals: { 'aws:SourceArn': 'arn:aws:sns:*:111111111111:bakehouse-*' } }, context)).toBe(true);
    expect(holds({ ArnLike: { 'aws:SourceArn': 'arn:aws:sns:*:111111111111:Bakehouse-*' } }, context)).toBe(false);
    expect(holds({ ArnLike: { 'aws:SourceArn': 'arn:aws:sns:*:bakehouse-topic' } }, context)).toBe(false);
    expect(holds({ ArnNotLike: { 'aws:SourceArn': 'arn:aws:sns:*:222222222222:*' } }, context)).toBe(true);
    expect(holds({ ArnNotEquals: { 'aws:SourceArn': 'arn:aws:sns:*:111111111111:*' } }, context)).toBe(false);
  });
});

describe('iam conditions: missing keys, IfExists and Null', () => {
  it('a missing key makes a positive operator false and a negated one true', () => {
    expect(holds({ StringEquals: { 'aws:ResourceTag/team': 'bakers' } })).toBe(false);
    expect(holds({ NumericLessThan: { 's3:max-keys': '10' } })).toBe(false);
    expect(holds({ StringNotEquals: { 'aws:ResourceTag/team': 'bakers' } })).toBe(true);
    expect(holds({ ArnNotLike: { 'aws:SourceArn': 'arn:aws:sns:*:*:*' } })).toBe(true);
  });

  it('…IfExists holds when the key is missing and checks the value when it is present', () => {
    expect(holds({ StringEqualsIfExists: { 'ec2:InstanceType': ['t3.micro', 't3.small'] } })).toBe(true);
    expect(
      holds(
        { StringEqualsIfExists: { 'ec2:InstanceType': ['t3.micro', 't3.small'] } },
        { 'ec2:InstanceType': 't3.small' },
      ),
    ).toBe(true);
    expect(
      holds(
        { StringEqualsIfExists: { 'ec2:InstanceType': ['t3.micro', 't3.small'] } },
        { 'ec2:InstanceType': 'm5.24xlarge' },
      ),
    ).toBe(false);
    expect(holds({ NumericLessThanIfExists: { 's3:max-keys': '10' } })).toBe(true);
  });

  it('Null "true" holds when the key is absent, "false" when it is present', () => {
    expect(holds({ Null: { 'aws:TokenIssueTime': 'true' } })).toBe(true);
    expect(holds({ Null: { 'aws:TokenIssueTime': 'true' } }, { 'aws:TokenIssueTime': '2026-12-05T05:00:00Z' })).toBe(
      false,
    );
    expect(holds({ Null: { 'aws:TokenIssueTime': 'false' } }, { 'aws:TokenIssueTime': '2026-12-05T05:00:00Z' })).toBe(
      true,
    );
    expect(holds({ Null: { 'aws:TokenIssueTime': 'false' } })).toBe(false);
  });

  it('keys IAM derives from the principal are present: aws:username, aws:PrincipalTag, aws:PrincipalAccount', () => {
    expect(holds({ StringEquals: { 'aws:username': 'carlos', 'aws:PrincipalAccount': ACCOUNT } })).toBe(true);
    expect(holds({ StringEquals: { 'aws:PrincipalTag/team': 'bakers' } })).toBe(true);
    expect(holds({ Null: { 'aws:PrincipalTag/cost-center': 'true' } })).toBe(true);
  });
});

describe('iam conditions: ForAnyValue and ForAllValues', () => {
  const allowedTags = ['environment', 'cost-center'];

  it('ForAllValues holds when every request value is allowed', () => {
    expect(
      holds({ 'ForAllValues:StringEquals': { 'aws:TagKeys': allowedTags } }, { 'aws:TagKeys': ['environment'] }),
    ).toBe(true);
    expect(
      holds(
        { 'ForAllValues:StringEquals': { 'aws:TagKeys': allowedTags } },
        { 'aws:TagKeys': ['environment', 'owner'] },
      ),
    ).toBe(false);
  });

  it('ForAllValues holds for a missing key, an empty list and an empty string', () => {
    expect(holds({ 'ForAllValues:StringEquals': { 'aws:TagKeys': allowedTags } })).toBe(true);
    expect(holds({ 'ForAllValues:StringEquals': { 'aws:TagKeys': allowedTags } }, { 'aws:TagKeys': [] })).toBe(true);
    expect(holds({ 'ForAllValues:StringEquals': { 'aws:TagKeys': allowedTags } }, { 'aws:TagKeys': '' })).toBe(true);
  });

  it('ForAnyValue holds when one request value is allowed, and not for a missing or empty key', () => {
    expect(
      holds(
        { 'ForAnyValue:StringEquals': { 'aws:TagKeys': allowedTags } },
        { 'aws:TagKeys': ['owner', 'environment'] },
      ),
    ).toBe(true);
    expect(holds({ 'ForAnyValue:StringEquals': { 'aws:TagKeys': allowedTags } }, { 'aws:TagKeys': ['owner'] })).toBe(
      false,
    );
    expect(holds({ 'ForAnyValue:StringEquals': { 'aws:TagKeys': allowedTags } })).toBe(false);
    expect(holds({ 'ForAnyValue:StringEquals': { 'aws:TagKeys': allowedTags } }, { 'aws:TagKeys': [] })).toBe(false);
  });

  it('negated set operators: ForAnyValue:StringNotEquals finds one value outside the list, ForAllValues:StringNotLike needs all', () => {
    expect(
      holds(
        { 'ForAnyValue:StringNotEquals': { 'aws:TagKeys': allowedTags } },
        { 'aws:TagKeys': ['environment', 'owner'] },
      ),
    ).toBe(true);
    expect(
      holds({ 'ForAnyValue:StringNotEquals': { 'aws:TagKeys': allowedTags } }, { 'aws:TagKeys': ['environment'] }),
    ).toBe(false);
    expect(
      holds({ 'ForAllValues:StringNotLike': { 'aws:TagKeys': 'aws:*' } }, { 'aws:TagKeys': ['owner', 'team'] }),
    ).toBe(true);
    expect(
      holds({ 'ForAllValues:StringNotLike': { 'aws:TagKeys': 'aws:*' } }, { 'aws:TagKeys': ['owner', 'aws:x'] }),
    ).toBe(false);
  });

  it('ForAnyValue with IfExists holds for a missing key; with StringLike it takes wildcards', () => {
    expect(holds({ 'ForAnyValue:StringEqualsIfExists': { 'aws:TagKeys': allowedTags } })).toBe(true);
    expect(
      holds({ 'ForAnyValue:StringLike': { 'aws:TagKeys': 'cost-*' } }, { 'aws:TagKeys': ['owner', 'cost-center'] }),
    ).toBe(true);
  });

  it('a Deny with ForAllValues on a missing key denies (the documented trap), one with ForAnyValue does not', () => {
    const denyUnless = (operator: string) =>
      evaluate({
        request: { principal, action: 'ec2:CreateTags', resource: '*' },
        identityPolicies: [
          {
            Version: '2012-10-17',
            Statement: [
              { Effect: 'Allow', Action: '*', Resource: '*' },
              { Effect: 'Deny', Action: '*', Resource: '*', Condition: { [operator]: { 'aws:TagKeys': allowedTags } } },
            ],
          },
        ],
        resourceAccount: ACCOUNT,
      }).decision;

    expect(denyUnless('ForAllValues:StringEquals')).toBe('ExplicitDeny');
    expect(denyUnless('ForAnyValue:StringEquals')).toBe('Allow');
  });
});
