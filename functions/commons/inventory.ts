/**
 * What an image has installed, as its bake captured it, and what changed between two images
 * (`bakehouse diff`, issue 18).
 *
 * The bake documents' `captureInventory` step prints the inventory (automation/bake-linux.yaml,
 * automation/bake-windows.yaml). Automation keeps the Output of only one aws:runCommand step, cut
 * at 2,500 characters, and that one is `collectReport`
 * (https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-action-runcommand.html),
 * so this step's output is read with GetCommandInvocation, whose StandardOutputContent is "the
 * first 24,000 characters written by the plugin to stdout"
 * (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetCommandInvocation.html).
 * The lists are therefore gzip-compressed and base64-encoded: a few hundred packages take a few
 * kilobytes. A list that would still not fit is announced as `too-large <bytes>`, so the record
 * says why it is missing rather than holding a list cut short. The output, one item a line:
 *
 *   bakehouse-inventory 1
 *   os linux | windows
 *   release <version>                      Amazon Linux 2023's locked release, when there is one
 *   packages <count> gzip-base64           Linux: sorted "name version" lines, then the block
 *   programs <count> gzip-base64           Windows: "name<TAB>version" lines, then the block
 *   <base64 lines>
 *   kb <id>                                Windows: each installed hotfix (Get-HotFix HotFixID)
 *   too-large <section> <bytes>            instead of a section and its block
 *   unavailable <section> <why>            the list could not be taken (nothing is recorded)
 *   end
 *
 * AutomationWait records it in the state table, one item per image (`inventoryItemOf`); the CLI
 * reads two of them and diffs them (`diffInventories`).
 */
import { gunzipSync } from 'node:zlib';

export const INVENTORY_HEADER = 'bakehouse-inventory 1';

/** The step of both bake documents that prints the inventory. */
export const INVENTORY_STEP = 'captureInventory';

/** The first characters of stdout GetCommandInvocation returns (API_GetCommandInvocation, StandardOutputContent). */
export const COMMAND_STDOUT_LIMIT = 24_000;

/**
 * Most characters the encoded block of a list may take, newlines included: the limit less room for
 * the header, os, release, section, hotfix and end lines. The documents' scripts use this number.
 */
export const ENCODED_BLOCK_BUDGET = 22_000;

export type InventoryOs = 'linux' | 'windows';

/** A list as the step printed it: how many lines, and the gzip of those lines in base64. */
export interface EncodedList {
  readonly count: number;
  /** base64 of the gzip of the lines (each ending in a newline), without line breaks. */
  readonly gzipBase64: string;
}

export type ListSection = 'packages' | 'programs';

export interface CapturedInventory {
  readonly os: InventoryOs;
  readonly release: string | null;
  /** Linux packages, `name version` lines. */
  readonly packages?: EncodedList;
  /** Windows installed programs, `name<TAB>version` lines. */
  readonly programs?: EncodedList;
  /** Windows hotfixes (KB ids), sorted. */
  readonly kbs?: readonly string[];
  /** A list that did not fit in the command's output: which, and how many bytes its block took. */
  readonly tooLarge?: { readonly section: ListSection; readonly bytes: number };
}

export type ParsedInventory =
  | { readonly ok: true; readonly inventory: CapturedInventory }
  | { readonly ok: false; readonly reason: string };

const SECTION = /^(packages|programs) (\d+) gzip-base64$/;
const BASE64_LINE = /^[A-Za-z0-9+/=]+$/;

/**
 * Reads what `captureInventory` printed. Reading starts at the header (anything before it is
 * ignored) and must reach `end`: an output cut short (over 24,000 characters) is refused, never
 * read as a shorter list. Each block must decode to the count it announced.
 */
export const parseInventoryOutput = (text: string): ParsedInventory => {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  const start = lines.findIndex((line) => line.trim() === INVENTORY_HEADER);
  if (start < 0) return { ok: false, reason: `the output has no '${INVENTORY_HEADER}' header` };
  let os: InventoryOs | undefined;
  let release: string | null = null;
  const lists: Partial<Record<ListSection, EncodedList>> = {};
  const kbs: string[] = [];
  let tooLarge: CapturedInventory['tooLarge'];
  let open: { section: ListSection; count: number; block: string[] } | undefined;
  const close = (): string | undefined => {
    if (!open) return undefined;
    const list = { count: open.count, gzipBase64: open.block.join('') };
    const decoded = decodeLines(list);
    if (decoded === undefined) return `the ${open.section} block does not decode (base64 of gzip)`;
    if (decoded.length !== open.count)
      return `the ${open.section} block holds ${decoded.length} lines, not the ${open.count} it announced`;
    lists[open.section] = list;
    open = undefined;
    return undefined;
  };
  for (const raw of lines.slice(start + 1)) {
    const line = raw.trim();
    // Every other line holds a space or a '-', so only 'end' could be mistaken for base64.
    if (open && line !== 'end' && BASE64_LINE.test(line)) {
      open.block.push(line);
      continue;
    }
    const problem = close();
    if (problem) return { ok: false, reason: problem };
    const section = SECTION.exec(line);
    if (line === 'end') {
      if (!os) return { ok: false, reason: "the output names no 'os'" };
      return {
        ok: true,
        inventory: {
          os,
          release,
          ...lists,
          ...(os === 'windows' ? { kbs: [...new Set(kbs)].sort() } : {}),
          ...(tooLarge ? { tooLarge } : {}),
        },
      };
    }
    if (line === 'os linux' || line === 'os windows') os = line.slice(3) as InventoryOs;
    else if (line.startsWith('release ')) release = line.slice('release '.length).trim() || null;
    else if (section) open = { section: section[1] as ListSection, count: Number(section[2]), block: [] };
    else if (/^kb KB\d+$/i.test(line)) kbs.push(line.slice(3).toUpperCase());
    else if (/^too-large (packages|programs) \d+$/.test(line)) {
      const [, which, bytes] = line.split(' ');
      tooLarge = { section: which as ListSection, bytes: Number(bytes) };
    } else if (/^unavailable (packages|programs) /.test(line)) {
      const [, which = '', ...why] = line.split(' ');
      return { ok: false, reason: `the builder could not list its ${which}: ${why.join(' ')}` };
    } else if (line !== '') return { ok: false, reason: `unexpected line '${line.slice(0, 80)}'` };
  }
  return {
    ok: false,
    reason: `the output ends before 'end': cut short (GetCommandInvocation returns the first ${COMMAND_STDOUT_LIMIT.toLocaleString('en-US')} characters)`,
  };
};

/** The lines of an encoded list, or undefined when it does not decode. */
export const decodeLines = (list: EncodedList): string[] | undefined => {
  try {
    const text = gunzipSync(Buffer.from(list.gzipBase64, 'base64')).toString('utf8');
    return text.split('\n').filter((line) => line.trim() !== '');
  } catch {
    return undefined;
  }
};

// --- the state-table item ---------------------------------------------------------------------------

/** What is recorded per image (key: state-table.ts `imageKey(amiId, 'inventory')`). */
export interface InventoryRecord extends CapturedInventory {
  readonly imageId: string;
  readonly family: string;
  readonly bakeId: string;
  readonly automationExecutionId: string;
  /** ISO 8601, when it was recorded. */
  readonly recordedAt: string;
  readonly format: 1;
}

/** Reads a stored item back; undefined when it is not an inventory this code understands. */
export const inventoryRecordOf = (item: Record<string, unknown> | undefined): InventoryRecord | undefined => {
  if (item?.format !== 1 || (item.os !== 'linux' && item.os !== 'windows')) return undefined;
  const text = (key: string): string => (typeof item[key] === 'string' ? (item[key] as string) : '');
  const list = (key: ListSection): EncodedList | undefined => {
    const value = item[key] as Partial<EncodedList> | undefined;
    return value && typeof value.count === 'number' && typeof value.gzipBase64 === 'string'
      ? { count: value.count, gzipBase64: value.gzipBase64 }
      : undefined;
  };
  const tooLarge = item.tooLarge as CapturedInventory['tooLarge'] | undefined;
  const packages = list('packages');
  const programs = list('programs');
  return {
    format: 1,
    imageId: text('imageId'),
    family: text('family'),
    bakeId: text('bakeId'),
    automationExecutionId: text('automationExecutionId'),
    recordedAt: text('recordedAt'),
    os: item.os,
    release: typeof item.release === 'string' && item.release !== '' ? item.release : null,
    ...(packages ? { packages } : {}),
    ...(programs ? { programs } : {}),
    ...(Array.isArray(item.kbs) ? { kbs: item.kbs.filter((kb): kb is string => typeof kb === 'string') } : {}),
    ...(tooLarge && typeof tooLarge.bytes === 'number' ? { tooLarge } : {}),
  };
};

// --- the diff ---------------------------------------------------------------------------------------

/** name → its installed versions, sorted (a name may be installed in several versions: kernels). */
export type PackageList = ReadonlyMap<string, readonly string[]>;

/** `name version` lines (Linux; the version is what follows the first space) or `name<TAB>version` (Windows programs). */
export const packageListOf = (lines: readonly string[], separator: ' ' | '\t'): PackageList => {
  const versions = new Map<string, Set<string>>();
  for (const line of lines) {
    const at = line.indexOf(separator);
    const name = (at < 0 ? line : line.slice(0, at)).trim();
    const version = at < 0 ? '' : line.slice(at + 1).trim();
    if (name === '') continue;
    versions.set(name, (versions.get(name) ?? new Set()).add(version));
  }
  return new Map([...versions].map(([name, set]) => [name, [...set].sort(compareVersions)]));
};

export interface PackageChange {
  readonly name: string;
  /** The versions before ([] for an added package). */
  readonly from: readonly string[];
  /** The versions after ([] for a removed package). */
  readonly to: readonly string[];
}

export interface PackageDiff {
  readonly added: readonly PackageChange[];
  readonly removed: readonly PackageChange[];
  /** The newest version after is newer than the newest before. */
  readonly upgraded: readonly PackageChange[];
  readonly downgraded: readonly PackageChange[];
  /** Other versions, the newest the same (a kernel installed beside the running one, then removed). */
  readonly changed: readonly PackageChange[];
}

const sameVersions = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((version, i) => version === b[i]);

/** What changed from `a` to `b`, each list sorted by name. */
export const diffPackages = (a: PackageList, b: PackageList): PackageDiff => {
  const added: PackageChange[] = [];
  const removed: PackageChange[] = [];
  const upgraded: PackageChange[] = [];
  const downgraded: PackageChange[] = [];
  const changed: PackageChange[] = [];
  const names = [...new Set([...a.keys(), ...b.keys()])].sort(compareNames);
  for (const name of names) {
    const from = a.get(name) ?? [];
    const to = b.get(name) ?? [];
    if (sameVersions(from, to)) continue;
    const change = { name, from, to };
    if (from.length === 0) added.push(change);
    else if (to.length === 0) removed.push(change);
    else {
      const order = compareVersions(to.at(-1) as string, from.at(-1) as string);
      (order > 0 ? upgraded : order < 0 ? downgraded : changed).push(change);
    }
  }
  return { added, removed, upgraded, downgraded, changed };
};

/** `a` with every change of `diff` applied: `applyPackageDiff(a, diffPackages(a, b))` is `b`. */
export const applyPackageDiff = (a: PackageList, diff: PackageDiff): PackageList => {
  const result = new Map(a);
  for (const change of [...diff.added, ...diff.removed, ...diff.upgraded, ...diff.downgraded, ...diff.changed]) {
    if (change.to.length === 0) result.delete(change.name);
    else result.set(change.name, change.to);
  }
  return result;
};

export const isEmptyPackageDiff = (diff: PackageDiff): boolean =>
  [diff.added, diff.removed, diff.upgraded, diff.downgraded, diff.changed].every((list) => list.length === 0);

/** Names in C order (byte order), as the documents sort them (`LC_ALL=C sort`). */
const compareNames = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isLetter = (c: string | undefined): boolean => c !== undefined && /[A-Za-z]/.test(c);

/** dpkg's order of a non-digit character: `~` before the end of the string, letters before other characters. */
const charOrder = (c: string | undefined): number => {
  if (c === undefined) return 0;
  if (c === '~') return -1;
  if (isDigit(c)) return 0;
  if (isLetter(c)) return c.charCodeAt(0);
  return c.charCodeAt(0) + 256;
};

/** dpkg's verrevcmp: alternating non-digit and digit runs, digits compared as numbers. */
const compareRuns = (a: string, b: string): number => {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let firstDiff = 0;
    while ((i < a.length && !isDigit(a[i])) || (j < b.length && !isDigit(b[j]))) {
      const ac = charOrder(a[i]);
      const bc = charOrder(b[j]);
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (a[i] === '0') i++;
    while (b[j] === '0') j++;
    while (isDigit(a[i]) && isDigit(b[j])) {
      if (!firstDiff) firstDiff = (a.charCodeAt(i) as number) - (b.charCodeAt(j) as number);
      i++;
      j++;
    }
    if (isDigit(a[i])) return 1;
    if (isDigit(b[j])) return -1;
    if (firstDiff) return firstDiff;
  }
  return 0;
};

const epochOf = (version: string): { epoch: number; rest: string } => {
  const match = /^(\d+):(.*)$/.exec(version);
  return match ? { epoch: Number(match[1]), rest: match[2] as string } : { epoch: 0, rest: version };
};

/**
 * Orders two versions as dpkg does (Debian Policy 5.6.12: epoch, then upstream version and
 * revision by alternating non-digit and digit parts, `~` sorting before anything). rpm's
 * `version-release.arch` strings order the same way for the versions a distribution ships, which
 * is all the diff needs: whether a package went up or down. Equal strings compare 0; two strings
 * that differ but order the same (`1.0` and `1.00`) fall back to plain string order, so the order
 * is total. Written here rather than taken from npm: semver-style comparers (compare-versions and
 * the like) misorder `~` and epochs, and the one package for Debian's order (deb-version-compare)
 * has a few hundred downloads a month; this is dpkg's algorithm in some forty lines, with its
 * tests in test/unit/inventory.test.ts.
 */
export const compareVersions = (a: string, b: string): number => {
  if (a === b) return 0;
  const left = epochOf(a);
  const right = epochOf(b);
  if (left.epoch !== right.epoch) return left.epoch - right.epoch;
  const order = compareRuns(left.rest, right.rest);
  if (order !== 0) return order;
  return a < b ? -1 : 1;
};

export interface InventoryDiff {
  readonly os: InventoryOs;
  /** null when both have the same release (or none). */
  readonly release: { readonly from: string | null; readonly to: string | null } | null;
  /** Linux packages, or Windows installed programs. */
  readonly packages: PackageDiff;
  /** Windows hotfixes; empty on Linux. */
  readonly kbs: { readonly added: readonly string[]; readonly removed: readonly string[] };
}

/** The packages (Linux) or programs (Windows) of a record, decoded; undefined when it has none. */
export const packagesOfRecord = (record: CapturedInventory): PackageList | undefined => {
  const list = record.os === 'linux' ? record.packages : record.programs;
  if (!list) return undefined;
  const lines = decodeLines(list);
  return lines === undefined ? undefined : packageListOf(lines, record.os === 'linux' ? ' ' : '\t');
};

/** What changed from `a` to `b` (same OS: the caller checks). A list either lacks counts as empty. */
export const diffInventories = (a: CapturedInventory, b: CapturedInventory): InventoryDiff => {
  const before = new Set(a.kbs ?? []);
  const after = new Set(b.kbs ?? []);
  return {
    os: b.os,
    release: a.release === b.release ? null : { from: a.release, to: b.release },
    packages: diffPackages(packagesOfRecord(a) ?? new Map(), packagesOfRecord(b) ?? new Map()),
    kbs: {
      added: [...after].filter((kb) => !before.has(kb)).sort(),
      removed: [...before].filter((kb) => !after.has(kb)).sort(),
    },
  };
};
