/**
 * The content-filter language as the EventBridge documentation describes it, case by case:
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html
 * (and, for nested fields and arrays, https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html).
 * Each row is a pattern, an event and whether the pattern matches it; the events are small
 * variations written for this table on the documentation's EC2 / S3 examples.
 */
import { describe, expect, it } from 'vitest';
import { matchesPattern, validatePattern } from '../../src/services/events/pattern';

type Rec = Record<string, unknown>;

const ec2Event = (detail: Rec, extra: Rec = {}): Rec => ({
  version: '0',
  id: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
  'detail-type': 'EC2 Instance State-change Notification',
  source: 'aws.ec2',
  account: '111122223333',
  time: '2017-12-22T18:43:48Z',
  region: 'us-west-1',
  resources: ['arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0'],
  detail,
  ...extra,
});

interface Case {
  readonly name: string;
  readonly pattern: Rec;
  readonly event: Rec;
  readonly matches: boolean;
}

const CASES: readonly Case[] = [
  // exact values
  {
    name: 'exact string matches',
    pattern: { source: ['aws.ec2'] },
    event: ec2Event({ state: 'running' }),
    matches: true,
  },
  {
    name: 'exact string is case sensitive',
    pattern: { source: ['AWS.EC2'] },
    event: ec2Event({ state: 'running' }),
    matches: false,
  },
  {
    name: 'values in a list OR together',
    pattern: { detail: { state: ['pending', 'running'] } },
    event: ec2Event({ state: 'running' }),
    matches: true,
  },
  {
    name: 'fields AND together',
    pattern: { source: ['aws.ec2'], detail: { state: ['stopped'] } },
    event: ec2Event({ state: 'running' }),
    matches: false,
  },
  {
    name: 'exact number matches a number',
    pattern: { detail: { 'c-count': [5] } },
    event: ec2Event({ 'c-count': 5 }),
    matches: true,
  },
  {
    name: 'a number does not match its string form',
    pattern: { detail: { 'c-count': [5] } },
    event: ec2Event({ 'c-count': '5' }),
    matches: false,
  },
  {
    name: 'null matches a null value',
    pattern: { detail: { responseElements: [null] } },
    event: ec2Event({ responseElements: null }),
    matches: true,
  },
  {
    name: 'null does not match a missing field',
    pattern: { detail: { responseElements: [null] } },
    event: ec2Event({}),
    matches: false,
  },
  {
    name: 'empty string matches an empty string',
    pattern: { detail: { eventVersion: [''] } },
    event: ec2Event({ eventVersion: '' }),
    matches: true,
  },
  // prefix and suffix
  {
    name: 'prefix matches the start of a value',
    pattern: { time: [{ prefix: '2017-12-22' }] },
    event: ec2Event({}),
    matches: true,
  },
  {
    name: 'prefix does not match elsewhere in the value',
    pattern: { time: [{ prefix: '12-22' }] },
    event: ec2Event({}),
    matches: false,
  },
  {
    name: 'prefix with equals-ignore-case',
    pattern: { detail: { service: [{ prefix: { 'equals-ignore-case': 'EventB' } }] } },
    event: ec2Event({ service: 'eventbridge' }),
    matches: true,
  },
  {
    name: 'suffix matches the end of a value',
    pattern: { detail: { 'object-key': [{ suffix: '.png' }] } },
    event: ec2Event({ 'object-key': 'photos/cat.png' }),
    matches: true,
  },
  {
    name: 'suffix is case sensitive',
    pattern: { detail: { 'object-key': [{ suffix: '.png' }] } },
    event: ec2Event({ 'object-key': 'photos/cat.PNG' }),
    matches: false,
  },
  {
    name: 'suffix with equals-ignore-case',
    pattern: { detail: { 'object-key': [{ suffix: { 'equals-ignore-case': '.PNG' } }] } },
    event: ec2Event({ 'object-key': 'photos/cat.png' }),
    matches: true,
  },
  // anything-but
  {
    name: 'anything-but a string excludes that string',
    pattern: { detail: { state: [{ 'anything-but': 'initializing' }] } },
    event: ec2Event({ state: 'initializing' }),
    matches: false,
  },
  {
    name: 'anything-but a string accepts another string',
    pattern: { detail: { state: [{ 'anything-but': 'initializing' }] } },
    event: ec2Event({ state: 'running' }),
    matches: true,
  },
  {
    name: 'anything-but a list excludes each value',
    pattern: { detail: { state: [{ 'anything-but': ['stopped', 'overloaded'] }] } },
    event: ec2Event({ state: 'overloaded' }),
    matches: false,
  },
  {
    name: 'anything-but a list of numbers accepts another number',
    pattern: { detail: { x: [{ 'anything-but': [100, 200, 300] }] } },
    event: ec2Event({ x: 150 }),
    matches: true,
  },
  {
    name: 'anything-but prefix excludes values with the prefix',
    pattern: { detail: { state: [{ 'anything-but': { prefix: 'init' } }] } },
    event: ec2Event({ state: 'initializing' }),
    matches: false,
  },
  {
    name: 'anything-but prefix accepts other values',
    pattern: { detail: { state: [{ 'anything-but': { prefix: 'init' } }] } },
    event: ec2Event({ state: 'running' }),
    matches: true,
  },
  {
    name: 'anything-but suffix excludes values with the suffix',
    pattern: { detail: { FileName: [{ 'anything-but': { suffix: '.txt' } }] } },
    event: ec2Event({ FileName: 'notes.txt' }),
    matches: false,
  },
  {
    name: 'anything-but equals-ignore-case excludes any case',
    pattern: { detail: { state: [{ 'anything-but': { 'equals-ignore-case': ['Stopped', 'OverLoaded'] } }] } },
    event: ec2Event({ state: 'STOPPED' }),
    matches: false,
  },
  {
    name: 'anything-but wildcard excludes matching values',
    pattern: { detail: { FilePath: [{ 'anything-but': { wildcard: '*/lib/*' } }] } },
    event: ec2Event({ FilePath: 'dir/lib/file.txt' }),
    matches: false,
  },
  // numeric
  {
    name: 'numeric range matches inside it',
    pattern: { detail: { c: [{ numeric: ['>', 0, '<=', 5] }] } },
    event: ec2Event({ c: 5 }),
    matches: true,
  },
  {
    name: 'numeric range excludes its open bound',
    pattern: { detail: { c: [{ numeric: ['>', 0, '<=', 5] }] } },
    event: ec2Event({ c: 0 }),
    matches: false,
  },
  {
    name: 'numeric less-than',
    pattern: { detail: { d: [{ numeric: ['<', 10] }] } },
    event: ec2Event({ d: 9.5 }),
    matches: true,
  },
  {
    name: 'numeric equals',
    pattern: { detail: { x: [{ numeric: ['=', 3.018e2] }] } },
    event: ec2Event({ x: 301.8 }),
    matches: true,
  },
  {
    name: 'numeric does not match a string',
    pattern: { detail: { d: [{ numeric: ['<', 10] }] } },
    event: ec2Event({ d: '5' }),
    matches: false,
  },
  // exists
  {
    name: 'exists true matches a present field',
    pattern: { detail: { state: [{ exists: true }] } },
    event: ec2Event({ state: 'running' }),
    matches: true,
  },
  {
    name: 'exists true does not match a missing field',
    pattern: { detail: { state: [{ exists: true }] } },
    event: ec2Event({}),
    matches: false,
  },
  {
    name: 'exists false matches a missing field',
    pattern: { detail: { state: [{ exists: false }] } },
    event: ec2Event({ 'instance-id': 'i-1' }),
    matches: true,
  },
  {
    name: 'exists false does not match a present field',
    pattern: { detail: { state: [{ exists: false }] } },
    event: ec2Event({ state: 'running' }),
    matches: false,
  },
  {
    name: 'exists true does not match an object (only leaf values)',
    pattern: { detail: { tags: [{ exists: true }] } },
    event: ec2Event({ tags: { team: 'bakehouse' } }),
    matches: false,
  },
  // equals-ignore-case
  {
    name: 'equals-ignore-case matches any case',
    pattern: { 'detail-type': [{ 'equals-ignore-case': 'ec2 instance state-change notification' }] },
    event: ec2Event({}),
    matches: true,
  },
  {
    name: 'equals-ignore-case still needs the whole value',
    pattern: { 'detail-type': [{ 'equals-ignore-case': 'ec2 instance' }] },
    event: ec2Event({}),
    matches: false,
  },
  // wildcard
  {
    name: 'wildcard matches any run of characters',
    pattern: { detail: { EventBusArn: [{ wildcard: 'arn:aws:events:us-east-1:*:event-bus/*' }] } },
    event: ec2Event({ EventBusArn: 'arn:aws:events:us-east-1:123456789012:event-bus/orders' }),
    matches: true,
  },
  {
    name: 'wildcard anchors at both ends',
    pattern: { detail: { FileName: [{ wildcard: '*.png' }] } },
    event: ec2Event({ FileName: 'cat.png.bak' }),
    matches: false,
  },
  {
    name: 'an escaped star is a literal star',
    pattern: { detail: { Name: [{ wildcard: 'a\\*b' }] } },
    event: ec2Event({ Name: 'axxb' }),
    matches: false,
  },
  // $or
  {
    name: '$or matches when one branch matches',
    pattern: { detail: { $or: [{ c: [{ numeric: ['>', 0, '<', 5] }] }, { d: [{ numeric: ['<', 10] }] }] } },
    event: ec2Event({ c: 100, d: 3 }),
    matches: true,
  },
  {
    name: '$or fails when no branch matches',
    pattern: { detail: { $or: [{ c: [{ numeric: ['>', 0, '<', 5] }] }, { d: [{ numeric: ['<', 10] }] }] } },
    event: ec2Event({ c: 100, d: 30 }),
    matches: false,
  },
  {
    name: '$or across top-level fields',
    pattern: { $or: [{ source: ['aws.s3'] }, { 'detail-type': ['EC2 Instance State-change Notification'] }] },
    event: ec2Event({}),
    matches: true,
  },
  // nested fields
  {
    name: 'nested fields match by path',
    pattern: { detail: { 'request-parameters': { bucket: { name: ['amzn-s3-demo-bucket'] } } } },
    event: ec2Event({ 'request-parameters': { bucket: { name: 'amzn-s3-demo-bucket' } } }),
    matches: true,
  },
  {
    name: 'a nested pattern does not match a missing object',
    pattern: { detail: { 'request-parameters': { bucket: { name: ['amzn-s3-demo-bucket'] } } } },
    event: ec2Event({}),
    matches: false,
  },
  // arrays
  {
    name: 'an array field matches when any element matches',
    pattern: { resources: ['arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0'] },
    event: ec2Event(
      {},
      {
        resources: [
          'arn:aws:ec2:us-west-1:123456789012:instance/i-other',
          'arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0',
        ],
      },
    ),
    matches: true,
  },
  {
    name: 'an array field does not match when no element matches',
    pattern: { resources: ['arn:aws:ec2:us-west-1:123456789012:instance/i-missing'] },
    event: ec2Event({}),
    matches: false,
  },
  {
    name: 'a pattern under an array of objects matches any object element',
    pattern: { detail: { items: { sku: [{ prefix: 'SKU-' }] } } },
    event: ec2Event({ items: [{ sku: 'X-1' }, { sku: 'SKU-2' }] }),
    matches: true,
  },
];

describe('event patterns: the documented content filters', () => {
  it('has at least 30 documented cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(30);
  });

  it.each(CASES)('$name', ({ pattern, event, matches }) => {
    // Prepare
    expect(validatePattern(pattern)).toBeUndefined();

    // Act
    const result = matchesPattern(pattern, event);

    // Assess
    expect(result).toBe(matches);
  });
});
