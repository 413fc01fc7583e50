/**
 * The stack publishes the configuration it deploys (issue 18): one SSM parameter under the
 * parameter prefix, per stage, whose content is the validated configuration as the functions see
 * it (loadConfig's output, compiled into their bundles as JSON), with its content hash, in a tier
 * chosen for its size (stacks/deployed-config.ts).
 */
import { describe, expect, it } from 'vitest';
import shippedConfig from '../../bakehouse.config';
import { decodeDeployedConfig, STANDARD_PARAMETER_MAX_BYTES } from '../../functions/commons/deployed-config';
import { type ConfigInput, loadConfig } from '../../functions/commons/families';
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
