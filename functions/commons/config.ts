import rawConfig from '../../bakehouse.config';
import { type BakehouseConfig, loadConfig } from './families';

let cached: BakehouseConfig | undefined;

/** The validated family configuration, bundled with the function and checked once per container. */
export const bakehouseConfig = (): BakehouseConfig => {
  cached ??= loadConfig(rawConfig);
  return cached;
};
