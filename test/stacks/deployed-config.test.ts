/**
 * The stack publishes the configuration it deploys (issue 18): one SSM parameter under the
 * parameter prefix, per stage, whose content is the validated configuration as the functions see
 * it (loadConfig's output, compiled into their bundles as JSON), with its content hash, in a tier
 * chosen for its size (stacks/deployed-config.ts).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import shippedConfig from '../../bakehouse.config';
import { decodeDeployedConfig, STANDARD_PARAMETER_MAX_BYTES } from '../../functions/commons/deployed-config';
import { ConfigError } from '../../functions/commons/errors';
import { type ConfigInput, loadConfig } from '../../functions/commons/families';
import { createBakePipeline } from '../../stacks/bake-pipeline';
import { configInput, linuxFamily } from '../unit/support/bake-factories';
import { pipelineStack } from './support/pipeline';

const STAGE = 'shipped';

const stack = pipelineStack({
  stage: STAGE,
  account: '123456789012',
  region: 'eu-central-1',
  config: structuredClone(shippedConfig) as ConfigInput,
});

const deployedParameter = () => {
  const parameters = stack
    .ofType('AWS::SSM::Parameter')
    .filter(([, resource]) => resource.Properties?.Name === `/bakehouse/_config/${STAGE}`);
  expect(parameters).toHaveLength(1);
  return (parameters[0] as [string, { Properties: Record<string, unknown> }])[1].Properties;
};

describe('the deployed configuration parameter', () => {
  it('is a String parameter named <prefix>/_config/<stage>', () => {
    expect(deployedParameter()).toMatchObject({ Type: 'String', Name: '/bakehouse/_config/shipped' });
  });

  it('holds the loaded configuration, as the functions see it, and its hash', () => {
    // Act
    const value = deployedParameter().Value as string;
    const decoded = decodeDeployedConfig(value);

    // Assess
    const loaded = JSON.parse(JSON.stringify(loadConfig(structuredClone(shippedConfig))));
    expect(decoded.config).toEqual(loaded);
    expect(decoded.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('fits a Standard parameter and lets Parameter Store pick the tier (Intelligent-Tiering: never a downgrade)', () => {
    const properties = deployedParameter();
    expect(Buffer.byteLength(properties.Value as string)).toBeLessThanOrEqual(STANDARD_PARAMETER_MAX_BYTES);
    expect(properties.Tier).toBe('Intelligent-Tiering');
  });
});

describe('a configuration too large for an SSM parameter', () => {
  it('fails the stack factory before anything is built, with the size and the fix', () => {
    // Prepare: 60 families whose descriptions do not compress (random hex), well over 8 KB.
    const huge = configInput(
      Array.from({ length: 60 }, (_, i) =>
        linuxFamily({ name: `family-${i}`, description: randomBytes(100).toString('hex') }),
      ),
    );

    // Act
    const attempt = () => createBakePipeline(huge);

    // Assess
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/more than the 8192 bytes an SSM parameter holds\. Fix:/);
  });
});
