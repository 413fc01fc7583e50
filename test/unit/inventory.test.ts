/**
 * The inventory a bake captures and the diff of two (functions/commons/inventory.ts): reading the
 * captureInventory output, ordering versions as dpkg does, and a diff that is empty for an image
 * with itself and turns the first list into the second when applied.
 */
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyPackageDiff,
  type CapturedInventory,
  compareVersions,
  decodeLines,
  diffInventories,
  diffPackages,
  type EncodedList,
  INVENTORY_HEADER,
  inventoryRecordOf,
  isEmptyPackageDiff,
  type PackageList,
  packageListOf,
  parseInventoryOutput,
} from '../../functions/commons/inventory';

/** A list as captureInventory encodes it: gzip of the lines, base64, wrapped at 76. */
const encode = (lines: readonly string[]): { list: EncodedList; block: string } => {
  const gzipBase64 = gzipSync(Buffer.from(lines.map((l) => `${l}\n`).join(''))).toString('base64');
  return { list: { count: lines.length, gzipBase64 }, block: gzipBase64.replace(/(.{76})/g, '$1\n').trim() };
};

const linux = (lines: readonly string[], release: string | null = null): CapturedInventory => ({
  os: 'linux',
  release,
  packages: encode(lines).list,
});

describe('reading what captureInventory printed', () => {
  it('reads the os, the release and the package block, ignoring what comes before the header', () => {
    // Prepare
    const lines = ['bash 5.2.15-1.amzn2023.0.2.x86_64', 'glibc 2.34-196.amzn2023.0.2.x86_64'];
    const { block } = encode(lines);
    const text = `noise\n${INVENTORY_HEADER}\nos linux\nrelease 2023.9.20261122.0\npackages 2 gzip-base64\n${block}\nend\n`;

    // Act
    const parsed = parseInventoryOutput(text);

    // Assess
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.inventory.os).toBe('linux');
    expect(parsed.inventory.release).toBe('2023.9.20261122.0');
    expect(parsed.inventory.packages && decodeLines(parsed.inventory.packages)).toEqual(lines);
  });

  it('reads a Windows inventory with CRLF lines: hotfixes and installed programs', () => {
    // Prepare
    const { block } = encode(['7-Zip 24.08 (x64)\t24.08', 'Amazon SSM Agent\t3.3.1957.0']);
    const text = [
      INVENTORY_HEADER,
      'os windows',
      'programs 2 gzip-base64',
      block,
      'kb KB5034439',
      'kb KB5031364',
      'end',
    ]
      .join('\r\n')
      .concat('\r\n');

    // Act
    const parsed = parseInventoryOutput(text);

    // Assess
    expect(parsed.ok && parsed.inventory).toMatchObject({
      os: 'windows',
      release: null,
      kbs: ['KB5031364', 'KB5034439'],
      programs: { count: 2 },
    });
  });

  it('keeps too-large with its byte count, and no list', () => {
    // Act
    const parsed = parseInventoryOutput(`${INVENTORY_HEADER}\nos linux\ntoo-large packages 31337\nend\n`);

    // Assess
    expect(parsed).toEqual({
      ok: true,
      inventory: { os: 'linux', release: null, tooLarge: { section: 'packages', bytes: 31337 } },
    });
  });

  it.each([
    ['no header (the sandbox, or a document from before inventories)', 'would have run 24 lines\n', 'header'],
    ['output cut short before end', `${INVENTORY_HEADER}\nos linux\npackages 2 gzip-base64\nH4sI\n`, 'does not decode'],
    ['no end', `${INVENTORY_HEADER}\nos linux\n`, 'cut short'],
    [
      'a count that does not match',
      `${INVENTORY_HEADER}\nos linux\npackages 3 gzip-base64\n${encode(['a 1', 'b 2']).block}\nend\n`,
      'holds 2 lines, not the 3',
    ],
    ['no os', `${INVENTORY_HEADER}\nend\n`, "no 'os'"],
  ])('refuses %s', (_what, text, reason) => {
    // Act
    const parsed = parseInventoryOutput(text);

    // Assess
    expect(parsed).toEqual({ ok: false, reason: expect.stringContaining(reason) });
  });
});

describe('reading a stored inventory item back', () => {
  it('reads what was written, and nothing from an item of another format', () => {
    // Prepare
    const item = {
      pk: 'image#ami-0123456789abcdef0#inventory',
      format: 1,
      imageId: 'ami-0123456789abcdef0',
      family: 'al2023-base',
      bakeId: 'al2023-base-0123456789abcdef0123456789abcdef',
      automationExecutionId: 'a-1',
      recordedAt: '2026-01-14T09:42:30.000Z',
      os: 'linux',
      release: '2023.9.20261122.0',
      packages: { count: 1, gzipBase64: encode(['jq 1.7']).list.gzipBase64 },
    };

    // Act + Assess
    expect(inventoryRecordOf(item)).toMatchObject({ os: 'linux', release: '2023.9.20261122.0', family: 'al2023-base' });
    expect(inventoryRecordOf({ ...item, format: 2 })).toBeUndefined();
    expect(inventoryRecordOf(undefined)).toBeUndefined();
  });
});

describe('ordering versions', () => {
  it.each([
    ['2.34-196.amzn2023.0.1.x86_64', '2.34-196.amzn2023.0.2.x86_64'],
    ['8.7p1-8.amzn2023.0.15.x86_64', '8.7p1-8.amzn2023.0.16.x86_64'],
    ['6.1.156-177.286.amzn2023.x86_64', '6.1.158-180.294.amzn2023.x86_64'],
    ['1:9.6p1-3ubuntu13.14', '1:9.6p1-3ubuntu13.15'],
    ['9.9', '1:1.0'],
    ['1.0~rc1', '1.0'],
    ['2025b-1.amzn2023.0.1.noarch', '2025c-1.amzn2023.0.1.noarch'],
    ['1.9', '1.10'],
  ])('puts %s before %s', (older, newer) => {
    // Act + Assess
    expect(compareVersions(older, newer)).toBeLessThan(0);
    expect(compareVersions(newer, older)).toBeGreaterThan(0);
  });

  it('is a total order: antisymmetric and transitive', () => {
    const version = fc.stringMatching(/^([0-9]:)?[0-9a-z.~+-]{1,8}$/);
    fc.assert(
      fc.property(version, version, version, (a, b, c) => {
        // A sum, not toBe(-sign): for a === b that compares 0 with -0, which Object.is tells apart.
        expect(Math.sign(compareVersions(a, b)) + Math.sign(compareVersions(b, a))).toBe(0);
        if (compareVersions(a, b) === 0) expect(a).toBe(b);
        if (compareVersions(a, b) < 0 && compareVersions(b, c) < 0) expect(compareVersions(a, c)).toBeLessThan(0);
      }),
      // Equal versions always among the cases (fast-check drew `ref ref +` in a full run).
      { examples: [['ref', 'ref', '+']] },
    );
  });
});

describe('the diff of two package lists', () => {
  it('sorts the changes into added, removed, upgraded, downgraded and changed', () => {
    // Prepare
    const a = packageListOf(
      ['bash 5.2-1', 'curl 8.5.0-1', 'kernel 6.1.156-1', 'kernel 6.1.158-1', 'tzdata 2025c-1', 'vim 9.1-1'],
      ' ',
    );
    const b = packageListOf(['bash 5.2-1', 'curl 8.11.1-4', 'jq 1.7.1-49', 'kernel 6.1.158-1', 'tzdata 2025b-1'], ' ');

    // Act
    const diff = diffPackages(a, b);

    // Assess
    expect(diff).toEqual({
      added: [{ name: 'jq', from: [], to: ['1.7.1-49'] }],
      removed: [{ name: 'vim', from: ['9.1-1'], to: [] }],
      upgraded: [{ name: 'curl', from: ['8.5.0-1'], to: ['8.11.1-4'] }],
      downgraded: [{ name: 'tzdata', from: ['2025c-1'], to: ['2025b-1'] }],
      changed: [{ name: 'kernel', from: ['6.1.156-1', '6.1.158-1'], to: ['6.1.158-1'] }],
    });
  });

  const packageLists: fc.Arbitrary<PackageList> = fc
    .array(
      fc.tuple(
        fc.constantFrom('bash', 'curl', 'glibc', 'jq', 'kernel', 'nginx', 'openssl', 'vim'),
        fc.stringMatching(/^[0-9]{1,2}\.[0-9a-z~]{1,3}-[0-9]{1,2}$/),
      ),
      { maxLength: 14 },
    )
    .map((pairs) =>
      packageListOf(
        pairs.map(([name, version]) => `${name} ${version}`),
        ' ',
      ),
    );

  it('is empty between a list and itself', () => {
    fc.assert(
      fc.property(packageLists, (a) => {
        expect(isEmptyPackageDiff(diffPackages(a, a))).toBe(true);
      }),
    );
  });

  it('turns the first list into the second when applied', () => {
    fc.assert(
      fc.property(packageLists, packageLists, (a, b) => {
        expect(applyPackageDiff(a, diffPackages(a, b))).toEqual(b);
      }),
    );
  });

  it('names every package at most once, in one category', () => {
    fc.assert(
      fc.property(packageLists, packageLists, (a, b) => {
        const diff = diffPackages(a, b);
        const names = [diff.added, diff.removed, diff.upgraded, diff.downgraded, diff.changed]
          .flat()
          .map((c) => c.name);
        expect(new Set(names).size).toBe(names.length);
      }),
    );
  });
});

describe('the diff of two inventories', () => {
  it('gives the release move, the package changes and, on Windows, the hotfixes added and removed', () => {
    // Prepare
    const a = linux(['glibc 2.34-196.amzn2023.0.1.x86_64'], '2023.9.20261101.0');
    const b = linux(['glibc 2.34-196.amzn2023.0.2.x86_64'], '2023.9.20261122.0');
    const windowsA: CapturedInventory = { os: 'windows', release: null, kbs: ['KB1', 'KB2'] };
    const windowsB: CapturedInventory = { os: 'windows', release: null, kbs: ['KB2', 'KB3'] };

    // Act
    const linuxDiff = diffInventories(a, b);
    const windowsDiff = diffInventories(windowsA, windowsB);

    // Assess
    expect(linuxDiff.release).toEqual({ from: '2023.9.20261101.0', to: '2023.9.20261122.0' });
    expect(linuxDiff.packages.upgraded).toEqual([
      { name: 'glibc', from: ['2.34-196.amzn2023.0.1.x86_64'], to: ['2.34-196.amzn2023.0.2.x86_64'] },
    ]);
    expect(linuxDiff.kbs).toEqual({ added: [], removed: [] });
    expect(windowsDiff.kbs).toEqual({ added: ['KB3'], removed: ['KB1'] });
    expect(diffInventories(a, a).release).toBeNull();
  });
});
