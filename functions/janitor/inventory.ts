/**
 * The janitor's inventory: reads everything that can protect an image into a `World` (model.ts),
 * every list call followed through all its pages at its largest page size (`PAGE_SIZE`), and the
 * launch permissions of only the images whose permissions can change the plan (one
 * DescribeImageAttribute call each: `launchPermissionsFor`). Fail closed: any error (throttling that outlived
 * the SDK's adaptive retries included) or a truncated page throws `InventoryError` naming the call,
 * and the run stops before anything is touched.
 */
import {
  type AutoScalingClient,
  type AutoScalingGroup,
  DescribeAutoScalingGroupsCommand,
  DescribeLaunchConfigurationsCommand,
  type LaunchTemplateSpecification,
} from '@aws-sdk/client-auto-scaling';
import {
  DescribeImageAttributeCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplatesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeSnapshotsCommand,
  type EC2Client,
  type Tag as Ec2Tag,
  type Image,
} from '@aws-sdk/client-ec2';
import {
  DescribeParametersCommand,
  GetParameterHistoryCommand,
  GetParametersCommand,
  type GetParametersCommandOutput,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { Tag } from '../commons/bake-plan';
import { errorNameOf, messageOf } from '../commons/errors';
import { InventoryError } from './errors';
import type {
  World,
  WorldAutoScalingGroup,
  WorldImage,
  WorldInstance,
  WorldLaunchTemplateVersion,
  WorldParameter,
  WorldSnapshot,
} from './model';
import { amiIdsIn, type LaunchPermissionReads, parseResolveSsm } from './plan';

export interface InventoryDeps {
  readonly ec2: Pick<EC2Client, 'send'>;
  readonly autoScaling: Pick<AutoScalingClient, 'send'>;
  readonly ssm: Pick<SSMClient, 'send'>;
  readonly account: string;
  /** `settings.parameterPrefix`: channels live under it. */
  readonly parameterPrefix: string;
  readonly clock: () => Date;
  /** Parallel per-item calls (image attributes, template versions, parameter histories). */
  readonly concurrency?: number;
  /**
   * The images whose launch permissions decide the plan, given the world with only public images
   * known as shared (plan.ts `imagesWhereLaunchPermissionsDecide`, bound to the run's settings).
   * Absent: every managed image's are read (one DescribeImageAttribute call each).
   */
  readonly launchPermissionsFor?: (world: World) => readonly string[] | LaunchPermissionReads;
  /**
   * The run's time budget: checked before each batch of launch permission reads after the first;
   * once false, the rest are not read (`launchPermissionsDeferred`) and their images are kept this run. Absent:
   * no limit.
   */
  readonly keepReading?: () => boolean;
  /**
   * Launch permissions the run's earlier parts read (checkpoint.ts): taken as read, not asked again
   * (`launchPermissionsKnown`).
   */
  readonly knownLaunchPermissions?: ReadonlyMap<string, readonly string[]>;
}

/** A parameter whose value the janitor could not read, and why (never its value). */
export interface UnreadableParameter {
  readonly name: string;
  readonly error: string;
}

/** How much of the account's Parameter Store the inventory read. */
export interface ParameterCoverage {
  /** Parameters DescribeParameters listed (the account's own, every type). */
  readonly listed: number;
  /** Values read (listed ones and those templates resolve outside the listing). */
  readonly read: number;
  /** SecureString parameters, not read: the janitor never decrypts (it holds no kms:Decrypt). */
  readonly secureStrings: readonly string[];
  /** Parameters that could not be read: access denied, InvalidParameters, a failure after the SDK's retries. */
  readonly unreadable: readonly UnreadableParameter[];
}

export interface Inventory {
  readonly world: World;
  /** Calls made, per API action (Describe*, Get*): the bench compares them with the minimum. */
  readonly calls: Readonly<Record<string, number>>;
  readonly parameters: ParameterCoverage;
  /**
   * The images whose launch permissions were read (DescribeImageAttribute). Every other image's
   * `launchPermissions` holds only what DescribeImages says (`Public`: `all`).
   */
  readonly launchPermissionsRead: readonly string[];
  /**
   * The images whose launch permissions decide but were not read because `keepReading` turned
   * false: their world images carry `launchPermissionsUnread`, and the plan keeps them (`deferred`).
   */
  readonly launchPermissionsDeferred?: readonly string[];
  /** The images whose permissions came from `knownLaunchPermissions` (earlier parts), not a call. */
  readonly launchPermissionsKnown?: readonly string[];
  /** The permissions this part read with DescribeImageAttribute, for the checkpoint. */
  readonly launchPermissionsByImage?: ReadonlyMap<string, readonly string[]>;
}

/** GetParameters takes at most 10 names (SSM API Reference, GetParameters: Names, "Maximum number of 10 items"). */
export const GET_PARAMETERS_MAX_NAMES = 10;

/**
 * Every listing at the largest page its API allows: fewer calls against the request-rate buckets.
 * - DescribeImages, DescribeSnapshots, DescribeInstances: MaxResults 5–1000 (Amazon EC2 API
 *   Reference, each action's MaxResults, and "Pagination"; EC2 answers InvalidParameterValue outside).
 * - DescribeLaunchTemplates, DescribeLaunchTemplateVersions: MaxResults "between 1 and 200" (Amazon
 *   EC2 API Reference, DescribeLaunchTemplates and DescribeLaunchTemplateVersions).
 * - DescribeAutoScalingGroups, DescribeLaunchConfigurations: MaxRecords "default 50, maximum 100"
 *   (Amazon EC2 Auto Scaling API Reference, DescribeAutoScalingGroups and DescribeLaunchConfigurations).
 * - DescribeParameters, GetParameterHistory: MaxResults 1–50 (AWS Systems Manager API Reference,
 *   DescribeParameters and GetParameterHistory: MaxResults, Valid Range).
 * - GetParameters: 10 names a call (above).
 * DescribeImageAttribute reads one image a call, with no batch form: see `launchPermissionsFor`.
 */
export const PAGE_SIZE = {
  DescribeImages: 1000,
  DescribeSnapshots: 1000,
  DescribeInstances: 1000,
  DescribeLaunchTemplates: 200,
  DescribeLaunchTemplateVersions: 200,
  DescribeAutoScalingGroups: 100,
  DescribeLaunchConfigurations: 100,
  DescribeParameters: 50,
  GetParameters: GET_PARAMETERS_MAX_NAMES,
  GetParameterHistory: 50,
} as const;

const AMI_ID = /^ami-[0-9a-f]{8,17}$/;
/** Instance states that still hold (or can start) an image. */
const LIVE_STATES = ['pending', 'running', 'shutting-down', 'stopping', 'stopped'];
/** Safety stop: no real account lists this many pages of one call; a service that does is looping. */
const MAX_PAGES = 100_000;

const tagsOf = (tags: readonly Ec2Tag[] | undefined): Record<string, string> =>
  Object.fromEntries((tags ?? []).flatMap((t) => (t.Key === undefined ? [] : [[t.Key, t.Value ?? '']])));

const isoOf = (value: Date | string | undefined): string | undefined =>
  value === undefined ? undefined : value instanceof Date ? value.toISOString() : value;

/** Runs `work` over `items`, at most `limit` at a time, results in order; the first error wins. */
export const mapLimit = async <T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> => {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
};

/** One run's reader: counts calls and turns every failure into an `InventoryError`. */
class Reader {
  readonly calls: Record<string, number> = {};

  async call<R>(name: string, send: () => Promise<R>): Promise<R> {
    this.calls[name] = (this.calls[name] ?? 0) + 1;
    try {
      return await send();
    } catch (error) {
      throw new InventoryError(name, describeError(error), { cause: error });
    }
  }

  /** One call whose failure the caller handles: counted, never thrown. */
  async attempt<R>(
    name: string,
    send: () => Promise<R>,
  ): Promise<{ ok: true; value: R } | { ok: false; error: unknown }> {
    this.calls[name] = (this.calls[name] ?? 0) + 1;
    try {
      return { ok: true, value: await send() };
    } catch (error) {
      return { ok: false, error };
    }
  }

  /** Every page of a list call; a repeated token (a page that cannot be continued) is a truncation. */
  async all<Page, Item>(
    name: string,
    fetch: (token: string | undefined) => Promise<Page>,
    itemsOf: (page: Page) => readonly Item[] | undefined,
    tokenOf: (page: Page) => string | undefined,
  ): Promise<Item[]> {
    const items: Item[] = [];
    const seen = new Set<string>();
    let token: string | undefined;
    for (let pages = 0; ; pages++) {
      if (pages >= MAX_PAGES) throw new InventoryError(name, `more than ${MAX_PAGES} pages: the listing is looping`);
      const page = await this.call(name, () => fetch(token));
      items.push(...(itemsOf(page) ?? []));
      const nextToken = tokenOf(page);
      if (!nextToken) return items;
      if (seen.has(nextToken)) {
        throw new InventoryError(name, 'the service repeated a page token: the listing is truncated');
      }
      seen.add(nextToken);
      token = nextToken;
    }
  }
}

const describeError = (error: unknown): string => `${errorNameOf(error) ?? 'Error'}: ${messageOf(error)}`;

const worldImage = (image: Image, launchPermissions: readonly string[]): WorldImage => ({
  id: image.ImageId ?? '',
  name: image.Name ?? '',
  ownerId: image.OwnerId ?? '',
  creationDate: image.CreationDate ?? '',
  state: image.State ?? 'unknown',
  lastLaunchedTime: isoOf(image.LastLaunchedTime),
  deprecationTime: isoOf(image.DeprecationTime),
  // `disabled`, `disabled-until-…` mean off; anything else (enabled…, or an unknown value) protects.
  deregistrationProtection:
    image.DeregistrationProtection !== undefined && !image.DeregistrationProtection.startsWith('disabled'),
  launchPermissions,
  snapshotIds: (image.BlockDeviceMappings ?? []).flatMap((m) => (m.Ebs?.SnapshotId ? [m.Ebs.SnapshotId] : [])),
  tags: tagsOf(image.Tags),
});

const isManaged = (image: Image): boolean => tagsOf(image.Tags)[Tag.Managed] === 'true';

/** The launch templates a group uses: its own, or its mixed instances policy's and overrides'. */
const templatesOfGroup = (group: AutoScalingGroup): WorldAutoScalingGroup['launchTemplates'] => {
  const spec = (s: LaunchTemplateSpecification | undefined) =>
    s
      ? [
          {
            ...(s.LaunchTemplateId ? { id: s.LaunchTemplateId } : {}),
            ...(s.LaunchTemplateName ? { name: s.LaunchTemplateName } : {}),
            ...(s.Version ? { version: s.Version } : {}),
          },
        ]
      : [];
  const mixed = group.MixedInstancesPolicy?.LaunchTemplate;
  return [
    ...spec(group.LaunchTemplate),
    ...spec(mixed?.LaunchTemplateSpecification),
    ...(mixed?.Overrides ?? []).flatMap((o) => spec(o.LaunchTemplateSpecification)),
  ];
};

/** Is this parameter a Bakehouse channel (`<prefix>/<family>/<channel>`, not an internal `_…` path)? */
const isChannel = (prefix: string, name: string): boolean => {
  if (!name.startsWith(`${prefix}/`)) return false;
  const rest = name.slice(prefix.length + 1).split('/');
  return rest.length === 2 && !rest.some((part) => part.startsWith('_'));
};

/** SSM's answer when IAM refuses (SSM API Reference, Common Errors: AccessDeniedException). */
const ACCESS_DENIED = 'AccessDeniedException';

/**
 * Every parameter of the account, read without decryption. DescribeParameters with no filter
 * lists them all (every page: a page may hold fewer than MaxResults, even none, and still carry a
 * NextToken: SSM API Reference, DescribeParameters); GetParameters reads the values 10 names at a
 * time. Parameters templates resolve that the listing does not hold (public `/aws/service/…`
 * parameters, ones shared by ARN) are read too.
 *
 * SecureStrings are skipped and named: decrypting needs kms:Decrypt, which the janitor must never
 * hold, and without decryption GetParameters returns ciphertext, in which no id can be found. They
 * cannot hold an id a template resolves: `resolve:ssm:` reads parameters of data type
 * `aws:ec2:image` (EC2 User Guide, "Reference AMIs using Systems Manager parameters"), a data type
 * only String parameters take (SSM API Reference, PutParameter: DataType, "The data type for a
 * String parameter").
 *
 * IAM authorizes GetParameters against every name in the call, so one name the role may not read
 * refuses the whole batch: a batch refused with AccessDeniedException is read again one name at a
 * time to find which. A batch that fails otherwise (after the SDK's retries) leaves its names
 * unreadable; a listed name in InvalidParameters is unreadable too (it changed between the listing
 * and the read). None of these throws: the caller decides, by `settings.janitor.unreadableParameters`,
 * whether an incomplete read stops the run. A name only a template knows that SSM calls invalid is
 * a dangling reference (launches from it fail), not a parameter that could hold an id.
 */
const readParameters = async (
  reader: Reader,
  deps: InventoryDeps,
  versions: readonly WorldLaunchTemplateVersion[],
  limit: number,
) => {
  const { ssm } = deps;
  const listed = await reader.all(
    'DescribeParameters',
    (NextToken) => ssm.send(new DescribeParametersCommand({ MaxResults: PAGE_SIZE.DescribeParameters, NextToken })),
    (p) => p.Parameters,
    (p) => p.NextToken,
  );
  const secureStrings: string[] = [];
  const readable = new Set<string>();
  for (const p of listed) {
    if (!p.Name) continue;
    if (p.Type === 'SecureString') secureStrings.push(p.Name);
    else readable.add(p.Name);
  }
  const secure = new Set(secureStrings);
  // `resolve:ssm:name`, `…:version`, `…:label` or an ARN: read by base name; a pinned one needs history.
  const references = versions.flatMap((v) => (v.imageId ? (parseResolveSsm(v.imageId) ?? []) : []));
  const referenced = new Set(references.map((r) => r.name));
  const pinned = new Set(references.filter((r) => r.pinned).map((r) => r.name));
  const toRead = [...new Set([...readable, ...[...referenced].filter((name) => !secure.has(name))])];

  const values = new Map<string, string>();
  const unreadable: UnreadableParameter[] = [];
  const take = (page: GetParametersCommandOutput): void => {
    for (const p of page.Parameters ?? []) {
      if (p.Name && p.Value !== undefined && p.Type !== 'SecureString') values.set(p.Name, p.Value);
    }
    for (const name of page.InvalidParameters ?? []) {
      if (readable.has(name)) {
        unreadable.push({ name, error: 'InvalidParameters: SSM could not read it (changed since it was listed?)' });
      }
    }
  };
  const get = (Names: string[]) => ssm.send(new GetParametersCommand({ Names }));
  const batches: string[][] = [];
  for (let i = 0; i < toRead.length; i += GET_PARAMETERS_MAX_NAMES) {
    batches.push(toRead.slice(i, i + GET_PARAMETERS_MAX_NAMES));
  }
  await mapLimit(batches, limit, async (names) => {
    const batch = await reader.attempt('GetParameters', () => get(names));
    if (batch.ok) return take(batch.value);
    if (errorNameOf(batch.error) !== ACCESS_DENIED || names.length === 1) {
      for (const name of names) unreadable.push({ name, error: describeError(batch.error) });
      return;
    }
    for (const name of names) {
      const one = await reader.attempt('GetParameters', () => get([name]));
      if (one.ok) take(one.value);
      else unreadable.push({ name, error: describeError(one.error) });
    }
  });
  unreadable.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const coverage: ParameterCoverage = {
    listed: listed.length,
    read: values.size,
    secureStrings: secureStrings.sort(),
    unreadable,
  };
  return { values, coverage, referenced, pinned };
};

/** Reads the whole World. Throws `InventoryError` on anything incomplete. */
export const readInventory = async (deps: InventoryDeps): Promise<Inventory> => {
  const reader = new Reader();
  const limit = deps.concurrency ?? 4;
  const { ec2, ssm, autoScaling } = deps;
  const prefix = deps.parameterPrefix;

  const [images, snapshots, instances, templates, groups, launchConfigurations] = await Promise.all([
    reader.all(
      'DescribeImages',
      (NextToken) =>
        ec2.send(
          new DescribeImagesCommand({
            Owners: ['self'],
            IncludeDisabled: true,
            IncludeDeprecated: true,
            MaxResults: PAGE_SIZE.DescribeImages,
            NextToken,
          }),
        ),
      (p) => p.Images,
      (p) => p.NextToken,
    ),
    reader.all(
      'DescribeSnapshots',
      (NextToken) =>
        ec2.send(
          new DescribeSnapshotsCommand({ OwnerIds: ['self'], MaxResults: PAGE_SIZE.DescribeSnapshots, NextToken }),
        ),
      (p) => p.Snapshots,
      (p) => p.NextToken,
    ),
    reader.all(
      'DescribeInstances',
      (NextToken) =>
        ec2.send(
          new DescribeInstancesCommand({
            Filters: [{ Name: 'instance-state-name', Values: LIVE_STATES }],
            MaxResults: PAGE_SIZE.DescribeInstances,
            NextToken,
          }),
        ),
      (p) => (p.Reservations ?? []).flatMap((r) => r.Instances ?? []),
      (p) => p.NextToken,
    ),
    reader.all(
      'DescribeLaunchTemplates',
      (NextToken) =>
        ec2.send(new DescribeLaunchTemplatesCommand({ MaxResults: PAGE_SIZE.DescribeLaunchTemplates, NextToken })),
      (p) => p.LaunchTemplates,
      (p) => p.NextToken,
    ),
    reader.all(
      'DescribeAutoScalingGroups',
      (NextToken) =>
        autoScaling.send(
          new DescribeAutoScalingGroupsCommand({ MaxRecords: PAGE_SIZE.DescribeAutoScalingGroups, NextToken }),
        ),
      (p) => p.AutoScalingGroups,
      (p) => p.NextToken,
    ),
    reader.all(
      'DescribeLaunchConfigurations',
      (NextToken) =>
        autoScaling.send(
          new DescribeLaunchConfigurationsCommand({ MaxRecords: PAGE_SIZE.DescribeLaunchConfigurations, NextToken }),
        ),
      (p) => p.LaunchConfigurations,
      (p) => p.NextToken,
    ),
  ]);

  // Every version of every template, not only $Default and $Latest.
  const versionLists = await mapLimit(templates, limit, (template) =>
    reader.all(
      'DescribeLaunchTemplateVersions',
      (NextToken) =>
        ec2.send(
          new DescribeLaunchTemplateVersionsCommand({
            LaunchTemplateId: template.LaunchTemplateId,
            MaxResults: PAGE_SIZE.DescribeLaunchTemplateVersions,
            NextToken,
          }),
        ),
      (p) => p.LaunchTemplateVersions,
      (p) => p.NextToken,
    ),
  );
  const launchTemplateVersions: WorldLaunchTemplateVersion[] = versionLists.flat().map((v) => ({
    templateId: v.LaunchTemplateId ?? '',
    templateName: v.LaunchTemplateName ?? '',
    version: v.VersionNumber ?? 0,
    imageId: v.LaunchTemplateData?.ImageId,
  }));

  const { values, coverage, referenced, pinned } = await readParameters(reader, deps, launchTemplateVersions, limit);
  const kept = [...values].filter(
    ([name, value]) =>
      AMI_ID.test(value) || amiIdsIn(value).length > 0 || isChannel(prefix, name) || referenced.has(name),
  );
  const withHistory = kept.filter(([name]) => isChannel(prefix, name) || pinned.has(name)).map(([name]) => name);
  const histories = new Map(
    await mapLimit(withHistory, limit, async (name) => {
      const versions = await reader.all(
        'GetParameterHistory',
        (NextToken) =>
          ssm.send(
            new GetParameterHistoryCommand({ Name: name, MaxResults: PAGE_SIZE.GetParameterHistory, NextToken }),
          ),
        (p) => p.Parameters,
        (p) => p.NextToken,
      );
      // Oldest first from SSM; the model wants newest first, the current value excluded.
      const older = versions
        .sort((a, b) => (a.Version ?? 0) - (b.Version ?? 0))
        .slice(0, -1)
        .flatMap((v) => (v.Value ? [v.Value] : []))
        .reverse();
      return [name, older] as const;
    }),
  );
  const parameters: WorldParameter[] = kept.map(([name, value]) => {
    const history = histories.get(name);
    return history ? { name, value, history } : { name, value };
  });

  // Ages count from when the reads ended (the clock may follow EC2's, learnt from its answers).
  // One reading for the pre-pass and the world planned: a later one could age an image the
  // pre-pass left unread (too young, in its grace period) into an action.
  const now = deps.clock().toISOString();
  const publicOf = (image: Image) => (image.Public ? ['all'] : []);
  const listed: World = {
    now,
    account: deps.account,
    images: images.map((image) => worldImage(image, publicOf(image))),
    snapshots: snapshots.map(
      (s): WorldSnapshot => ({
        id: s.SnapshotId ?? '',
        ownerId: s.OwnerId ?? '',
        startTime: isoOf(s.StartTime) ?? '',
        description: s.Description ?? '',
        tags: tagsOf(s.Tags),
      }),
    ),
    instances: instances.map(
      (i): WorldInstance => ({ id: i.InstanceId ?? '', imageId: i.ImageId ?? '', state: i.State?.Name ?? 'unknown' }),
    ),
    launchTemplateVersions,
    launchConfigurations: launchConfigurations.map((c) => ({
      name: c.LaunchConfigurationName ?? '',
      imageId: c.ImageId ?? '',
    })),
    autoScalingGroups: groups.map((g) => ({
      name: g.AutoScalingGroupName ?? '',
      launchTemplates: templatesOfGroup(g),
      launchConfigurationName: g.LaunchConfigurationName,
    })),
    parameters,
    confirmedUnusedShares: [],
  };

  // Launch permissions (DescribeImageAttribute: one image a call, no batch form; EC2 API
  // Reference, DescribeImageAttribute) only where they decide: the images the pre-pass names
  // (see plan.ts `imagesWhereLaunchPermissionsDecide` for why the others need none), or, with no
  // pre-pass, every managed image (the others are never candidates).
  const owned = new Set(images.filter(isManaged).map((image) => image.ImageId ?? ''));
  // A plain list (or none: every managed image) is read to its end.
  const reads = deps.launchPermissionsFor?.(listed) ?? [...owned];
  const plan: LaunchPermissionReads = 'order' in reads ? reads : { order: reads, enough: () => false };
  const wanted = [...new Set(plan.order)].filter((id) => owned.has(id));
  const permissions = new Map<string, readonly string[]>();
  const known: string[] = [];
  const toRead: string[] = [];
  for (const id of wanted) {
    const shares = deps.knownLaunchPermissions?.get(id);
    if (shares === undefined) {
      toRead.push(id);
    } else {
      permissions.set(id, shares);
      known.push(id);
    }
  }
  const readNow = new Map<string, readonly string[]>();
  // In order, a batch of `limit` at a time: the plan may be settled before the end (the cap is
  // filled: `enough`), or the run's time may run out (`keepReading`), and each is checked between batches.
  let next = 0;
  while (next < toRead.length && !plan.enough(permissions)) {
    // The first batch is read whatever the time: every part moves the run forward, so parts end.
    if (next > 0 && deps.keepReading && !deps.keepReading()) break;
    const batch = toRead.slice(next, next + limit);
    next += batch.length;
    for (const [ImageId, shares] of await mapLimit(batch, limit, async (ImageId) => {
      const answer = await reader.call('DescribeImageAttribute', () =>
        ec2.send(new DescribeImageAttributeCommand({ ImageId, Attribute: 'launchPermission' })),
      );
      const shares = (answer.LaunchPermissions ?? []).flatMap((p) =>
        p.Group === 'all' ? ['all'] : p.UserId ? [p.UserId] : p.OrganizationArn ? [p.OrganizationArn] : [],
      );
      return [ImageId, shares] as const;
    })) {
      permissions.set(ImageId, shares);
      readNow.set(ImageId, shares);
    }
  }
  // Not read because the time ran out (not because the plan was settled): kept this run.
  const deferred = next < toRead.length && !plan.enough(permissions) ? toRead.slice(next) : [];
  const unread = new Set(deferred);

  const world: World = {
    ...listed,
    images: listed.images.map((image) => {
      const shares = permissions.get(image.id);
      if (shares !== undefined) {
        return { ...image, launchPermissions: [...new Set([...image.launchPermissions, ...shares])] };
      }
      return unread.has(image.id) ? { ...image, launchPermissionsUnread: true } : image;
    }),
  };
  return {
    world,
    calls: reader.calls,
    parameters: coverage,
    launchPermissionsRead: [...readNow.keys()],
    launchPermissionsDeferred: deferred,
    launchPermissionsKnown: known,
    launchPermissionsByImage: readNow,
  };
};
