import type { SSTConfig } from 'sst';

export default {
  config() {
    return { name: 'bakehouse', region: 'us-east-1' };
  },
  stacks() {},
} satisfies SSTConfig;
