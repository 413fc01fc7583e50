/**
 * The automation parameters that come from a family's configuration alone (scripts and package
 * lists), rendered one way for plan-bake and for config validation, so a family whose values SSM
 * would refuse fails at synth instead of at its first bake.
 */
import type { Family } from './families';

/** StartAutomationExecution takes at most this many characters per parameter value. */
export const MAX_AUTOMATION_PARAMETER_LENGTH = 512;

const scriptText = (scripts: readonly { name: string; run: string }[]): string =>
  scripts.map((s) => `# bakehouse step: ${s.name}\n${s.run}`).join('\n');

/** Parameter values derived from the family; empty strings mean "use the document's default". */
export const familyDocumentValues = (family: Family): Record<string, string> => {
  const common = {
    PreScript: family.preScript,
    InstallScript: scriptText(family.install.scripts),
    PostScript: family.postScript,
  };
  if (family.os === 'linux') {
    return {
      ...common,
      IncludePackages: family.patch.includePackages.join(' '),
      ExcludePackages: family.patch.excludePackages.join(' '),
      SecurityOnly: String(family.patch.securityOnly),
      InstallPackages: family.install.packages.join(' '),
    };
  }
  return {
    ...common,
    UpdateCategories: family.patch.categories.join(','),
    UpdateSeverityLevels: family.patch.severityLevels.join(','),
    IncludeKbs: family.patch.includeKbs.join(','),
    ExcludeKbs: family.patch.excludeKbs.join(','),
    ChocolateySource: family.install.chocolatey?.source ?? '',
    ChocolateyPackages: (family.install.chocolatey?.packages ?? []).join(' '),
  };
};

/** The config field each parameter comes from, for error messages. */
export const PARAMETER_FIELDS: Record<string, string> = {
  PreScript: 'preScript',
  InstallScript: 'install.scripts',
  PostScript: 'postScript',
  IncludePackages: 'patch.includePackages',
  ExcludePackages: 'patch.excludePackages',
  InstallPackages: 'install.packages',
  UpdateCategories: 'patch.categories',
  UpdateSeverityLevels: 'patch.severityLevels',
  IncludeKbs: 'patch.includeKbs',
  ExcludeKbs: 'patch.excludeKbs',
  ChocolateySource: 'install.chocolatey.source',
  ChocolateyPackages: 'install.chocolatey.packages',
};

/**
 * Whether a family's images are Amazon Linux 2023, whose package manager is locked to a release
 * (https://docs.aws.amazon.com/linux/al2023/ug/deterministic-upgrades-usage.html): decided by the
 * source at the root of its lineage. `true` for AWS's AL2023 parameters and AMI name filters
 * naming al2023, `false` for another public parameter, `undefined` when the configuration cannot
 * tell (an AMI filter by other names).
 */
export const isReleaseLocked = (family: Family, families: readonly Family[]): boolean | undefined => {
  let root: Family | undefined = family;
  const seen = new Set<string>();
  while (root && 'family' in root.source && !seen.has(root.name)) {
    seen.add(root.name);
    const parent: string = root.source.family;
    root = families.find((f) => f.name === parent);
  }
  if (!root) return undefined;
  if (root.os !== 'linux') return false;
  const { source } = root;
  if ('ssmParameter' in source) return /al2023/i.test(source.ssmParameter);
  if ('amiFilter' in source) {
    const names = source.amiFilter.filters.name ?? [];
    return names.some((name) => /al2023/i.test(name)) ? true : undefined;
  }
  return undefined;
};

/**
 * A release version as dnf's `--releasever` and the installed `system-release` spell it:
 * `2023.9.20261122`. AMI names add a build number (`al2023-ami-2023.9.20261122.0-…`), which is not
 * part of the release (the repositories are named by the three-part version,
 * https://docs.aws.amazon.com/linux/al2023/ug/deterministic-upgrades-usage.html), so it is dropped.
 */
export const releaseVersionOf = (value: string): string =>
  /^\d{4}\.\d+\.\d{8}\.\d+$/.test(value) ? value.slice(0, value.lastIndexOf('.')) : value;

/**
 * The release policy a Linux family's patch step follows: its own `patch.release` (a pinned
 * release as `releaseVersionOf` spells it), or `latest` where its lineage is Amazon Linux 2023;
 * null where there is no release to follow.
 */
export const releasePolicyOf = (family: Family, families: readonly Family[]): string | null => {
  if (family.os !== 'linux') return null;
  const locked = isReleaseLocked(family, families);
  if (family.patch.release !== undefined) return locked === false ? null : releaseVersionOf(family.patch.release);
  return locked === true ? 'latest' : null;
};
