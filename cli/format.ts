/**
 * Text output for humans: aligned tables, box-drawn trees, durations and local times. Pure, so
 * the unit tests pin the exact text; `--json` output never goes through here.
 */

export interface Column<T> {
  readonly header: string;
  readonly value: (row: T) => string;
  readonly align?: 'left' | 'right';
}

const width = (text: string): number => [...text].length;
const pad = (text: string, size: number, align: 'left' | 'right'): string =>
  align === 'right' ? ' '.repeat(size - width(text)) + text : text + ' '.repeat(size - width(text));

/** A table with a header row and a rule under it; columns two spaces apart, no trailing spaces. */
export const table = <T>(rows: readonly T[], columns: readonly Column<T>[]): string => {
  const cells = rows.map((row) => columns.map((c) => c.value(row).replace(/\s+/g, ' ')));
  const sizes = columns.map((c, i) => Math.max(width(c.header), ...cells.map((r) => width(r[i] ?? ''))));
  const line = (values: readonly string[]) =>
    values
      .map((v, i) => pad(v, sizes[i] ?? 0, columns[i]?.align ?? 'left'))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), line(sizes.map((s) => '─'.repeat(s))), ...cells.map((r) => line(r))].join(
    '\n',
  );
};

export interface TreeNode {
  readonly label: string;
  readonly children: readonly TreeNode[];
}

/** A tree drawn with box characters: the root on the first line, children under it. */
export const tree = (root: TreeNode): string => {
  const lines = [root.label];
  const walk = (node: TreeNode, indent: string) => {
    node.children.forEach((child, i) => {
      const last = i === node.children.length - 1;
      lines.push(`${indent}${last ? '└── ' : '├── '}${child.label}`);
      walk(child, `${indent}${last ? '    ' : '│   '}`);
    });
  };
  walk(root, '');
  return lines.join('\n');
};

/** `42s`, `3m 05s`, `2h 01m`; `-` when unknown. */
export const duration = (seconds: number | null | undefined): string => {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '-';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
};

/** `2026-11-29 17:04` in the given zone (the operator's own by default), with the zone's short name. */
export const localTime = (instant: Date | string | null | undefined, timeZone?: string): string => {
  if (instant === null || instant === undefined || instant === '') return '-';
  const date = typeof instant === 'string' ? new Date(instant) : instant;
  if (Number.isNaN(date.getTime())) return '-';
  const parts = new Intl.DateTimeFormat('en-GB', {
    ...(timeZone === undefined ? {} : { timeZone }),
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
    timeZoneName: 'short',
  }).formatToParts(date);
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  return `${get('year')}-${get('month')}-${get('day')} ${get('hour')}:${get('minute')} ${get('timeZoneName')}`;
};

/** Text cut to `max` characters with an ellipsis. */
export const truncate = (text: string, max: number): string =>
  width(text) <= max ? text : `${[...text].slice(0, Math.max(0, max - 1)).join('')}…`;

/** `-` for a missing value. */
export const orDash = (value: string | null | undefined): string =>
  value === null || value === undefined || value === '' ? '-' : value;
