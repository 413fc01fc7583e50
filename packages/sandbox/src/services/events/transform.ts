/**
 * What a rule's target receives: the event itself, a constant `Input`, the part `InputPath` selects,
 * or what an `InputTransformer` makes of it. Pure.
 *
 * The input transformer follows
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html:
 * variables come from `InputPathsMap` (JSON paths: dot notation and array indices) and the reserved
 * `aws.events.*` names; in a JSON template (one starting with `{` or `[`) a placeholder outside
 * quotes becomes the value as JSON (strings quoted) and one inside a string literal the raw text,
 * not escaped, as EventBridge does; in any other template every placeholder becomes raw text. A
 * path that matches nothing gives `null` outside quotes and an empty string inside them.
 */
import type { EventEnvelope, InputTransformer } from './model';

export interface TransformContext {
  readonly ruleArn: string;
  readonly ruleName: string;
  readonly ingestionTime: string;
}

/** Evaluates the JSON path subset EventBridge supports: `$`, `$.a.b-c`, `$.a[0]`, `$['a']`. */
export const evaluatePath = (root: unknown, path: string): unknown => {
  const trimmed = path.trim();
  if (trimmed === '$') return root;
  if (!trimmed.startsWith('$')) return undefined;
  const steps = [...trimmed.slice(1).matchAll(/\.([^.[\]]+)|\[(\d+)\]|\['([^']*)'\]|\["([^"]*)"\]/g)];
  let value: unknown = root;
  for (const step of steps) {
    if (value === null || typeof value !== 'object') return undefined;
    const key = step[1] ?? step[3] ?? step[4];
    if (key !== undefined) {
      if (Array.isArray(value)) return undefined;
      value = (value as Record<string, unknown>)[key];
    } else {
      if (!Array.isArray(value)) return undefined;
      value = value[Number(step[2])];
    }
  }
  return value;
};

/** The payload (a string) the target receives. */
export const targetInput = (
  target: { Input?: string; InputPath?: string; InputTransformer?: InputTransformer },
  event: EventEnvelope,
  context: TransformContext,
): string => {
  if (target.Input !== undefined) return target.Input;
  if (target.InputPath !== undefined) return JSON.stringify(evaluatePath(event, target.InputPath) ?? null);
  if (target.InputTransformer !== undefined) return applyTransformer(target.InputTransformer, event, context);
  return JSON.stringify(event);
};

const RESERVED = 'aws.events.';

export const applyTransformer = (
  transformer: InputTransformer,
  event: EventEnvelope,
  context: TransformContext,
): string => {
  const variables = new Map<string, unknown>();
  for (const [name, path] of Object.entries(transformer.InputPathsMap ?? {})) {
    const value = evaluatePath(event, path);
    if (value !== undefined) variables.set(name, value);
  }
  const { detail: _detail, ...withoutDetail } = event;
  const reserved: Record<string, unknown> = {
    'aws.events.rule-arn': context.ruleArn,
    'aws.events.rule-name': context.ruleName,
    'aws.events.event.ingestion-time': context.ingestionTime,
    'aws.events.event': withoutDetail,
    'aws.events.event.json': event,
  };
  const lookup = (name: string): { found: boolean; value: unknown } => {
    if (name.startsWith(RESERVED)) return { found: name in reserved, value: reserved[name] };
    return { found: variables.has(name), value: variables.get(name) };
  };
  const template = transformer.InputTemplate;
  const isJson = /^\s*[[{]/.test(template);
  let output = '';
  let inString = false;
  for (let index = 0; index < template.length; index++) {
    const char = template[index] as string;
    if (char === '\\' && inString) {
      output += char + (template[index + 1] ?? '');
      index += 1;
      continue;
    }
    if (char === '"') inString = !inString;
    if (char === '<') {
      const close = template.indexOf('>', index);
      const name = close > index ? template.slice(index + 1, close) : '';
      if (/^[A-Za-z0-9_.-]+$/.test(name)) {
        const { found, value } = lookup(name);
        output += render(value, found, isJson && !inString);
        index = close;
        continue;
      }
    }
    output += char;
  }
  return output;
};

const render = (value: unknown, found: boolean, asJson: boolean): string => {
  if (!found || value === undefined) return asJson ? 'null' : '';
  if (asJson) return JSON.stringify(value);
  return typeof value === 'string' ? value : JSON.stringify(value);
};
