/**
 * The parameters of the bake automation documents (automation/bake-*.yaml). plan-bake fills
 * them; test/unit/automation-documents checks every document declares exactly these.
 */
export const BAKE_DOCUMENTS = {
  linux: 'bake-linux',
  windows: 'bake-windows',
} as const;

/** Parameters both bake documents take. */
export const COMMON_BAKE_PARAMETERS = [
  'AutomationAssumeRole',
  'SourceAmiId',
  'InstanceType',
  'SubnetId',
  'SecurityGroupIds',
  'IamInstanceProfileName',
  'RootDeviceName',
  'VolumeSize',
  'Encrypted',
  'KmsKeyId',
  'HttpTokens',
  'BakeId',
  'Family',
  'BuilderExpiresAt',
  'ImageName',
  'ImageDescription',
  'PreScript',
  'InstallScript',
  'PostScript',
] as const;

export const LINUX_BAKE_PARAMETERS = [
  ...COMMON_BAKE_PARAMETERS,
  'IncludePackages',
  'ExcludePackages',
  'SecurityOnly',
  'InstallPackages',
] as const;

export const WINDOWS_BAKE_PARAMETERS = [
  ...COMMON_BAKE_PARAMETERS,
  'UpdateCategories',
  'UpdateSeverityLevels',
  'IncludeKbs',
  'ExcludeKbs',
  'ChocolateySource',
  'ChocolateyPackages',
] as const;

export type LinuxBakeParameter = (typeof LINUX_BAKE_PARAMETERS)[number];
export type WindowsBakeParameter = (typeof WINDOWS_BAKE_PARAMETERS)[number];

/** Names of document outputs the callback keeps for `AMI Baked` and Slack. */
export const BAKE_DOCUMENT_OUTPUTS = {
  imageId: 'createImage.ImageId',
  inventoryBefore: 'inventoryBefore.Output',
  inventoryChanges: 'inventoryAfter.Output',
} as const;
