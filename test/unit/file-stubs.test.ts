/** What test/setup.ts undoes after each file, so that files can share a worker. */
import { DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it, vi } from 'vitest';
import { undoFileStubs } from '../support/file-stubs';

const realSend = EC2Client.prototype.send;

describe('undoFileStubs', () => {
  it("puts back the client class's own send that mockClient replaced", async () => {
    const ec2Mock = mockClient(EC2Client);
    ec2Mock.on(DescribeImagesCommand).resolves({ Images: [] });
    expect(EC2Client.prototype.send).not.toBe(realSend);
    await expect(new EC2Client({ region: 'us-east-1' }).send(new DescribeImagesCommand({}))).resolves.toEqual({
      Images: [],
    });

    undoFileStubs();

    expect(EC2Client.prototype.send).toBe(realSend);
  });

  it('restores spies, stubbed environment variables and globals, and real timers', () => {
    const before = process.env.BAKEHOUSE_FILE_STUBS_TEST;
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    vi.stubEnv('BAKEHOUSE_FILE_STUBS_TEST', 'stubbed');
    vi.stubGlobal('bakehouseFileStubsTest', 1);
    vi.useFakeTimers();

    undoFileStubs();

    expect(vi.isMockFunction(console.log)).toBe(false);
    expect(log).not.toBe(console.log);
    expect(process.env.BAKEHOUSE_FILE_STUBS_TEST).toBe(before);
    expect('bakehouseFileStubsTest' in globalThis).toBe(false);
    expect(vi.isFakeTimers()).toBe(false);
  });
});
