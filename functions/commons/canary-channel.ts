/**
 * The canary channel of a family (issue 16). Free of zod like family-lookup.ts, so the canary
 * function imports it without pulling the config schema into its bundle; families.ts re-exports it.
 */
import type { CanarySettings, Family } from './families';

export interface CanaryChannel {
  readonly channel: string;
  readonly canary: CanarySettings;
}

/** The family's `promoteOn: 'canary'` channel (validation allows at most one), or undefined. */
export const canaryChannelOf = (family: Pick<Family, 'channels'>): CanaryChannel | undefined => {
  for (const channel of family.channels) {
    if (channel.promoteOn === 'canary' && channel.canary !== undefined) {
      return { channel: channel.name, canary: channel.canary };
    }
  }
  return undefined;
};
