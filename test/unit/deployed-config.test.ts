/**
 * The deployed configuration's SSM parameter value (functions/commons/deployed-config.ts): what
 * the stack publishes and the CLI reads back, its content hash, and the parameter size limits
 * (Standard 4 KB, Advanced 8 KB) at their boundaries.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import shippedConfig from '../../bakehouse.config';
import {
  ADVANCED_PARAMETER_MAX_BYTES,
  DeployedConfigError,
  decodeDeployedConfig,
  deployedConfigParameterName,
  encodeDeployedConfig,
  parameterTierFor,
  STANDARD_PARAMETER_MAX_BYTES,
} from '../../functions/commons/deployed-config';
import { ConfigError } from '../../functions/commons/errors';
import { loadConfig } from '../../functions/commons/families';
import { configInput, linuxFamily } from './support/bake-factories';

const shipped = () => loadConfig(structuredClone(shippedConfig));

/** A configuration of `count` families whose descriptions do not compress (random hex). */
const incompressible = (count: number) =>
  loadConfig(
    configInput(
      Array.from({ length: count }, (_, i) =>
        linuxFamily({ name: `family-${i}`, description: randomBytes(100).toString('hex') }),
      ),
    ),
  );

describe('deployedConfigParameterName', () => {
  it('lives under the parameter prefix, in a path no family can take, one per stage', () => {
    expect(deployedConfigParameterName('/bakehouse', 'dev')).toBe('/bakehouse/_config/dev');
    expect(deployedConfigParameterName('/teams/images', 'prod')).toBe('/teams/images/_config/prod');
  });
});

describe('encodeDeployedConfig / decodeDeployedConfig', () => {
  it('round-trips the shipped configuration as the functions see it (its JSON), with its hash', () => {
    // Prepare
    const config = shipped();

    // Act
    const encoded = encodeDeployedConfig(config);
    const decoded = decodeDeployedConfig(encoded.value);

    // Assess
    expect(decoded.config).toEqual(JSON.parse(JSON.stringify(config)));
    expect(decoded.sha256).toBe(encoded.sha256);
    expect(encoded.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(encoded.bytes).toBe(Buffer.byteLength(encoded.value));
  });

  it('gives equal configurations the same hash whatever their key order, and different ones another', () => {
    const config = shipped();
    const reordered = { families: config.families, settings: config.settings };
    const changed = loadConfig({ ...structuredClone(shippedConfig), settings: { parameterPrefix: '/other' } });
    expect(encodeDeployedConfig(reordered).sha256).toBe(encodeDeployedConfig(config).sha256);
    expect(encodeDeployedConfig(changed).sha256).not.toBe(encodeDeployedConfig(config).sha256);
  });

  it('keeps the shipped configuration (6 KB of JSON) within a Standard parameter by compressing it', () => {
    const config = shipped();
    expect(JSON.stringify(config).length).toBeGreaterThan(STANDARD_PARAMETER_MAX_BYTES);
    const encoded = encodeDeployedConfig(config);
    expect(encoded.bytes).toBeLessThanOrEqual(STANDARD_PARAMETER_MAX_BYTES);
    expect(encoded.tier).toBe('Standard');
  });

  it('refuses a configuration over the Advanced limit with a ConfigError naming the size and the fix', () => {
    // Prepare: 60 families with 200 incompressible characters each: well over 8 KB compressed.
    const config = incompressible(60);

    // Act
    const attempt = () => encodeDeployedConfig(config);

    // Assess
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/8192/);
    expect(attempt).toThrow(/Fix:/);
  });

  it('accepts a configuration between the Standard and the Advanced limits, as an Advanced parameter', () => {
    // Prepare: find a family count whose value lands between 4 KB and 8 KB.
    let found: ReturnType<typeof encodeDeployedConfig> | undefined;
    for (let count = 10; count < 40 && !found; count++) {
      try {
        const encoded = encodeDeployedConfig(incompressible(count));
        if (encoded.bytes > STANDARD_PARAMETER_MAX_BYTES) found = encoded;
      } catch {
        break;
      }
    }

    // Assess
    expect(found?.tier).toBe('Advanced');
    expect(found?.bytes).toBeLessThanOrEqual(ADVANCED_PARAMETER_MAX_BYTES);
  });

  it('refuses a value that is not a deployed configuration, or whose hash does not match, naming the fix', () => {
    const encoded = JSON.parse(encodeDeployedConfig(shipped()).value) as Record<string, unknown>;
    expect(() => decodeDeployedConfig('ami-0123456789abcdef0')).toThrow(DeployedConfigError);
    expect(() => decodeDeployedConfig(JSON.stringify({ ...encoded, format: 'other/9' }))).toThrow(/format/);
    expect(() => decodeDeployedConfig(JSON.stringify({ ...encoded, sha256: '0'.repeat(64) }))).toThrow(
      /hash.*Fix: deploy the stage again/,
    );
  });
});

describe('parameterTierFor', () => {
  it.each([
    [1, 'Standard'],
    [STANDARD_PARAMETER_MAX_BYTES, 'Standard'],
    [STANDARD_PARAMETER_MAX_BYTES + 1, 'Advanced'],
    [ADVANCED_PARAMETER_MAX_BYTES, 'Advanced'],
    [ADVANCED_PARAMETER_MAX_BYTES + 1, undefined],
  ])('a value of %i bytes is %s', (bytes, tier) => {
    expect(parameterTierFor(bytes)).toBe(tier);
  });
});
