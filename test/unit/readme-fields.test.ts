/**
 * README.md's family field table (under "Configuration: `bakehouse.config.ts`") names every
 * field a family accepts (issue 18: `architecture` was missing): each key of the Linux and
 * Windows family schemas (functions/commons/families.ts) is the first name of a row, alone
 * (`builder`) or as the start of a path (`builder.instanceProfile`, `channels[].canary`).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { linuxFamilySchema, windowsFamilySchema } from '../../functions/commons/families';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** The top-level field names the rows of the configuration section's `| field | meaning |` table give. */
const documentedFields = (markdown: string): Set<string> => {
  const section = markdown.split(/^## /m).find((s) => s.startsWith('Configuration: `bakehouse.config.ts`'));
  if (!section) throw new Error('README.md has no "## Configuration: `bakehouse.config.ts`" section');
  const lines = section.split('\n');
  const header = lines.findIndex((l) => /^\|\s*field\s*\|\s*meaning\s*\|/.test(l));
  if (header < 0) throw new Error('the configuration section has no | field | meaning | table');
  const rows: string[] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(line);
  }
  const fields = new Set<string>();
  for (const row of rows) {
    const firstCell = row.split('|')[1] ?? '';
    for (const [, name] of firstCell.matchAll(/`([A-Za-z]+)[^`]*`/g)) fields.add(name as string);
  }
  return fields;
};

describe('README family table', () => {
  it('finds the table and its rows', () => {
    expect(documentedFields(README)).toContain('builder');
  });

  it('lists every field the family schema accepts', () => {
    const schemaFields = [
      ...new Set([...Object.keys(linuxFamilySchema.shape), ...Object.keys(windowsFamilySchema.shape)]),
    ].sort();
    const documented = documentedFields(README);
    expect(schemaFields.filter((field) => !documented.has(field))).toEqual([]);
  });
});
