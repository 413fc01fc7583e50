/**
 * Image families: the typed, validated configuration every part of Bakehouse reads.
 *
 * One zod schema is the single source of the TypeScript types and of the runtime checks.
 * `loadConfig` runs at synth (stacks) and at cold start (functions), so a bad family fails
 * both places with the same message: the family, the field, and the fix.
 */

import { isTimeZone, validateCron } from '@bakehouse/cron';
import { z } from 'zod';
import { InvalidCanaryConfigError, validateCanaryConfig } from './canary-judge';
import { ConfigError } from './errors';
import { CANDIDATE_CHANNEL } from './family-lookup';
import { familyDocumentValues, isReleaseLocked, MAX_AUTOMATION_PARAMETER_LENGTH, PARAMETER_FIELDS } from './render';
import { renderedValueProblems } from './rendered-values';

const FAMILY_NAME = /^[a-z][a-z0-9-]{1,38}[a-z0-9]$/;
const CHANNEL_NAME = /^[a-z][a-z0-9-]{0,30}$/;
/**
 * An Amazon Linux 2023 release version: `2023.<quarter>.<yyyymmdd>`, as `dnf --releasever` takes
 * it (https://docs.aws.amazon.com/linux/al2023/ug/deterministic-upgrades-usage.html), optionally
 * with the image build suffix the AMI names carry (`al2023-ami-2023.9.20261122.0-…`).
 */
export const AL2023_RELEASE = /^\d{4}\.\d+\.\d{8}(\.\d+)?$/;
const PACKAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9._+:~*@=-]*$/;
const KB_ID = /^KB\d{6,8}$/;
const SUBNET_ID = /^subnet-[0-9a-f]{8,17}$/;
const SECURITY_GROUP_ID = /^sg-[0-9a-f]{8,17}$/;
const ACCOUNT_ID = /^\d{12}$/;
const REGION = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$/;
/**
 * An IAM role ARN, `arn:<partition>:iam::<account>:role/<path/>name`: the path is part of the ARN
 * and the name has at most 64 characters of `[\w+=,.@-]` (IAM User Guide, "IAM identifiers",
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html). No wildcards.
 */
const ROLE_ARN = /^arn:aws(-[a-z]+)*:iam::\d{12}:role\/([\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/;

export const RESERVED_CHANNEL_NAMES = ['lock', 'locks', 'callbacks'] as const;

export const WEEKDAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

const timeZone = z.string().superRefine((value, ctx) => {
  if (!isTimeZone(value)) {
    ctx.addIssue({
      code: 'custom',
      message: `'${value}' is not an IANA time zone. Fix: use a name such as 'Europe/Berlin', 'America/New_York' or 'UTC'`,
    });
  }
});

const cronSchedule = z.strictObject({
  cron: z.string().superRefine((value, ctx) => {
    const problem = validateCron(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }),
  timezone: timeZone.default('UTC'),
});

/**
 * "The second Tuesday of the month, plus N days", the Patch Tuesday rule most Windows shops
 * bake on. EventBridge cron cannot say it directly (a weekday plus an offset can fall in the
 * nth or the n+1th week), so the stack schedules the resulting weekday and the schedule-tick
 * function only lets through the one day of the month that matches.
 */
const nthWeekdaySchedule = z
  .strictObject({
    nthWeekday: z.strictObject({
      weekday: z.enum(WEEKDAYS),
      nth: z.number().int().min(1).max(4),
      offsetDays: z.number().int().min(0).max(14).default(0),
    }),
    at: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, "use 24-hour 'HH:MM', for example '03:30'"),
    timezone: timeZone.default('UTC'),
  })
  .superRefine((value, ctx) => {
    const lastDay = value.nthWeekday.nth * 7 + value.nthWeekday.offsetDays;
    if (lastDay > 28) {
      ctx.addIssue({
        code: 'custom',
        path: ['nthWeekday', 'offsetDays'],
        message: `nth ${value.nthWeekday.nth} plus ${value.nthWeekday.offsetDays} days can fall past day 28 and into the next month. Fix: keep nth * 7 + offsetDays at or below 28`,
      });
    }
  });

export const scheduleSchema = z.union([cronSchedule, nthWeekdaySchedule], {
  error: () =>
    "give either { cron: '0 3 ? * SUN *', timezone } or { nthWeekday: { weekday: 'TUE', nth: 2, offsetDays: 1 }, at: '03:00', timezone }",
});

const sourceSchema = z.union(
  [
    z.strictObject({
      ssmParameter: z.string().regex(/^\/[A-Za-z0-9_.\-/]+$/, "use a parameter path such as '/aws/service/...'"),
    }),
    z.strictObject({
      amiFilter: z.strictObject({
        owners: z.array(z.string().min(1)).min(1, "name at least one owner: 'self', 'amazon' or an account id"),
        filters: z
          .record(z.string().min(1), z.array(z.string().min(1)).min(1))
          .refine((f) => Object.keys(f).length > 0, 'give at least one filter, for example { name: [...] }'),
      }),
    }),
    z.strictObject({
      family: z.string().regex(FAMILY_NAME, 'name an existing family'),
      channel: z.string().regex(CHANNEL_NAME).default('stable'),
    }),
  ],
  {
    error: () =>
      "give one of { ssmParameter: '/aws/service/...' }, { amiFilter: { owners, filters } } or { family: 'parent-family', channel: 'stable' }",
  },
);

const builderSchema = z
  .strictObject({
    instanceType: z.string().regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, "use an instance type such as 'm7i.large'"),
    subnetId: z.string().regex(SUBNET_ID, "use a subnet id such as 'subnet-0123456789abcdef0'"),
    securityGroupIds: z
      .array(z.string().regex(SECURITY_GROUP_ID, "use security group ids such as 'sg-0123456789abcdef0'"))
      .min(1, 'give at least one security group'),
    /** Instance profile name; default: the builder profile the stack creates (SSM managed-instance core only). */
    instanceProfile: z.string().min(1).max(128).optional(),
    /**
     * The ARN of the role inside `instanceProfile`, required with it: the bake and test automations
     * launch with the profile, and EC2 lets them only if they may `iam:PassRole` that role. A
     * profile's role may carry another name (and a path) than the profile, so it is never guessed.
     */
    instanceRoleArn: z
      .string()
      .regex(
        ROLE_ARN,
        "use the ARN of the IAM role in the instance profile, such as 'arn:aws:iam::111122223333:role/path/name' (the role's ARN, not the instance profile's)",
      )
      .optional(),
    /** KMS key (id, ARN or alias) for the builder's and the image's volumes. */
    kmsKeyId: z.string().min(1).default('alias/aws/ebs'),
    volumeSizeGiB: z.number().int().min(8).max(16384).optional(),
    requireImdsv2: z.boolean().default(true),
    /**
     * Builder and image volumes are always encrypted (with kmsKeyId). The field exists so that
     * `false` fails loudly rather than being ignored: EC2 refuses a KMS key on an unencrypted volume.
     */
    encryptVolumes: z
      .literal(true, {
        error: 'Bakehouse always encrypts builder and image volumes. Fix: remove encryptVolumes, or set a kmsKeyId',
      })
      .default(true),
    /** A bake that runs longer than this is stopped and its builder terminated. */
    timeoutMinutes: z.number().int().min(15).max(720).default(120),
  })
  .superRefine((builder, ctx) => {
    if (builder.instanceProfile !== undefined && builder.instanceRoleArn === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['instanceRoleArn'],
        message: `instance profile '${builder.instanceProfile}' is set, but not the ARN of its role, which the bake and test automations must be allowed to pass to EC2 (the role may be named differently from the profile). Fix: add builder.instanceRoleArn, the ARN that \`aws iam get-instance-profile --instance-profile-name ${builder.instanceProfile} --query 'InstanceProfile.Roles[0].Arn'\` prints`,
      });
    }
    if (builder.instanceProfile === undefined && builder.instanceRoleArn !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['instanceRoleArn'],
        message:
          "without builder.instanceProfile, builders launch with the stack's own profile and role, so this role would never be used. Fix: set builder.instanceProfile to the instance profile that holds this role, or remove instanceRoleArn",
      });
    }
  });

const scriptSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]*$/),
  run: z.string().min(1),
});

const testSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]*$/),
  run: z.string().min(1),
});

/**
 * A CloudWatch statistic GetMetricData takes in a MetricStat: the five basic ones or a percentile
 * pNN / pNN.NN (CloudWatch User Guide, "CloudWatch statistics definitions",
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Statistics-definitions.html).
 */
const CANARY_STATISTIC = /^(Average|Sum|Minimum|Maximum|SampleCount|p(\d{1,2}(\.\d{1,2})?|100))$/;
/** The dimension the canary adds per instance; a configured one would pin every query to one instance. */
const INSTANCE_DIMENSION = 'InstanceId';

/**
 * One metric the canary compares between the baseline and the canary instances. Namespace, metric
 * name and dimension limits are CloudWatch's (API Reference, "Metric" and "Dimension": 1-255
 * characters, a value up to 1024, at most 30 dimensions per metric; the canary adds InstanceId).
 */
const canaryMetricSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9_-]{0,62}$/, "use a short label of letters, digits, _ and -, such as 'latency'"),
  namespace: z
    .string()
    .min(1)
    .max(255)
    .refine((n) => !n.startsWith(':'), "use a CloudWatch namespace such as 'AWS/EC2' or 'MyApp'"),
  metricName: z.string().min(1).max(255),
  dimensions: z
    .record(z.string().min(1).max(255), z.string().min(1).max(1024))
    .default({})
    .superRefine((dimensions, ctx) => {
      if (Object.hasOwn(dimensions, INSTANCE_DIMENSION)) {
        ctx.addIssue({
          code: 'custom',
          path: [INSTANCE_DIMENSION],
          message: `the canary queries every metric once per baseline and canary instance with the ${INSTANCE_DIMENSION} dimension, so it cannot be configured. Fix: remove ${INSTANCE_DIMENSION} from dimensions`,
        });
      }
      if (Object.keys(dimensions).length > 29) {
        ctx.addIssue({
          code: 'custom',
          message: `CloudWatch takes at most 30 dimensions per metric and the canary adds ${INSTANCE_DIMENSION}. Fix: use at most 29 dimensions`,
        });
      }
    }),
  statistic: z
    .string()
    .regex(CANARY_STATISTIC, "use Average, Sum, Minimum, Maximum, SampleCount or a percentile such as 'p99' or 'p99.9'")
    .default('Average'),
  badDirection: z.enum(['increase', 'decrease', 'either']),
  critical: z.boolean().default(false),
  weight: z.number().positive().default(1),
  allowedEffectSize: z.number().min(1).default(1.2),
});

/**
 * The canary stage of a `promoteOn: 'canary'` channel (issue 16): pairs of baseline (the channel's
 * current image) and canary (the new image) instances launched from the Auto Scaling group's
 * launch template, attached to the group, compared metric by metric, and judged.
 */
const canarySchema = z
  .strictObject({
    /** The group whose launch template the pairs launch from, and which they join while judged. */
    autoScalingGroup: z.string().regex(/^[\x21-\x7e]{1,255}$/, 'use the Auto Scaling group name'),
    /** Baseline and canary instances each; AttachInstances takes at most 20 instances at a time. */
    pairs: z.number().int().min(1).max(10).default(1),
    warmupMinutes: z.number().int().min(0).max(120).default(10),
    analysisMinutes: z.number().int().min(1).max(1440).default(60),
    intervalMinutes: z.number().int().min(1).max(1440).default(10),
    metrics: z.array(canaryMetricSchema).min(1, 'list at least one metric to compare'),
    thresholds: z
      .strictObject({
        pass: z.number().min(0).max(100).default(75),
        marginal: z.number().min(0).max(100).default(50),
      })
      .prefault({}),
  })
  .superRefine((canary, ctx) => {
    const issues = ctx.issues.length;
    if (canary.intervalMinutes > canary.analysisMinutes) {
      ctx.addIssue({
        code: 'custom',
        path: ['intervalMinutes'],
        message: `the canary is judged every ${canary.intervalMinutes} minutes but analysed for only ${canary.analysisMinutes}. Fix: set intervalMinutes at or below analysisMinutes`,
      });
    }
    if (canary.thresholds.marginal > canary.thresholds.pass) {
      ctx.addIssue({
        code: 'custom',
        path: ['thresholds', 'marginal'],
        message: `marginal ${canary.thresholds.marginal} is above pass ${canary.thresholds.pass}, so no score would be marginal. Fix: keep 0 <= marginal <= pass <= 100`,
      });
    }
    const names = canary.metrics.map((m) => m.name);
    names.forEach((name, index) => {
      if (names.indexOf(name) !== index) {
        ctx.addIssue({
          code: 'custom',
          path: ['metrics', index, 'name'],
          message: `'${name}' names two metrics; the scorecard tells them apart by name. Fix: give each metric a unique name`,
        });
      }
    });
    // The judge's own check, for whatever the schema above does not already say.
    try {
      validateCanaryConfig(canary);
    } catch (error) {
      if (!(error instanceof InvalidCanaryConfigError)) throw error;
      if (ctx.issues.length === issues) {
        ctx.addIssue({ code: 'custom', message: `${error.message}. Fix: correct the canary block` });
      }
    }
  });

export type CanarySettings = z.output<typeof canarySchema>;
export type CanaryMetricSettings = CanarySettings['metrics'][number];

/** A launch template id: `lt-` and 8 to 17 hex digits (a channel may name its template either way). */
const LAUNCH_TEMPLATE_ID = 'lt-[0-9a-f]{8,17}';
const launchTemplateId = new RegExp(`^${LAUNCH_TEMPLATE_ID}$`);

/** Whether a channel's launch template is named by its id, not by its name. */
export const isLaunchTemplateId = (template: string): boolean => launchTemplateId.test(template);

const channelSchema = z
  .strictObject({
    name: z
      .string()
      .regex(CHANNEL_NAME, 'use lower-case letters, digits and dashes')
      .refine(
        (n) => !(RESERVED_CHANNEL_NAMES as readonly string[]).includes(n),
        `this channel name is reserved. Fix: use a name other than ${RESERVED_CHANNEL_NAMES.join(', ')}`,
      ),
    /** `canary`: moved only when the canary stage judges the tested image `pass` (then `canary` is required). */
    promoteOn: z.enum(['baked', 'tested', 'manual', 'canary']).default('tested'),
    canary: canarySchema.optional(),
    /** Launch templates that get a new version with the channel's AMI on every promotion. */
    launchTemplates: z
      .array(
        z.strictObject({
          /** `lt-…` id or the template's name. */
          template: z
            .string()
            .regex(
              new RegExp(`^(${LAUNCH_TEMPLATE_ID}|[A-Za-z0-9()./_-]{3,128})$`),
              "use a launch template id 'lt-…' or its name",
            ),
          /** Make the new version the template's default (what launches use without a version). */
          makeDefault: z.boolean().default(true),
        }),
      )
      .default([]),
    /** Auto Scaling groups that roll to the new AMI with an instance refresh after the launch templates move. */
    autoScalingGroups: z
      .array(
        z.strictObject({
          name: z.string().regex(/^[\x21-\x7e]{1,255}$/, 'use the Auto Scaling group name'),
          minHealthyPercentage: z.number().int().min(0).max(100).default(90),
        }),
      )
      .default([]),
  })
  .superRefine((channel, ctx) => {
    if (channel.promoteOn === 'canary' && channel.canary === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['canary'],
        message:
          "promoteOn 'canary' moves the channel only when a canary stage judges the new image, and this channel has no canary block to run one. Fix: add canary: { autoScalingGroup, metrics: [...] }, or use promoteOn 'baked', 'tested' or 'manual'",
      });
    }
    if (channel.promoteOn !== 'canary' && channel.canary !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['canary'],
        message: `the channel is promoted on '${channel.promoteOn}', so its canary block would never run. Fix: set promoteOn to 'canary', or remove canary`,
      });
    }
  });

const retentionSchema = z.strictObject({
  keep: z.number().int().min(1).default(3),
  minAgeDays: z.number().int().min(0).default(7),
});

const regionCode = z.string().regex(REGION, "use a region code such as 'eu-west-1'");
const accountId = z.string().regex(ACCOUNT_ID, 'use 12-digit account ids');

/** Where promoted images go besides the home region. Plain strings are shorthands. */
const distributionSchema = z.strictObject({
  /** Copies in other regions, encrypted with the region's KMS key (the default EBS key if none). */
  regions: z
    .array(
      z.union([
        regionCode.transform((region) => ({ region, kmsKeyId: undefined as string | undefined })),
        z.strictObject({ region: regionCode, kmsKeyId: z.string().min(1).optional() }),
      ]),
    )
    .default([]),
  /** Accounts given launch permission; with `tagRoleArn`, the image's tags are re-applied there. */
  accounts: z
    .array(
      z.union([
        accountId.transform((account) => ({ account, tagRoleArn: undefined as string | undefined })),
        z.strictObject({
          account: accountId,
          tagRoleArn: z
            .string()
            .regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/, 'use an IAM role ARN')
            .optional(),
        }),
      ]),
    )
    .default([]),
});

const packages = z.array(z.string().regex(PACKAGE_NAME, 'use package names of letters, digits and ._+:~*@=-'));

const common = {
  name: z.string().regex(FAMILY_NAME, 'use 3-40 lower-case letters, digits and dashes, starting with a letter'),
  description: z.string().max(256).default(''),
  architecture: z.enum(['x86_64', 'arm64']).default('x86_64'),
  source: sourceSchema,
  schedule: scheduleSchema.optional(),
  builder: builderSchema,
  preScript: z.string().default(''),
  postScript: z.string().default(''),
  tests: z.array(testSchema).default([]),
  channels: z.array(channelSchema).prefault([{ name: 'stable', promoteOn: 'tested' }]),
  retention: retentionSchema.prefault({}),
  distribution: distributionSchema.prefault({}),
  /** Extra tags for the family's images; EC2 refuses keys under the `aws:` prefix. */
  tags: z
    .record(
      z
        .string()
        .min(1)
        .max(128)
        .refine(
          (key) => !key.toLowerCase().startsWith('aws:'),
          "tag keys starting with 'aws:' are reserved by AWS. Fix: drop the 'aws:' prefix",
        ),
      z.string().max(256),
    )
    .default({}),
  /** Slack routing of this family's messages (issue 6); the settings' channel when absent. */
  slack: z
    .strictObject({
      channel: z
        .string()
        .regex(/^(#[a-z0-9][a-z0-9._-]{0,79}|[CG][A-Z0-9]{6,})$/, "use a channel such as '#team-images' or its id 'C…'")
        .optional(),
      /** Who is mentioned when a bake fails: user groups `<!subteam^S…>` or users `<@U…>`. */
      mentionOnFailure: z
        .array(
          z.string().regex(/^<(!subteam\^[A-Z0-9]+|@[UW][A-Z0-9]+)>$/, "use '<!subteam^S0123ABCD>' or '<@U0123ABCD>'"),
        )
        .default([]),
      /** Skipped bakes (nothing new to bake) produce no message. */
      quiet: z.boolean().default(false),
    })
    .optional(),
};

export const linuxFamilySchema = z.strictObject({
  ...common,
  os: z.literal('linux'),
  patch: z
    .strictObject({
      includePackages: packages.default([]),
      excludePackages: packages.default([]),
      securityOnly: z.boolean().default(false),
      /**
       * Amazon Linux 2023 locks every image to one release, so patching within it finds nothing
       * newer than the image: the patch step upgrades to this release instead. `latest` (the
       * default for families whose lineage starts at an Amazon Linux 2023 source) follows AWS's
       * newest release; a release version such as '2023.9.20261122.0' pins one. Systems without
       * release locking (apt, yum) ignore it.
       */
      release: z
        .string()
        .refine(
          (value) => value === 'latest' || AL2023_RELEASE.test(value),
          "use 'latest' or an Amazon Linux 2023 release version such as '2023.9.20261122.0' (see the AL2023 release notes), not a package version or an AMI id",
        )
        .optional(),
    })
    .prefault({}),
  install: z
    .strictObject({
      packages: packages.default([]),
      scripts: z.array(scriptSchema).default([]),
    })
    .prefault({}),
});

export const windowsFamilySchema = z.strictObject({
  ...common,
  os: z.literal('windows'),
  patch: z
    .strictObject({
      categories: z
        .array(
          z.enum([
            'CriticalUpdates',
            'DefinitionUpdates',
            'Drivers',
            'FeaturePacks',
            'SecurityUpdates',
            'ServicePacks',
            'Tools',
            'UpdateRollups',
            'Updates',
          ]),
        )
        .default(['CriticalUpdates', 'SecurityUpdates', 'UpdateRollups']),
      severityLevels: z.array(z.enum(['Critical', 'Important', 'Moderate', 'Low', 'Unspecified'])).default([]),
      includeKbs: z.array(z.string().regex(KB_ID, "use KB ids such as 'KB5034439'")).default([]),
      excludeKbs: z.array(z.string().regex(KB_ID, "use KB ids such as 'KB5034439'")).default([]),
    })
    .prefault({}),
  install: z
    .strictObject({
      chocolatey: z
        .strictObject({
          /** Internal feed (Artifactory, Nexus, ProGet...) that serves chocolatey itself and the packages. */
          source: z.url({ protocol: /^https$/, error: 'use an https:// URL of your internal feed' }),
          packages: packages.default([]),
        })
        .optional(),
      scripts: z.array(scriptSchema).default([]),
    })
    .prefault({}),
});

export const familySchema = z.discriminatedUnion('os', [linuxFamilySchema, windowsFamilySchema], {
  error: () => "set os to 'linux' or 'windows'",
});

export const settingsSchema = z.strictObject({
  /** The `source` of every event Bakehouse publishes. */
  eventSource: z.string().min(1).default('bakehouse'),
  /** Where channel parameters live: `<prefix>/<family>/<channel>`. */
  parameterPrefix: z
    .string()
    .regex(/^\/[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/, "use a path such as '/bakehouse'")
    .default('/bakehouse'),
  /** Accounts allowed to put `Bake Requested` on the bus. */
  bakeRequestAccounts: z.array(z.string().regex(ACCOUNT_ID, 'use 12-digit account ids')).default([]),
  /** An AWS Organization whose accounts may put `Bake Requested` on the bus. */
  bakeRequestOrganizationId: z
    .string()
    .regex(/^o-[a-z0-9]{10,32}$/, "use an organization id such as 'o-abc123def4'")
    .optional(),
  /**
   * Other teams' event buses that receive Bakehouse events (cross-account rules). Each needs a
   * bus policy on its side that lets this account put events.
   */
  subscribers: z
    .array(
      z.strictObject({
        name: z.string().regex(/^[A-Za-z0-9-]{1,40}$/, 'use letters, digits and dashes'),
        eventBusArn: z
          .string()
          .regex(/^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus\/[\w.\-/]+$/, 'use an event bus ARN'),
        detailTypes: z.array(z.string().min(1)).min(1).default(['AMI Promoted']),
      }),
    )
    .default([]),
  /** Builder instances carry an expiry tag this many hours after launch, for the stray reaper. */
  builderExpiryHours: z.number().int().min(1).max(48).default(6),
  /** The nightly janitor (issue 7): prunes unused managed AMIs and orphaned snapshots, in stages. */
  janitor: z
    .strictObject({
      /** Report only; a direct invoke with `{"dryRun": false}` overrides it for one run. */
      dryRun: z.boolean().default(true),
      schedule: cronSchedule.prefault({ cron: '0 2 * * ? *', timezone: 'UTC' }),
      keepNewest: z.number().int().min(1).default(3),
      minAgeDays: z.number().int().min(0).default(7),
      recentLaunchDays: z.number().int().min(1).default(30),
      graceDays: z.number().int().min(1).default(7),
      maxActionsPerRun: z.number().int().min(1).max(10_000).default(200),
      maxInUseShrink: z.number().min(0).max(1).default(0.5),
      /**
       * SSM parameters the janitor cannot read (access denied, InvalidParameters, a read that failed
       * after the SDK's retries) may hold AMI ids it would then not protect. `stop` (fail closed):
       * the run plans and changes nothing and names them; `continue`: it runs without them and
       * still names them in the report.
       */
      unreadableParameters: z
        .enum(['stop', 'continue'], {
          error:
            "use 'stop' (an SSM parameter the janitor cannot read stops the run: the default) or 'continue' (run without it, and name it in the report)",
        })
        .default('stop'),
    })
    .prefault({}),
  /** Slack notifications (issue 6): the default channel; the token or webhook URL lives in Secrets Manager. */
  slack: z
    .strictObject({
      channel: z
        .string()
        .regex(/^(#[a-z0-9][a-z0-9._-]{0,79}|[CG][A-Z0-9]{6,})$/, "use a channel such as '#bakehouse' or its id 'C…'")
        .default('#bakehouse'),
      /** The secret's name; default `bakehouse/<stage>/slack`, created by the stack. */
      secretName: z
        .string()
        .regex(/^[A-Za-z0-9/_+=.@-]{1,512}$/, 'use a Secrets Manager secret name')
        .optional(),
    })
    .prefault({}),
});

export const configSchema = z.strictObject({
  settings: settingsSchema.prefault({}),
  families: z.array(familySchema).min(1, 'declare at least one family'),
});

export type FamilyInput = z.input<typeof familySchema>;
export type Family = z.output<typeof familySchema>;
export type LinuxFamily = z.output<typeof linuxFamilySchema>;
export type WindowsFamily = z.output<typeof windowsFamilySchema>;
export type Schedule = z.output<typeof scheduleSchema>;
export type FamilySource = Family['source'];
export type Settings = z.output<typeof settingsSchema>;
export type ConfigInput = z.input<typeof configSchema>;

export interface BakehouseConfig {
  readonly settings: Settings;
  readonly families: readonly Family[];
}

/** Identity for typed authoring with editor completion; validation happens in `loadConfig`. */
export const defineConfig = (config: ConfigInput): ConfigInput => config;

const describePath = (input: unknown, path: readonly PropertyKey[]): string => {
  // families[3].builder.subnetId -> "family 'al2023-base': builder.subnetId"
  if (path[0] === 'families' && typeof path[1] === 'number') {
    const families = (input as { families?: unknown[] } | undefined)?.families;
    const raw = families?.[path[1]] as { name?: unknown } | undefined;
    const who = typeof raw?.name === 'string' ? `family '${raw.name}'` : `families[${path[1]}]`;
    const field = path.slice(2).map(String).join('.');
    return field ? `${who}: ${field}` : who;
  }
  return path.map(String).join('.') || '(config)';
};

/**
 * The AWS managed EBS key (`aws/ebs`), by alias name or alias ARN. A key id or key ARN of it cannot
 * be told from a customer managed key offline.
 */
const AWS_MANAGED_EBS_KEY = /(^|:)alias\/aws\/ebs$/;

/**
 * An image whose snapshots are encrypted with the AWS managed key cannot be shared: AWS lets other
 * accounts use only AMIs whose snapshots are unencrypted or encrypted with a customer managed key
 * whose key policy lets them use it (EC2 User Guide, "Share an AMI with specific AWS accounts",
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/sharingamis-explicit.html). distribution.accounts
 * shares the home image (builder.kmsKeyId) and every regional copy (its kmsKeyId), so each of those
 * keys must be a customer managed key. A copy without a kmsKeyId takes the region's EBS default
 * key, which an account may have set to a customer managed key: only that cannot be checked here.
 */
const sharingProblems = (family: Family): string[] => {
  if (family.distribution.accounts.length === 0) return [];
  const accounts = family.distribution.accounts.map((entry) => entry.account).join(', ');
  const fix =
    'Fix: use a customer managed KMS key whose key policy lets those accounts (and their Auto Scaling service-linked role) use it, as the README says under "Distribution to other accounts", or remove distribution.accounts';
  const problems: string[] = [];
  if (AWS_MANAGED_EBS_KEY.test(family.builder.kmsKeyId)) {
    problems.push(
      `family '${family.name}': builder.kmsKeyId: the builder's volumes, and so the image's snapshots, are encrypted with the AWS managed key '${family.builder.kmsKeyId}'${family.builder.kmsKeyId === 'alias/aws/ebs' ? ' (the default)' : ''}, and AWS does not share an AMI whose snapshots use the AWS managed key, but distribution.accounts shares it with ${accounts}. ${fix.replace('use a customer', 'set builder.kmsKeyId to a customer')}`,
    );
  }
  family.distribution.regions.forEach((target, index) => {
    if (target.kmsKeyId !== undefined && AWS_MANAGED_EBS_KEY.test(target.kmsKeyId)) {
      problems.push(
        `family '${family.name}': distribution.regions.${index}.kmsKeyId: the copy in ${target.region} is encrypted with the AWS managed key '${target.kmsKeyId}', and AWS does not share an AMI whose snapshots use the AWS managed key, but distribution.accounts shares it with ${accounts}. ${fix.replace('use a customer', `set distribution.regions.${index}.kmsKeyId to a customer`)}`,
      );
    }
  });
  return problems;
};

const crossFamilyProblems = (families: readonly Family[]): string[] => {
  const problems: string[] = [];
  for (const family of families) problems.push(...sharingProblems(family));
  for (const family of families) problems.push(...renderedValueProblems(family));
  for (const family of families) {
    for (const [parameter, value] of Object.entries(familyDocumentValues(family))) {
      if (value.length > MAX_AUTOMATION_PARAMETER_LENGTH) {
        problems.push(
          `family '${family.name}': ${PARAMETER_FIELDS[parameter] ?? parameter}: renders to ${value.length} characters, but SSM Automation takes at most ${MAX_AUTOMATION_PARAMETER_LENGTH} per parameter. Fix: keep inline scripts and lists short; ship longer logic as a package (install.packages) or bake it into a parent family`,
        );
      }
    }
  }
  for (const family of families) {
    if (family.os === 'linux' && family.patch.release !== undefined && isReleaseLocked(family, families) === false) {
      problems.push(
        `family '${family.name}': patch.release: '${family.patch.release}' is an Amazon Linux 2023 release policy, but the family's images come from a source that is not Amazon Linux 2023, whose package manager has no releases to follow. Fix: remove patch.release`,
      );
    }
  }
  const byName = new Map<string, Family>();
  for (const family of families) {
    if (byName.has(family.name)) {
      problems.push(`family '${family.name}': name is declared twice. Fix: give each family a unique name`);
    }
    byName.set(family.name, family);
    const channels = family.channels.map((c) => c.name);
    const duplicate = channels.find((c, i) => channels.indexOf(c) !== i);
    if (duplicate) {
      problems.push(`family '${family.name}': channels: '${duplicate}' is listed twice. Fix: list each channel once`);
    }
    const canaries = family.channels.filter((c) => c.promoteOn === 'canary').map((c) => c.name);
    if (canaries.length > 1) {
      problems.push(
        `family '${family.name}': channels: ${canaries.map((c) => `'${c}'`).join(' and ')} are both promoted on 'canary', but a family runs one canary per tested image. Fix: keep promoteOn 'canary' on one channel only`,
      );
    }
    if (channels.includes(CANDIDATE_CHANNEL)) {
      problems.push(
        `family '${family.name}': channels: '${CANDIDATE_CHANNEL}' is written by every bake. Fix: remove it from channels`,
      );
    }
  }
  for (const family of families) {
    if (!('family' in family.source)) continue;
    const parent = byName.get(family.source.family);
    if (!parent) {
      problems.push(
        `family '${family.name}': source.family: no family named '${family.source.family}'. Fix: name one of ${[...byName.keys()].join(', ')}`,
      );
      continue;
    }
    const parentChannels = [CANDIDATE_CHANNEL, ...parent.channels.map((c) => c.name)];
    if (!parentChannels.includes(family.source.channel)) {
      problems.push(
        `family '${family.name}': source.channel: family '${parent.name}' has no channel '${family.source.channel}'. Fix: use one of ${parentChannels.join(', ')}`,
      );
    }
    if (parent.os !== family.os) {
      problems.push(
        `family '${family.name}': os: it is '${family.os}' but its parent '${parent.name}' is '${parent.os}'. Fix: build on a family of the same OS`,
      );
    }
  }
  // A family built on itself, directly or through others, could never bake.
  for (const family of families) {
    const seen = new Set<string>([family.name]);
    let current: Family | undefined = family;
    while (current && 'family' in current.source) {
      const parentName: string = current.source.family;
      if (seen.has(parentName)) {
        problems.push(
          `family '${family.name}': source.family: the chain ${[...seen, parentName].join(' -> ')} is a cycle. Fix: build the foundation from an SSM parameter or an AMI filter`,
        );
        break;
      }
      seen.add(parentName);
      current = byName.get(parentName);
    }
  }
  return problems;
};

const englishError = z.locales.en().localeError;

/** The fix for zod's own issues, the ones the schema gives no message of its own. */
const fixOf = (issue: z.core.$ZodRawIssue): string => {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined ? 'Fix: add this field' : `Fix: give a value of type ${issue.expected}`;
    case 'too_small':
      return `Fix: use ${issue.origin === 'array' ? 'at least ' : issue.origin === 'string' ? 'a length of at least ' : ''}${issue.minimum}${issue.origin === 'number' ? ' or more' : ''}`;
    case 'too_big':
      return `Fix: use ${issue.origin === 'array' ? 'at most ' : issue.origin === 'string' ? 'a length of at most ' : ''}${issue.maximum}${issue.origin === 'number' ? ' or less' : ''}`;
    case 'invalid_value':
      return `Fix: use one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'unrecognized_keys':
      return `Fix: remove ${issue.keys.join(', ')} or correct the spelling`;
    case 'invalid_format':
      return issue.pattern ? `Fix: use a value matching ${issue.pattern}` : `Fix: use a valid ${issue.format}`;
    default:
      return 'Fix: correct this value';
  }
};

/** zod's wording followed by the fix; messages the schema spells out take precedence over this. */
const problemWithFix: z.core.$ZodErrorMap = (issue) => {
  const english = englishError(issue);
  const problem = typeof english === 'string' ? english : (english?.message ?? 'Invalid input');
  return `${problem}. ${fixOf(issue)}`;
};

/** Schema messages are phrased as the fix ("use a subnet id such as ..."); say so when they do not. */
const withFix = (message: string): string => (message.includes('Fix:') ? message : `Fix: ${message}`);

/** Validates raw configuration; throws `ConfigError` naming every family, field and fix. */
export const loadConfig = (input: unknown): BakehouseConfig => {
  const parsed = configSchema.safeParse(input, { error: problemWithFix });
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => `${describePath(input, issue.path)}: ${withFix(issue.message)}`),
    );
  }
  const problems = crossFamilyProblems(parsed.data.families);
  if (problems.length > 0) throw new ConfigError(problems);
  return parsed.data;
};

export { canaryChannelOf } from './canary-channel';
// Lookups over a validated config live in family-lookup.ts, which functions import without zod.
export { ancestorsOf, CANDIDATE_CHANNEL, channelParameterName, findFamily } from './family-lookup';

/** The esbuild/Vite `define` that compiles a validated config into function bundles (see commons/config.ts). */
export const CONFIG_DEFINE = '__BAKEHOUSE_CONFIG__';

export const bundleDefines = (config: BakehouseConfig): Record<string, string> => ({
  [CONFIG_DEFINE]: JSON.stringify(config),
});
