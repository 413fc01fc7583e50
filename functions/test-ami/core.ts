/**
 * On `AMI Baked`: starts the family's test automation (bakehouse-<stage>-test-<family>) on the new
 * image and returns; the automation's end arrives as SSM's status-change event at TestResult.
 * A family without tests passes at once: `AMI Tested` with `passed` and no results.
 *
 * Everything is read and checked before the first write: the event (parseEvent), the family
 * (config) and the image (it must exist, be Bakehouse's and belong to the family). Redelivery
 * changes nothing twice: the image's `bakehouse:tested` tag says a test already started or ended,
 * and the start itself carries a client token derived from the bake, so a retry after a lost
 * reply gets the same execution back.
 */
import { CreateTagsCommand, DescribeImagesCommand, type Image } from '@aws-sdk/client-ec2';
import { StartAutomationExecutionCommand } from '@aws-sdk/client-ssm';
import { type AmiTestDeps, TESTER_ROLE, TestedStatus } from '../commons/ami-tests';
import { type AwsTag, Tag } from '../commons/bake-plan';
import { parseEvent } from '../commons/contract';
import { errorNameOf, ImageNotFoundError, InvalidEventError, UnknownFamilyError } from '../commons/errors';
import { type AmiBaked, type AmiTested, DetailType, EVENT_VERSION } from '../commons/events';
import type { Family } from '../commons/families';
import { findFamily } from '../commons/family-lookup';
import { uuidFrom } from '../commons/hashing';
import type { LogPort } from '../commons/powertools';
import { publishEvent } from '../commons/publish';

/** The AMI tests' ports, and what starting a test automation takes. */
export interface TestAmiDeps extends AmiTestDeps {
  /** The role the test automations run with. */
  readonly automationRoleArn: string;
  /** The instance profile testers launch with when the family names none (the builder's). */
  readonly instanceProfileName: string;
}

export type TestAmiResult =
  | { readonly outcome: 'started'; readonly executionId: string }
  | { readonly outcome: 'passed-without-tests'; readonly eventId: string }
  | {
      readonly outcome: 'already-handled';
      readonly tested: string;
      readonly executionId: string | null;
    };

/** The client token of a bake's test automation: the same bake and image always give the same token. */
export const testClientToken = (bakeId: string, amiId: string): string => uuidFrom(`bakehouse:test:${bakeId}:${amiId}`);

/** Parameters of automation/test-*.yaml, as StartAutomationExecution takes them. */
export const testParameters = (
  detail: Pick<AmiBaked, 'amiId' | 'bakeId'>,
  family: Family,
  deps: Pick<TestAmiDeps, 'automationRoleArn' | 'instanceProfileName' | 'config'>,
  expiresAt: Date,
): Record<string, string[]> => ({
  AutomationAssumeRole: [deps.automationRoleArn],
  AmiId: [detail.amiId],
  InstanceType: [family.builder.instanceType],
  SubnetId: [family.builder.subnetId],
  SecurityGroupIds: [...family.builder.securityGroupIds],
  InstanceProfileName: [family.builder.instanceProfile ?? deps.instanceProfileName],
  BakeId: [detail.bakeId],
  Family: [family.name],
  TesterExpiresAt: [expiresAt.toISOString().replace(/\.\d{3}Z$/, 'Z')],
});

const tagsOf = (image: Image): Map<string, string> =>
  new Map((image.Tags ?? []).flatMap((t) => (t.Key ? [[t.Key, t.Value ?? ''] as const] : [])));

const describeImage = async (ec2: TestAmiDeps['ec2'], amiId: string): Promise<Image | undefined> => {
  try {
    const result = await ec2.send(new DescribeImagesCommand({ ImageIds: [amiId] }));
    return result.Images?.find((image) => image.ImageId === amiId);
  } catch (error) {
    if (errorNameOf(error) === 'InvalidAMIID.NotFound' || errorNameOf(error) === 'InvalidAMIID.Unavailable') {
      return undefined;
    }
    throw error;
  }
};

const tagImage = (ec2: TestAmiDeps['ec2'], amiId: string, tags: AwsTag[]) =>
  ec2.send(new CreateTagsCommand({ Resources: [amiId], Tags: tags }));

/** Reads the event; an event that does not match the contract is logged once and rejected. */
const readEvent = (event: unknown, logger: LogPort) => {
  try {
    return parseEvent(event, [DetailType.AmiBaked]);
  } catch (error) {
    if (error instanceof InvalidEventError) logger.error('rejected event', { reason: error.message });
    throw error;
  }
};

const reject = (logger: LogPort, error: Error): never => {
  logger.error('rejected event', { reason: error.message });
  throw error;
};

export const testAmi = async (event: unknown, deps: TestAmiDeps): Promise<TestAmiResult> => {
  const { detail, id, time } = readEvent(event, deps.logger);
  const family = findFamily(deps.config, detail.family);
  if (!family) {
    return reject(
      deps.logger,
      new UnknownFamilyError(
        `rejected AMI Baked ${id}: family: '${detail.family}' is not a family of this deployment. Fix: deploy the configuration that declares it`,
      ),
    );
  }
  const image = await describeImage(deps.ec2, detail.amiId);
  if (!image) {
    throw new ImageNotFoundError(`image ${detail.amiId} of bake ${detail.bakeId} is not visible (yet)`);
  }
  const tags = tagsOf(image);
  if (tags.get(Tag.Managed) !== 'true' || (tags.has(Tag.Family) && tags.get(Tag.Family) !== family.name)) {
    return reject(
      deps.logger,
      new InvalidEventError(
        `rejected AMI Baked ${id}: amiId: ${detail.amiId} is not a Bakehouse image of family '${family.name}' (tags ${Tag.Managed}=${tags.get(Tag.Managed) ?? '(none)'}, ${Tag.Family}=${tags.get(Tag.Family) ?? '(none)'}). Fix: send the image the bake produced`,
      ),
    );
  }

  // Redelivery: a test already started (running, or ended and recorded by TestResult).
  const tested = tags.get(Tag.Tested);
  const knownExecution = tags.get(Tag.TestExecution) ?? null;
  if (tags.has(Tag.TestedAt) || (tested && knownExecution)) {
    deps.logger.info('image already tested or under test', { amiId: detail.amiId, tested, knownExecution });
    return { outcome: 'already-handled', tested: tested ?? 'unknown', executionId: knownExecution };
  }

  if (family.tests.length === 0) {
    return passWithoutTests(detail, deps, tested);
  }

  const expiresAt = new Date(
    (Number.isNaN(Date.parse(time)) ? deps.clock().getTime() : Date.parse(time)) +
      deps.config.settings.builderExpiryHours * 3_600_000,
  );
  const started = await deps.ssm.send(
    new StartAutomationExecutionCommand({
      DocumentName: `${deps.documentPrefix}${family.name}`,
      ClientToken: testClientToken(detail.bakeId, detail.amiId),
      Parameters: testParameters(detail, family, deps, expiresAt),
      Tags: [
        { Key: Tag.Managed, Value: 'true' },
        { Key: Tag.Role, Value: TESTER_ROLE },
        { Key: Tag.BakeId, Value: detail.bakeId },
        { Key: Tag.Family, Value: family.name },
      ],
    }),
  );
  const executionId = started.AutomationExecutionId;
  if (!executionId) throw new Error(`StartAutomationExecution for ${detail.amiId} returned no execution id`);
  await tagImage(deps.ec2, detail.amiId, [
    { Key: Tag.Tested, Value: TestedStatus.Running },
    { Key: Tag.TestExecution, Value: executionId },
  ]);
  deps.logger.info('test automation started', { amiId: detail.amiId, family: family.name, executionId });
  return { outcome: 'started', executionId };
};

/**
 * A family without tests: its image passes as baked. The result is tagged before it is published
 * (consumers may read the tag) and `tested-at` after, so a redelivery after a lost publish
 * publishes again and one after a publish does nothing.
 */
const passWithoutTests = async (
  detail: AmiBaked,
  deps: TestAmiDeps,
  tested: string | undefined,
): Promise<TestAmiResult> => {
  if (tested !== TestedStatus.Passed) {
    await tagImage(deps.ec2, detail.amiId, [{ Key: Tag.Tested, Value: TestedStatus.Passed }]);
  }
  const result: AmiTested = {
    version: EVENT_VERSION,
    bakeId: detail.bakeId,
    family: detail.family,
    amiId: detail.amiId,
    passed: true,
    results: [],
    testExecutionId: null,
  };
  const eventId = await publishEvent(deps.events, deps.target, DetailType.AmiTested, result);
  await tagImage(deps.ec2, detail.amiId, [{ Key: Tag.TestedAt, Value: deps.clock().toISOString() }]);
  deps.logger.info('family has no tests: image passed', { amiId: detail.amiId, family: detail.family, eventId });
  return { outcome: 'passed-without-tests', eventId };
};
