/**
 * The family configuration inside a function bundle.
 *
 * `bakehouse.config.ts` is validated by `loadConfig` (full zod, rich messages) when the stacks
 * synthesize, and the validated result is compiled into every bundle as data through the esbuild
 * define `__BAKEHOUSE_CONFIG__` (see `bundleDefines`). A function therefore never parses or
 * validates the config at cold start, and cannot run with a config that did not validate.
 */
import { ConfigNotBundledError } from './errors';
import type { BakehouseConfig } from './families';

declare const __BAKEHOUSE_CONFIG__: BakehouseConfig | undefined;

export const bakehouseConfig = (): BakehouseConfig => {
  if (typeof __BAKEHOUSE_CONFIG__ === 'undefined' || !Array.isArray(__BAKEHOUSE_CONFIG__?.families)) {
    throw new ConfigNotBundledError();
  }
  return __BAKEHOUSE_CONFIG__;
};
