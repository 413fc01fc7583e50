#!/usr/bin/env node
// The `bakehouse` command. It runs the TypeScript sources through tsx (a dependency of the
// project), so a fresh clone needs `npm ci` and no build step.
import { register } from 'tsx/esm/api';

register();
const { runProcess } = await import('../cli/main.ts');
await runProcess();
