/**
 * The Block Kit limits Slack enforces on a message, as a pure check: each problem is reported the
 * way Slack words it in `response_metadata.messages`, e.g.
 * `[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]`.
 *
 * Limits (Slack's Block Kit reference): 50 blocks per message; block_id 255; section text 3000,
 * fields 10 of 2000 each; header text 150 (plain_text only); context 10 elements; actions 25
 * elements; button text 75, action_id 255, value 2000, url 3000; image_url 3000, alt_text 2000;
 * markdown block text 12000; attachments 100 per message.
 */

export const MAX_BLOCKS = 50;
export const MAX_ATTACHMENTS = 100;
/** Longer message text is truncated by Slack, not refused. */
export const MAX_TEXT = 40_000;

type Json = unknown;

interface Check {
  readonly problems: string[];
}

const problem = (check: Check, message: string, pointer: string): void => {
  check.problems.push(`[ERROR] ${message} [json-pointer:${pointer}]`);
};

const isObject = (value: Json): value is Record<string, Json> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const maxLength = (check: Check, value: Json, max: number, pointer: string, required = false): void => {
  if (value === undefined) {
    if (required) problem(check, 'must provide a value', pointer);
    return;
  }
  if (typeof value !== 'string') {
    problem(check, 'must be a string', pointer);
    return;
  }
  if (value.length > max) problem(check, `must be less than ${max + 1} characters`, pointer);
};

const textObject = (
  check: Check,
  value: Json,
  pointer: string,
  options: { max: number; plainOnly?: boolean; required?: boolean },
): void => {
  if (value === undefined) {
    if (options.required) problem(check, 'must provide an object', pointer);
    return;
  }
  if (!isObject(value)) {
    problem(check, 'must provide an object', pointer);
    return;
  }
  const allowed = options.plainOnly ? ['plain_text'] : ['plain_text', 'mrkdwn'];
  if (!allowed.includes(String(value.type))) {
    problem(check, `must be one of [${allowed.join(', ')}]`, `${pointer}/type`);
  }
  if (typeof value.text !== 'string' || value.text.length === 0) {
    problem(check, 'must be more than 0 characters', `${pointer}/text`);
  } else if (value.text.length > options.max) {
    problem(check, `must be less than ${options.max + 1} characters`, `${pointer}/text`);
  }
};

const element = (check: Check, value: Json, pointer: string): void => {
  if (!isObject(value)) {
    problem(check, 'must provide an object', pointer);
    return;
  }
  if (value.type === 'button') {
    textObject(check, value.text, `${pointer}/text`, { max: 75, plainOnly: true, required: true });
    maxLength(check, value.action_id, 255, `${pointer}/action_id`);
    maxLength(check, value.value, 2000, `${pointer}/value`);
    maxLength(check, value.url, 3000, `${pointer}/url`);
    if (value.style !== undefined && value.style !== 'primary' && value.style !== 'danger') {
      problem(check, 'must be one of [primary, danger]', `${pointer}/style`);
    }
  } else if (value.type === 'image') {
    maxLength(check, value.image_url, 3000, `${pointer}/image_url`);
    maxLength(check, value.alt_text, 2000, `${pointer}/alt_text`, true);
  } else if (typeof value.type !== 'string') {
    problem(check, 'must provide a string', `${pointer}/type`);
  }
};

const list = (check: Check, value: Json, pointer: string, min: number, max: number): Json[] => {
  if (!Array.isArray(value)) {
    problem(check, 'must provide an array', pointer);
    return [];
  }
  if (value.length < min) problem(check, `must provide at least ${min} items`, pointer);
  if (value.length > max) problem(check, `no more than ${max} items allowed`, pointer);
  return value;
};

const KNOWN = new Set([
  'actions',
  'context',
  'divider',
  'file',
  'header',
  'image',
  'input',
  'markdown',
  'rich_text',
  'section',
  'table',
  'video',
]);

const block = (check: Check, value: Json, pointer: string): void => {
  if (!isObject(value)) {
    problem(check, 'must provide an object', pointer);
    return;
  }
  maxLength(check, value.block_id, 255, `${pointer}/block_id`);
  switch (value.type) {
    case 'section': {
      if (value.text === undefined && value.fields === undefined) {
        problem(check, 'must provide either text or fields', pointer);
      }
      textObject(check, value.text, `${pointer}/text`, { max: 3000 });
      if (value.fields !== undefined) {
        list(check, value.fields, `${pointer}/fields`, 1, 10).forEach((field, i) => {
          textObject(check, field, `${pointer}/fields/${i}`, { max: 2000, required: true });
        });
      }
      if (value.accessory !== undefined) element(check, value.accessory, `${pointer}/accessory`);
      return;
    }
    case 'header':
      textObject(check, value.text, `${pointer}/text`, { max: 150, plainOnly: true, required: true });
      return;
    case 'context':
      list(check, value.elements, `${pointer}/elements`, 1, 10).forEach((item, i) => {
        const at = `${pointer}/elements/${i}`;
        if (isObject(item) && item.type === 'image') element(check, item, at);
        else textObject(check, item, at, { max: 3000, required: true });
      });
      return;
    case 'actions':
      list(check, value.elements, `${pointer}/elements`, 1, 25).forEach((item, i) => {
        element(check, item, `${pointer}/elements/${i}`);
      });
      return;
    case 'image':
      maxLength(check, value.image_url, 3000, `${pointer}/image_url`);
      maxLength(check, value.alt_text, 2000, `${pointer}/alt_text`, true);
      textObject(check, value.title, `${pointer}/title`, { max: 2000, plainOnly: true });
      return;
    case 'markdown':
      maxLength(check, value.text, 12_000, `${pointer}/text`, true);
      return;
    default:
      if (!KNOWN.has(String(value.type))) problem(check, 'failed to match all allowed schemas', pointer);
  }
};

/** The problems with `blocks` (empty when Slack would accept them). */
export const checkBlocks = (blocks: Json, pointer = '/blocks'): string[] => {
  const check: Check = { problems: [] };
  list(check, blocks, pointer, 0, MAX_BLOCKS).forEach((item, i) => {
    block(check, item, `${pointer}/${i}`);
  });
  return check.problems;
};
