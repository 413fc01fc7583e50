import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const projectRoot = join(import.meta.dirname, '..', '..');

describe('the toolchain', () => {
  it('runs the tests on Node 24 or later, the version the project pins', () => {
    // Act
    const major = Number(process.versions.node.split('.')[0]);

    // Assess
    expect(major).toBeGreaterThanOrEqual(24);
  });

  it('pins Node 24 as a devDependency whose install script npm is allowed to run', () => {
    // Prepare
    const pkg = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
      allowScripts: Record<string, boolean>;
    };

    // Assess
    expect(pkg.devDependencies.node).toBe('^24');
    expect(pkg.allowScripts.node).toBe(true);
  });
});
