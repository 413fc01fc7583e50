/**
 * Lookups over a validated configuration. Free of zod, so functions import these without
 * pulling the config schema into their bundles (see commons/config.ts).
 */
import type { BakehouseConfig, Family, Settings } from './families';

/** Channels Bakehouse writes itself; `candidate` is moved by every successful bake. */
export const CANDIDATE_CHANNEL = 'candidate';

/** The chain of ancestors of a family, nearest first. */
export const ancestorsOf = (config: BakehouseConfig, family: Family): Family[] => {
  const chain: Family[] = [];
  let current: Family | undefined = family;
  while (current && 'family' in current.source) {
    const parentName: string = current.source.family;
    current = config.families.find((f) => f.name === parentName);
    if (current) chain.push(current);
  }
  return chain;
};

export const findFamily = (config: BakehouseConfig, name: string): Family | undefined =>
  config.families.find((f) => f.name === name);

/** The SSM parameter a channel of a family lives at. */
export const channelParameterName = (settings: Settings, family: string, channel: string): string =>
  `${settings.parameterPrefix}/${family}/${channel}`;
