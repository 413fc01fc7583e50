/**
 * Resolves a CloudFormation template's intrinsic functions against a sandbox environment, the way
 * CloudFormation does at deploy time: `Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Sub`, `Fn::Select`,
 * `Fn::Split`, `Fn::If` with the template's Conditions, `Fn::FindInMap`, `Fn::GetAZs`,
 * `Fn::Base64`, `Fn::ToJsonString`, pseudo parameters and Parameters (their defaults, or values
 * given). `Fn::ImportValue` fails: a sandbox stack has no other stacks' exports.
 *
 * Physical ids come from `physical.ts`; a resource whose real id is only known once it exists (a
 * secret's ARN) is given it with `override`, and references resolved after that see it.
 */

import { defaultName, type NamedResource, type StackEnvironment, typeRule } from './physical';
import type { CfnTemplate } from './template';

/** A reference the template makes that cannot be resolved here. */
export class TemplateResolveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateResolveError';
  }
}

/** `Ref: AWS::NoValue`: the property is removed. */
const NO_VALUE: unique symbol = Symbol('AWS::NoValue');

export interface ResolverOptions {
  /** Parameter values, over the template's defaults. */
  readonly parameters?: Readonly<Record<string, string>>;
}

export interface ResolvedIds {
  readonly physicalId: string;
  /** What `Fn::GetAtt Arn` gives, when the type has an ARN. */
  readonly arn?: string;
}

interface Override {
  readonly ref?: string;
  readonly attributes?: Readonly<Record<string, string>>;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const INTRINSICS = new Set([
  'Ref',
  'Fn::GetAtt',
  'Fn::Join',
  'Fn::Sub',
  'Fn::Select',
  'Fn::Split',
  'Fn::If',
  'Fn::Equals',
  'Fn::And',
  'Fn::Or',
  'Fn::Not',
  'Condition',
  'Fn::FindInMap',
  'Fn::GetAZs',
  'Fn::Base64',
  'Fn::ImportValue',
  'Fn::ToJsonString',
  'Fn::Length',
  'Fn::Cidr',
  'Fn::Transform',
]);

/** `{ "Fn::X": args }`, a single-key object naming an intrinsic function. */
const intrinsicOf = (value: Record<string, unknown>): [string, unknown] | undefined => {
  const keys = Object.keys(value);
  const [key] = keys;
  return keys.length === 1 && key !== undefined && INTRINSICS.has(key) ? [key, value[key]] : undefined;
};

const SUB_VARIABLE = /\$\{([^}]*)\}/g;

/** The logical ids a template value refers to (Ref, GetAtt, Sub variables), for ordering. */
export const referencedIds = (value: unknown, into = new Set<string>()): Set<string> => {
  if (Array.isArray(value)) {
    for (const item of value) referencedIds(item, into);
  } else if (isRecord(value)) {
    const intrinsic = intrinsicOf(value);
    if (intrinsic?.[0] === 'Ref' && typeof intrinsic[1] === 'string') into.add(intrinsic[1]);
    else if (intrinsic?.[0] === 'Fn::GetAtt') {
      const target = typeof intrinsic[1] === 'string' ? intrinsic[1].split('.')[0] : (intrinsic[1] as unknown[])[0];
      if (typeof target === 'string') into.add(target);
    } else if (intrinsic?.[0] === 'Fn::Sub') {
      const [text, variables] = Array.isArray(intrinsic[1]) ? intrinsic[1] : [intrinsic[1], {}];
      if (typeof text === 'string') {
        for (const match of text.matchAll(SUB_VARIABLE)) {
          const name = match[1] ?? '';
          if (!name.startsWith('!') && !(isRecord(variables) && name in variables)) into.add(name.split('.')[0] ?? '');
        }
      }
      referencedIds(variables, into);
    } else {
      for (const item of Object.values(value)) referencedIds(item, into);
    }
  }
  return into;
};

export class TemplateResolver {
  readonly env: Required<StackEnvironment>;
  private readonly overrides = new Map<string, Override>();
  private readonly names = new Map<string, string>();
  private readonly naming = new Set<string>();

  constructor(
    readonly template: CfnTemplate,
    env: StackEnvironment,
    private readonly options: ResolverOptions = {},
  ) {
    this.env = { partition: 'aws', urlSuffix: 'amazonaws.com', ...env };
  }

  get logicalIds(): string[] {
    return Object.keys(this.template.Resources);
  }

  /** False when the resource's Condition says it is not created. */
  isActive(logicalId: string): boolean {
    const resource = this.resourceOf(logicalId);
    return resource.Condition === undefined || this.condition(resource.Condition);
  }

  condition(name: string): boolean {
    const definition = this.template.Conditions?.[name];
    if (definition === undefined) throw new TemplateResolveError(`the template has no condition '${name}'`);
    const value = this.resolve(definition, `Conditions.${name}`);
    if (typeof value !== 'boolean') throw new TemplateResolveError(`condition '${name}' is not a boolean`);
    return value;
  }

  /** The resource's properties with every intrinsic resolved and `AWS::NoValue` removed. */
  properties(logicalId: string): Record<string, unknown> {
    const resolved = this.resolve(this.resourceOf(logicalId).Properties ?? {}, `${logicalId}.Properties`);
    return isRecord(resolved) ? resolved : {};
  }

  /** The resource's physical id (what `Ref` returns) and ARN. */
  ids(logicalId: string): ResolvedIds {
    const resource = this.resourceOf(logicalId);
    const physicalId = this.ref(logicalId);
    const attributes = typeRule(resource.Type).attributes ?? {};
    const hasArn = this.overrides.get(logicalId)?.attributes?.Arn !== undefined || 'Arn' in attributes;
    const arn = hasArn ? this.getAtt(logicalId, 'Arn') : physicalId.startsWith('arn:') ? physicalId : undefined;
    return { physicalId, ...(arn === undefined ? {} : { arn }) };
  }

  /** The resource's name: its name property resolved, or the generated one. */
  name(logicalId: string): string {
    const known = this.names.get(logicalId);
    if (known !== undefined) return known;
    if (this.naming.has(logicalId)) throw new TemplateResolveError(`the name of ${logicalId} refers to itself`);
    this.naming.add(logicalId);
    try {
      const resource = this.resourceOf(logicalId);
      const nameProperty = typeRule(resource.Type).nameProperty;
      const raw = nameProperty ? resource.Properties?.[nameProperty] : undefined;
      const explicit = raw === undefined ? undefined : this.resolve(raw, `${logicalId}.Properties.${nameProperty}`);
      const name =
        typeof explicit === 'string'
          ? explicit
          : defaultName(resource.Type, logicalId, this.env, (property) => this.property(logicalId, property));
      this.names.set(logicalId, name);
      return name;
    } finally {
      this.naming.delete(logicalId);
    }
  }

  /** Records a resource's real ids once it exists (a secret's ARN). */
  override(logicalId: string, override: Override): void {
    const previous = this.overrides.get(logicalId);
    this.overrides.set(logicalId, {
      ...previous,
      ...override,
      attributes: { ...previous?.attributes, ...override.attributes },
    });
  }

  ref(logicalId: string): string {
    const override = this.overrides.get(logicalId)?.ref;
    if (override !== undefined) return override;
    const resource = this.resourceOf(logicalId);
    const rule = typeRule(resource.Type);
    return rule.ref ? rule.ref(this.named(logicalId)) : this.name(logicalId);
  }

  getAtt(logicalId: string, attribute: string): string {
    const override = this.overrides.get(logicalId)?.attributes?.[attribute];
    if (override !== undefined) return override;
    const resource = this.resourceOf(logicalId);
    const get = typeRule(resource.Type).attributes?.[attribute];
    if (!get) {
      throw new TemplateResolveError(
        `Fn::GetAtt ${logicalId}.${attribute}: the sandbox does not know the ${attribute} of a ${resource.Type}`,
      );
    }
    return get(this.named(logicalId));
  }

  /** Resolves any template value. `where` names it in errors. */
  resolve(value: unknown, where = 'template'): unknown {
    const resolved = this.resolveValue(value, where);
    return resolved === NO_VALUE ? undefined : resolved;
  }

  private named(logicalId: string): NamedResource {
    return {
      logicalId,
      name: this.name(logicalId),
      property: (property) => this.property(logicalId, property),
      env: this.env,
    };
  }

  private property(logicalId: string, property: string): unknown {
    const raw = this.resourceOf(logicalId).Properties?.[property];
    return raw === undefined ? undefined : this.resolve(raw, `${logicalId}.Properties.${property}`);
  }

  private resourceOf(logicalId: string) {
    const resource = this.template.Resources[logicalId];
    if (!resource) throw new TemplateResolveError(`the template has no resource '${logicalId}'`);
    return resource;
  }

  private resolveValue(value: unknown, where: string): unknown {
    if (Array.isArray(value)) {
      return value.map((item, index) => this.resolveValue(item, `${where}[${index}]`)).filter((v) => v !== NO_VALUE);
    }
    if (!isRecord(value)) return value;
    const intrinsic = intrinsicOf(value);
    if (intrinsic) return this.intrinsic(intrinsic[0], intrinsic[1], where);
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      const resolved = this.resolveValue(item, `${where}.${key}`);
      if (resolved !== NO_VALUE) out[key] = resolved;
    }
    return out;
  }

  private string(value: unknown, where: string): string {
    const resolved = this.resolveValue(value, where);
    if (typeof resolved === 'string') return resolved;
    if (typeof resolved === 'number' || typeof resolved === 'boolean') return String(resolved);
    throw new TemplateResolveError(`${where}: expected a string, got ${JSON.stringify(resolved)}`);
  }

  private list(value: unknown, where: string): unknown[] {
    const resolved = this.resolveValue(value, where);
    if (!Array.isArray(resolved)) throw new TemplateResolveError(`${where}: expected a list`);
    return resolved;
  }

  private args(value: unknown, count: number, fn: string, where: string): unknown[] {
    if (!Array.isArray(value) || value.length !== count) {
      throw new TemplateResolveError(`${where}: ${fn} takes a list of ${count}`);
    }
    return value;
  }

  private intrinsic(fn: string, args: unknown, where: string): unknown {
    switch (fn) {
      case 'Ref':
        if (typeof args !== 'string') throw new TemplateResolveError(`${where}: Ref takes a name`);
        return this.refName(args, where);
      case 'Fn::GetAtt': {
        const [target, ...attribute] = typeof args === 'string' ? args.split('.') : this.args(args, 2, fn, where);
        const name = typeof attribute[0] === 'string' ? attribute.join('.') : this.string(attribute[0], where);
        if (typeof target !== 'string') throw new TemplateResolveError(`${where}: Fn::GetAtt needs a logical id`);
        this.requireActive(target, where);
        return this.getAtt(target, name);
      }
      case 'Fn::Join': {
        const [delimiter, items] = this.args(args, 2, fn, where);
        return this.list(items, where)
          .map((item) => this.string(item, where))
          .join(String(delimiter));
      }
      case 'Fn::Sub':
        return this.sub(args, where);
      case 'Fn::Select': {
        const [index, items] = this.args(args, 2, fn, where);
        const list = this.list(items, where);
        const at = Number(this.string(index, where));
        if (!Number.isInteger(at) || at < 0 || at >= list.length) {
          throw new TemplateResolveError(`${where}: Fn::Select index ${String(index)} is outside the list`);
        }
        return list[at];
      }
      case 'Fn::Split': {
        const [delimiter, text] = this.args(args, 2, fn, where);
        return this.string(text, where).split(String(delimiter));
      }
      case 'Fn::If': {
        const [condition, whenTrue, whenFalse] = this.args(args, 3, fn, where);
        return this.condition(String(condition))
          ? this.resolveValue(whenTrue, where)
          : this.resolveValue(whenFalse, where);
      }
      case 'Fn::Equals': {
        const [left, right] = this.args(args, 2, fn, where).map((item) => this.resolveValue(item, where));
        // CloudFormation compares scalars as strings: `true` equals "true", 1 equals "1".
        const scalar = (v: unknown) => (typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));
        return scalar(left) === scalar(right);
      }
      case 'Fn::And':
        return (args as unknown[]).every((item) => this.resolveValue(item, where) === true);
      case 'Fn::Or':
        return (args as unknown[]).some((item) => this.resolveValue(item, where) === true);
      case 'Fn::Not':
        return this.resolveValue(this.args(args, 1, fn, where)[0], where) !== true;
      case 'Condition':
        return this.condition(String(args));
      case 'Fn::FindInMap': {
        const [map, top, second] = this.args(args, 3, fn, where).map((item) => this.string(item, where));
        const value = this.template.Mappings?.[map ?? '']?.[top ?? '']?.[second ?? ''];
        if (value === undefined) throw new TemplateResolveError(`${where}: no mapping ${map}.${top}.${second}`);
        return value;
      }
      case 'Fn::GetAZs': {
        const region = this.string(args, where) || this.env.region;
        return ['a', 'b', 'c'].map((zone) => `${region}${zone}`);
      }
      case 'Fn::Base64':
        return Buffer.from(this.string(args, where), 'utf8').toString('base64');
      case 'Fn::ToJsonString':
        return JSON.stringify(this.resolveValue(args, where));
      case 'Fn::Length':
        return this.list(args, where).length;
      case 'Fn::ImportValue':
        throw new TemplateResolveError(
          `${where}: Fn::ImportValue ${JSON.stringify(args)} needs another stack's export; the sandbox provisions one stack and has no exports`,
        );
      default:
        throw new TemplateResolveError(`${where}: ${fn} is not supported by the sandbox`);
    }
  }

  private requireActive(logicalId: string, where: string): void {
    if (this.template.Resources[logicalId] && !this.isActive(logicalId)) {
      throw new TemplateResolveError(`${where}: ${logicalId} is not created (its condition is false)`);
    }
  }

  private refName(name: string, where: string): unknown {
    switch (name) {
      case 'AWS::NoValue':
        return NO_VALUE;
      case 'AWS::Region':
        return this.env.region;
      case 'AWS::AccountId':
        return this.env.account;
      case 'AWS::Partition':
        return this.env.partition;
      case 'AWS::URLSuffix':
        return this.env.urlSuffix;
      case 'AWS::StackName':
        return this.env.stackName;
      case 'AWS::StackId':
        return `arn:${this.env.partition}:cloudformation:${this.env.region}:${this.env.account}:stack/${this.env.stackName}/sandbox`;
      case 'AWS::NotificationARNs':
        return [];
    }
    const parameter = this.template.Parameters?.[name];
    if (parameter) return this.parameter(name, parameter.Type, parameter.Default, where);
    if (!this.template.Resources[name]) throw new TemplateResolveError(`${where}: Ref ${name}: no such resource`);
    this.requireActive(name, where);
    return this.ref(name);
  }

  private parameter(name: string, type: string, fallback: unknown, where: string): unknown {
    const given = this.options.parameters?.[name];
    if (type.startsWith('AWS::SSM::Parameter::Value<') && given === undefined) {
      throw new TemplateResolveError(
        `${where}: parameter ${name} is read from the SSM parameter ${String(fallback)} at deploy time; pass its value`,
      );
    }
    const value = given ?? fallback;
    if (value === undefined) throw new TemplateResolveError(`${where}: parameter ${name} has no value and no default`);
    if (type === 'CommaDelimitedList' || type.startsWith('List<')) {
      return Array.isArray(value) ? value.map(String) : String(value).split(',');
    }
    return typeof value === 'string' ? value : String(value);
  }

  private sub(args: unknown, where: string): string {
    const [template, variables] = Array.isArray(args) ? this.args(args, 2, 'Fn::Sub', where) : [args, {}];
    if (typeof template !== 'string') throw new TemplateResolveError(`${where}: Fn::Sub takes a string`);
    const values = isRecord(variables) ? variables : {};
    return template.replace(SUB_VARIABLE, (_match, name: string) => {
      if (name.startsWith('!')) return `\${${name.slice(1)}}`;
      if (name in values) return this.string(values[name], where);
      const dot = name.indexOf('.');
      if (dot > 0 && !name.startsWith('AWS::')) {
        const target = name.slice(0, dot);
        this.requireActive(target, where);
        return this.getAtt(target, name.slice(dot + 1));
      }
      return this.string({ Ref: name }, where);
    });
  }
}
