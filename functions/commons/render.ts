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
