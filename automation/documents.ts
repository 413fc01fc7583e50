/**
 * The bake automation documents as files: where they are, their exact text, its SHA-256 (part of
 * every bake key, so a changed document is a new bake) and the parsed document.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { BAKE_DOCUMENTS } from '../functions/commons/documents';

export type BakeOs = keyof typeof BAKE_DOCUMENTS;
export type BakeDocumentName = (typeof BAKE_DOCUMENTS)[BakeOs];

export interface BakeDocument {
  readonly name: BakeDocumentName;
  /** The file's text, exactly as it is on disk. */
  readonly content: string;
  /** Hex SHA-256 of the file's bytes. */
  readonly sha256: string;
  /** The parsed YAML. */
  readonly document: unknown;
}

/**
 * This folder. When SST bundles the stacks into one file at the project root, `import.meta.url`
 * points there instead, so the root's `automation/` folder is looked for as well.
 */
const automationDir = (): string => {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [here, join(here, 'automation'), join(process.cwd(), 'automation')];
  return candidates.find((dir) => existsSync(join(dir, `${BAKE_DOCUMENTS.linux}.yaml`))) ?? here;
};

const dir = automationDir();

/** Absolute paths of the bake documents. */
export const BAKE_DOCUMENT_FILES: Readonly<Record<BakeOs, string>> = {
  linux: join(dir, `${BAKE_DOCUMENTS.linux}.yaml`),
  windows: join(dir, `${BAKE_DOCUMENTS.windows}.yaml`),
};

export const loadBakeDocument = (os: BakeOs): BakeDocument => {
  const bytes = readFileSync(BAKE_DOCUMENT_FILES[os]);
  const content = bytes.toString('utf8');
  return {
    name: BAKE_DOCUMENTS[os],
    content,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    document: parse(content) as unknown,
  };
};

/** Both bake documents, Linux first. */
export const listBakeDocuments = (): BakeDocument[] => [loadBakeDocument('linux'), loadBakeDocument('windows')];
