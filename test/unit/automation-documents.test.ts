import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { checkAutomationDocument, isLaunchStep, isTerminateStep } from '../../automation/check-document';
import { BAKE_DOCUMENT_FILES, type BakeOs, listBakeDocuments, loadBakeDocument } from '../../automation/documents';
import shippedConfig from '../../bakehouse.config';
import {
  BAKE_DOCUMENT_OUTPUTS,
  BAKE_DOCUMENT_OUTPUTS_BY_OS,
  BAKE_DOCUMENTS,
  LINUX_BAKE_PARAMETERS,
  parseBakeReport,
  releaseOfAutomation,
  WINDOWS_BAKE_PARAMETERS,
} from '../../functions/commons/documents';
import { loadConfig } from '../../functions/commons/families';
import {
  COMMAND_STDOUT_LIMIT,
  decodeLines,
  ENCODED_BLOCK_BUDGET,
  INVENTORY_STEP,
  parseInventoryOutput,
} from '../../functions/commons/inventory';
import { documentParameters } from '../../functions/plan-bake/core';

// Loose views of a parsed document, for reading fields in assertions (the checker vouches for the shape).
interface StepView {
  name: string;
  action: string;
  inputs: Inputs;
  onFailure?: string;
  onCancel?: string;
  isEnd?: boolean;
  nextStep?: string;
  outputs?: { Name: string; Selector: string; Type: string }[];
  [field: string]: unknown;
}
interface Inputs {
  DocumentName?: string;
  Parameters?: { commands?: string[]; [parameter: string]: unknown };
  TagSpecifications?: TagSpecification[];
  Choices?: { NextStep: string; [field: string]: unknown }[];
  [field: string]: unknown;
}
interface DocView {
  schemaVersion: string;
  parameters: Record<string, { type: string; description: string; default?: unknown; allowedValues?: string[] }>;
  mainSteps: StepView[];
  outputs: string[];
}
interface TagSpecification {
  ResourceType: string;
  Tags: { Key: string; Value: string }[];
}

const OSES: readonly BakeOs[] = ['linux', 'windows'];
const CONTRACT_PARAMETERS = { linux: LINUX_BAKE_PARAMETERS, windows: WINDOWS_BAKE_PARAMETERS } as const;

const shipped = { linux: loadBakeDocument('linux').document, windows: loadBakeDocument('windows').document };

/** A fresh, mutable copy of a shipped document for each test. */
const bakeDoc = (os: BakeOs): DocView => structuredClone(shipped[os]) as DocView;

const stepOf = (doc: DocView, name: string): StepView => {
  const step = doc.mainSteps.find((s) => s.name === name);
  if (!step) throw new Error(`the document has no step '${name}'`);
  return step;
};

const indexOf = (doc: DocView, name: string): number => doc.mainSteps.findIndex((s) => s.name === name);

const launchStepOf = (doc: DocView): StepView => {
  const launches = doc.mainSteps.filter((s) => isLaunchStep(s));
  expect(launches).toHaveLength(1);
  return launches[0] as StepView;
};

const tagsOf = (specs: TagSpecification[] | undefined, resourceType: string): Record<string, string> => {
  const spec = specs?.find((s) => s.ResourceType === resourceType);
  if (!spec) throw new Error(`no TagSpecification for ${resourceType}`);
  return Object.fromEntries(spec.Tags.map((t) => [t.Key, t.Value]));
};

/** The script a runCommand step sends, as the document has it. */
const scriptOf = (doc: DocView, stepName: string): string => {
  const commands = stepOf(doc, stepName).inputs.Parameters?.commands;
  if (!commands) throw new Error(`step '${stepName}' sends no commands`);
  return commands.join('\n');
};

/** The script of a runCommand step, with `{{ Parameter }}` replaced by the given values ('' otherwise). */
const commandText = (doc: DocView, stepName: string, values: Record<string, string> = {}): string =>
  scriptOf(doc, stepName).replace(/\{\{\s*(\w+)\s*\}\}/g, (_match, name: string) => values[name] ?? '');

const problemsNaming = (problems: readonly string[], ...fragments: string[]): string[] =>
  problems.filter((p) => fragments.every((f) => p.includes(f)));

describe.each(OSES)('the %s bake document', (os) => {
  it('parses, carries its contract name and passes the structural checker', () => {
    // Act
    const loaded = loadBakeDocument(os);

    // Assess
    expect(loaded.name).toBe(BAKE_DOCUMENTS[os]);
    expect(checkAutomationDocument(loaded.document)).toEqual([]);
  });

  it('reports the sha256 of the exact file bytes', () => {
    // Prepare
    const expected = createHash('sha256').update(readFileSync(BAKE_DOCUMENT_FILES[os])).digest('hex');

    // Act
    const loaded = loadBakeDocument(os);

    // Assess
    expect(loaded.sha256).toBe(expected);
    expect(loaded.content).toBe(readFileSync(BAKE_DOCUMENT_FILES[os], 'utf8'));
  });

  it('declares exactly the contract parameters, each typed and described', () => {
    // Act
    const { parameters } = bakeDoc(os);

    // Assess
    expect(Object.keys(parameters).sort()).toEqual([...CONTRACT_PARAMETERS[os]].sort());
    for (const [name, definition] of Object.entries(parameters)) {
      expect(definition.type, name).toMatch(/^(String|StringList|Integer|Boolean)$/);
      expect(definition.description, name).toMatch(/\S{3}/);
    }
  });

  it('lists the Output of at most one aws:runCommand step among its automation outputs (the collectReport step)', () => {
    // Prepare
    // Automation supports the output of only one Run Command action per runbook:
    // https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-action-runcommand.html
    const doc = bakeDoc(os);
    const runCommandSteps = new Set(doc.mainSteps.filter((s) => s.action === 'aws:runCommand').map((s) => s.name));

    // Act
    const kept = doc.outputs.filter((o) => runCommandSteps.has(o.split('.')[0] ?? ''));

    // Assess
    expect(kept.length).toBeLessThanOrEqual(1);
    expect(kept).toEqual([BAKE_DOCUMENT_OUTPUTS.report]);
  });

  it("defaults the scripts to '' so a family without them needs no value", () => {
    // Act
    const { parameters } = bakeDoc(os);

    // Assess
    for (const name of ['PreScript', 'InstallScript', 'PostScript']) {
      expect(parameters[name]?.default, name).toBe('');
    }
  });

  it('outputs the image id and the report the callback keeps', () => {
    // Act
    const doc = bakeDoc(os);

    // Assess
    expect(doc.outputs).toEqual(expect.arrayContaining([...BAKE_DOCUMENT_OUTPUTS_BY_OS[os]]));
    expect(doc.outputs).toContain(BAKE_DOCUMENT_OUTPUTS.report);
    expect(stepOf(doc, 'createImage').outputs).toContainEqual({
      Name: 'ImageId',
      Selector: '$.ImageId',
      Type: 'String',
    });
  });

  it('launches one builder from SourceAmiId with IMDSv2 taken from HttpTokens', () => {
    // Act
    const launch = launchStepOf(bakeDoc(os));

    // Assess
    expect(launch.inputs).toMatchObject({
      ImageId: '{{ SourceAmiId }}',
      MinCount: 1,
      MaxCount: 1,
      SubnetId: '{{ SubnetId }}',
      SecurityGroupIds: '{{ SecurityGroupIds }}',
      IamInstanceProfile: { Name: '{{ IamInstanceProfileName }}' },
      MetadataOptions: { HttpTokens: '{{ HttpTokens }}', HttpEndpoint: 'enabled' },
    });
  });

  it('retries the launch with a client token, so a retry cannot start a second builder', () => {
    // Act
    const launch = launchStepOf(bakeDoc(os));

    // Assess
    expect(launch.inputs.ClientToken).toBe('{{ automation:EXECUTION_ID }}');
    expect(launch.maxAttempts).toBeGreaterThan(1);
  });

  it('encrypts the root volume with the Encrypted and KmsKeyId parameters', () => {
    // Act
    const launch = launchStepOf(bakeDoc(os));

    // Assess
    expect(launch.inputs.BlockDeviceMappings).toEqual([
      {
        DeviceName: '{{ RootDeviceName }}',
        Ebs: {
          VolumeSize: '{{ VolumeSize }}',
          VolumeType: 'gp3',
          Encrypted: '{{ Encrypted }}',
          KmsKeyId: '{{ KmsKeyId }}',
          DeleteOnTermination: true,
        },
      },
    ]);
  });

  it('tags the builder instance and its volume at launch, with an expiry for the reaper', () => {
    // Act
    const specs = launchStepOf(bakeDoc(os)).inputs.TagSpecifications;

    // Assess
    for (const resourceType of ['instance', 'volume']) {
      expect(tagsOf(specs, resourceType), resourceType).toMatchObject({
        'bakehouse:managed': 'true',
        'bakehouse:role': 'builder',
        'bakehouse:bake-id': '{{ BakeId }}',
        'bakehouse:family': '{{ Family }}',
        'bakehouse:expires-at': '{{ BuilderExpiresAt }}',
      });
    }
  });

  it('creates the image from the stopped builder, tagging the image and its snapshots at creation', () => {
    // Prepare
    const doc = bakeDoc(os);

    // Act
    const createImage = stepOf(doc, 'createImage');

    // Assess
    expect(createImage.inputs).toMatchObject({
      Service: 'ec2',
      Api: 'CreateImage',
      InstanceId: '{{ launchBuilder.InstanceId }}',
      Name: '{{ ImageName }}',
    });
    for (const resourceType of ['image', 'snapshot']) {
      expect(tagsOf(createImage.inputs.TagSpecifications, resourceType), resourceType).toMatchObject({
        'bakehouse:managed': 'true',
        'bakehouse:family': '{{ Family }}',
        'bakehouse:bake-id': '{{ BakeId }}',
        'bakehouse:source-ami': '{{ SourceAmiId }}',
      });
    }
    const stop = doc.mainSteps[indexOf(doc, 'createImage') - 1];
    expect(stop?.action).toBe('aws:changeInstanceState');
    expect(stop?.inputs.DesiredState).toBe('stopped');
  });

  it('waits for the new image to be available before terminating the builder on success', () => {
    // Prepare
    const doc = bakeDoc(os);
    const names = doc.mainSteps.map((s) => s.name);

    // Act
    const terminate = stepOf(doc, 'terminateBuilder');

    // Assess
    expect(names.indexOf('assertImageAvailable')).toBe(names.indexOf('terminateBuilder') - 1);
    expect(stepOf(doc, 'assertImageAvailable').inputs.DesiredValues).toEqual(['available']);
    expect(isTerminateStep(terminate)).toBe(true);
    expect(terminate.isEnd).toBe(true);
  });

  it('routes the failure and the cancel of every step after the launch to a terminating step', () => {
    // Prepare
    const doc = bakeDoc(os);
    const afterLaunch = doc.mainSteps.slice(indexOf(doc, launchStepOf(doc).name) + 1);

    // Act
    const unguarded = afterLaunch
      .filter((step) => !isTerminateStep(step))
      .filter((step) => {
        const failure = stepOf(doc, step.onFailure?.replace(/^step:/, '') ?? '?');
        const cancel = stepOf(doc, step.onCancel?.replace(/^step:/, '') ?? '?');
        return !(isTerminateStep(failure) && isTerminateStep(cancel));
      });

    // Assess
    expect(afterLaunch.length).toBeGreaterThan(10);
    expect(unguarded.map((s) => s.name)).toEqual([]);
  });

  it('accepts every parameter plan-bake sends for the example families, within SSM limits', () => {
    // Prepare
    const config = loadConfig(structuredClone(shippedConfig));
    const { parameters } = bakeDoc(os);
    const image = {
      ImageId: 'ami-0123456789abcdef0',
      RootDeviceName: os === 'windows' ? '/dev/sda1' : '/dev/xvda',
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 8 } }],
    };
    const settings = {
      region: 'us-east-1',
      documents: {
        linux: { name: 'bakehouse-test-bake-linux', sha256: 'a'.repeat(64) },
        windows: { name: 'bakehouse-test-bake-windows', sha256: 'b'.repeat(64) },
      },
      automationRoleArn: 'arn:aws:iam::000000000000:role/bakehouse-automation',
      builderInstanceProfile: 'bakehouse-builder',
      automationWaitSeconds: 600,
      stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:bakehouse-test-bake',
    };
    const families = config.families.filter((f) => f.os === os);

    // Act
    const sent = families.map((family) =>
      documentParameters(family, image, 'bake-1', new Date('2026-11-22T03:00:00Z'), { settings, config }),
    );

    // Assess
    expect(families.length).toBeGreaterThan(0);
    for (const values of sent) {
      const required = Object.entries(parameters).filter(([, d]) => d.default === undefined);
      expect(Object.keys(values)).toEqual(expect.arrayContaining(required.map(([name]) => name)));
      for (const [name, list] of Object.entries(values)) {
        const definition = parameters[name];
        expect(definition, `plan-bake sends '${name}'`).toBeDefined();
        // StartAutomationExecution takes at most 512 characters per value.
        for (const value of list) expect(value.length, name).toBeLessThanOrEqual(512);
        if (definition?.type !== 'StringList') expect(list, name).toHaveLength(1);
        if (definition?.type === 'Integer') expect(list[0], name).toMatch(/^\d+$/);
        if (definition?.type === 'Boolean') expect(['true', 'false'], name).toContain(list[0]);
        if (definition?.allowedValues) expect(definition.allowedValues, name).toContain(list[0]);
      }
    }
  });
});

describe('the Linux bake steps', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'bakehouse-automation-'));
  afterAll(() => {
    rmSync(scratch, { recursive: true, force: true });
  });

  /** The host's own copy of a tool. */
  const hostTool = (tool: string): string | undefined =>
    ['/usr/bin', '/bin'].map((d) => join(d, tool)).find((p) => existsSync(p));
  /** Links the host's copies of `tools` into `bin` (a tool the host lacks is left out). */
  const linkHostTools = (bin: string, tools: readonly string[]): void => {
    for (const tool of tools) {
      const real = hostTool(tool);
      if (real) symlinkSync(real, join(bin, tool));
    }
  };

  /** A PATH holding only fake package tools plus the text utilities the scripts use. */
  const fakeBin = (name: string, tools: Record<string, string>): { bin: string; log: string } => {
    const bin = join(scratch, name);
    mkdirSync(bin);
    linkHostTools(bin, ['awk', 'cat', 'comm', 'grep', 'head', 'mkdir', 'rm', 'sed', 'sort', 'tr', 'wc']);
    // mktemp, recording what it made (the scripts name /tmp; temporaryFilesLeft checks each is gone).
    const mktemp = hostTool('mktemp');
    writeFileSync(
      join(bin, 'mktemp'),
      `#!/bin/sh\nmade=$('${mktemp}' "$@") || exit $?\necho "$made" >> '${join(bin, 'mktemp.log')}'\necho "$made"\n`,
    );
    chmodSync(join(bin, 'mktemp'), 0o755);
    const log = join(bin, 'calls.log');
    for (const [tool, body] of Object.entries(tools)) {
      writeFileSync(join(bin, tool), `#!/bin/sh\necho "${tool} $*" >> '${log}'\n${body}\n`);
      chmodSync(join(bin, tool), 0o755);
    }
    return { bin, log };
  };

  /** The files the scripts made with mktemp that are still there (removed here, so none leak). */
  const temporaryFilesLeft = (bin: string): string[] => {
    const made = existsSync(join(bin, 'mktemp.log')) ? readFileSync(join(bin, 'mktemp.log'), 'utf8') : '';
    const left = made.split('\n').filter((path) => path !== '' && existsSync(path));
    for (const path of left) rmSync(path, { force: true });
    return left;
  };

  const runSh = (script: string, bin: string, cwd = scratch) =>
    spawnSync('/bin/sh', [], { input: script, cwd, env: { PATH: bin }, encoding: 'utf8' });

  it('writes POSIX shell that sh and bash both parse', () => {
    // Prepare
    const doc = bakeDoc('linux');
    const values = { PreScript: 'echo pre', InstallScript: '# bakehouse step: a\necho a', ExcludePackages: 'x*' };
    const shellSteps = doc.mainSteps.filter((s) => s.inputs.DocumentName === 'AWS-RunShellScript');

    // Act
    const failures = shellSteps.flatMap((step) =>
      ['sh', 'bash'].flatMap((shell) => {
        const result = spawnSync(shell, ['-n'], { input: commandText(doc, step.name, values), encoding: 'utf8' });
        return result.status === 0 ? [] : [`${step.name} (${shell}): ${result.stderr}`];
      }),
    );

    // Assess
    expect(shellSteps.length).toBeGreaterThanOrEqual(8);
    expect(failures).toEqual([]);
  });

  it('takes the inventory with dpkg-query or rpm, whichever exists, sorted into a file', () => {
    // Prepare
    const state = join(scratch, 'before-state');
    mkdirSync(state);
    const { bin } = fakeBin('rpm-only', { rpm: `printf 'zlib 1.2-3.x86_64\\nbash 5.2-1.x86_64\\n'` });
    const script = commandText(bakeDoc('linux'), 'inventoryBefore').replaceAll('/var/lib/bakehouse', state);

    // Act
    const result = runSh(script, bin);

    // Assess
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toBe('2 packages installed\n');
    expect(readFileSync(join(state, 'packages-before.txt'), 'utf8')).toBe('bash 5.2-1.x86_64\nzlib 1.2-3.x86_64\n');
    expect(existsSync(join(state, 'release-before.txt'))).toBe(false);
  });

  it('records the Amazon Linux 2023 release the builder starts from, read from system-release', () => {
    // Prepare
    const state = join(scratch, 'before-release');
    mkdirSync(state);
    const { bin } = fakeBin('al2023-before', {
      dnf: 'exit 0',
      rpm: `case "$*" in *system-release*) echo 2023.9.20261101.0 ;; *) echo 'bash 5.2-1.x86_64' ;; esac`,
    });
    const script = commandText(bakeDoc('linux'), 'inventoryBefore').replaceAll('/var/lib/bakehouse', state);

    // Act
    const result = runSh(script, bin);

    // Assess
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('release 2023.9.20261101.0');
    expect(readFileSync(join(state, 'release-before.txt'), 'utf8')).toBe('2023.9.20261101.0\n');
  });

  /** Runs collectReport over a before-list, with the given tools for the after-list. */
  const report = (name: string, before: string, tools: Record<string, string>, releaseBefore?: string) => {
    const state = join(scratch, `${name}-state`);
    mkdirSync(state);
    writeFileSync(join(state, 'packages-before.txt'), before);
    if (releaseBefore) writeFileSync(join(state, 'release-before.txt'), `${releaseBefore}\n`);
    const { bin } = fakeBin(name, tools);
    const script = commandText(bakeDoc('linux'), 'collectReport').replaceAll('/var/lib/bakehouse', state);
    return { result: runSh(script, bin), state };
  };

  it('reports the package changes as compact +name-version and -name-version lines, releases unknown on apt', () => {
    // Act
    const { result, state } = report('dpkg-after', 'curl 8.0\njq 1.6\nopenssl 3.0.7\n', {
      'dpkg-query': `printf 'openssl 3.0.8\\njq 1.6\\nnginx 1.24\\n'`,
    });

    // Assess
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(
      'bakehouse-report 1\nrelease-before -\nrelease-after -\nchanges 4\n-curl-8.0\n+nginx-1.24\n-openssl-3.0.7\n+openssl-3.0.8\n',
    );
    expect(readFileSync(join(state, 'package-changes.txt'), 'utf8')).toContain('+nginx-1.24');
    expect(parseBakeReport(result.stdout)).toEqual({
      releaseBefore: null,
      releaseAfter: null,
      changeCount: 4,
      changes: ['-curl-8.0', '+nginx-1.24', '-openssl-3.0.7', '+openssl-3.0.8'],
      omitted: 0,
    });
  });

  it('reports the release before and after on Amazon Linux 2023', () => {
    // Act
    const { result, state } = report(
      'al2023-after',
      'bash 5.2-1.amzn2023.x86_64\n',
      {
        dnf: 'exit 0',
        rpm: `case "$*" in *system-release*) echo 2023.9.20261122.0 ;; *) echo 'bash 5.2-2.amzn2023.x86_64' ;; esac`,
      },
      '2023.9.20261101.0',
    );

    // Assess
    expect(result.status).toBe(0);
    const parsed = parseBakeReport(result.stdout);
    expect(parsed?.releaseBefore).toBe('2023.9.20261101.0');
    expect(parsed?.releaseAfter).toBe('2023.9.20261122.0');
    expect(parsed?.changes).toEqual(['-bash-5.2-1.amzn2023.x86_64', '+bash-5.2-2.amzn2023.x86_64']);
    expect(readFileSync(join(state, 'release-after.txt'), 'utf8')).toBe('2023.9.20261122.0\n');
  });

  it("leaves no release-after.txt where there is no lock, not even the one a parent family's image carried", () => {
    // Prepare: an apt image built on an image whose bake left a release behind
    const state = join(scratch, 'stale-release-state');
    mkdirSync(state);
    writeFileSync(join(state, 'packages-before.txt'), 'jq 1.6\n');
    writeFileSync(join(state, 'release-after.txt'), '2023.9.20261101.0\n');
    const { bin } = fakeBin('stale-release', { 'dpkg-query': `printf 'jq 1.6\\n'` });
    const script = commandText(bakeDoc('linux'), 'collectReport').replaceAll('/var/lib/bakehouse', state);

    // Act
    const result = runSh(script, bin);

    // Assess: captureInventory, which reads the file next, finds no release
    expect(result.status).toBe(0);
    expect(existsSync(join(state, 'release-after.txt'))).toBe(false);
  });

  it("keeps the report under Run Command's 2,500-character output, counting what it leaves out", () => {
    // Prepare: 400 packages all replaced, far more than fits
    const names = Array.from({ length: 400 }, (_, i) => `package-number-${String(i).padStart(3, '0')}`);
    const before = names.map((n) => `${n} 1.0-1.amzn2023.x86_64\n`).join('');
    const after = names.map((n) => `${n} 1.0-2.amzn2023.x86_64`).join('\\n');

    // Act
    const { result, state } = report('many-changes', before, { rpm: `printf '${after}\\n'` });

    // Assess
    expect(result.status).toBe(0);
    expect(result.stdout.length).toBeLessThanOrEqual(2_000);
    const parsed = parseBakeReport(result.stdout);
    expect(parsed?.changeCount).toBe(800);
    expect((parsed?.changes.length ?? 0) + (parsed?.omitted ?? 0)).toBe(800);
    expect(parsed?.omitted).toBeGreaterThan(0);
    expect(readFileSync(join(state, 'package-changes.txt'), 'utf8').split('\n').filter(Boolean)).toHaveLength(800);
  });

  /**
   * Runs captureInventory over an after-list (none: no file) and the release collectReport wrote
   * (none: no file), with the given tools besides gzip and base64.
   */
  const capture = (
    name: string,
    after: string | undefined,
    tools: Record<string, string> = {},
    releaseAfter?: string,
  ) => {
    const state = join(scratch, `${name}-inventory`);
    mkdirSync(state);
    if (after !== undefined) writeFileSync(join(state, 'packages-after.txt'), after);
    if (releaseAfter !== undefined) writeFileSync(join(state, 'release-after.txt'), `${releaseAfter}\n`);
    const { bin } = fakeBin(name, tools);
    linkHostTools(bin, ['gzip', 'base64']);
    const script = commandText(bakeDoc('linux'), INVENTORY_STEP).replaceAll('/var/lib/bakehouse', state);
    return runSh(script, bin);
  };

  it('captures the whole sorted package list, gzip and base64, after the report and before the post script', () => {
    // Prepare
    const doc = bakeDoc('linux');
    const after = 'bash 5.2-2.amzn2023.x86_64\nglibc 2.34-196.amzn2023.0.2.x86_64\njq 1.7.1-49.amzn2023.0.2.x86_64\n';

    // Act
    const result = capture('inventory-al2023', after, {}, '2023.9.20261122.0');

    // Assess
    expect(indexOf(doc, INVENTORY_STEP)).toBe(indexOf(doc, 'collectReport') + 1);
    expect(indexOf(doc, INVENTORY_STEP)).toBeLessThan(indexOf(doc, 'runPostScript'));
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines.slice(0, 4)).toEqual([
      'bakehouse-inventory 1',
      'os linux',
      'release 2023.9.20261122.0',
      'packages 3 gzip-base64',
    ]);
    expect(lines.at(-2)).toBe('end');
    const parsed = parseInventoryOutput(result.stdout);
    expect(parsed.ok).toBe(true);
    const inventory = parsed.ok ? parsed.inventory : undefined;
    expect(inventory?.release).toBe('2023.9.20261122.0');
    expect(inventory?.packages && decodeLines(inventory.packages)).toEqual(after.trim().split('\n'));
  });

  it('prints no release line on apt systems', () => {
    // Act
    const result = capture('inventory-apt', 'jq 1.7.1-3build1\n', { 'dpkg-query': 'exit 0' });

    // Assess
    expect(result.status).toBe(0);
    const parsed = parseInventoryOutput(result.stdout);
    expect(parsed.ok && parsed.inventory).toMatchObject({ os: 'linux', release: null, packages: { count: 1 } });
  });

  it("says too-large instead of a list whose block would not fit GetCommandInvocation's 24,000 characters", () => {
    // Prepare: 3,000 packages with versions that do not compress
    const after = Array.from(
      { length: 3_000 },
      (_, i) =>
        `package-${String(i).padStart(4, '0')} ${createHash('sha256').update(String(i)).digest('hex').slice(0, 24)}\n`,
    ).join('');

    // Act
    const result = capture('inventory-large', after);

    // Assess
    expect(result.status).toBe(0);
    expect(result.stdout.length).toBeLessThan(COMMAND_STDOUT_LIMIT);
    expect(result.stdout).toMatch(/^too-large packages \d+$/m);
    const parsed = parseInventoryOutput(result.stdout);
    expect(parsed.ok && parsed.inventory.tooLarge?.bytes).toBeGreaterThan(ENCODED_BLOCK_BUDGET);
    expect(parsed.ok && parsed.inventory.packages).toBeUndefined();
  });

  it('says what it could not list, and exits 0, when the package list is missing', () => {
    // Act
    const result = capture('inventory-missing', undefined);

    // Assess
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^unavailable packages .*packages-after\.txt is missing or empty$/m);
    expect(parseInventoryOutput(result.stdout)).toEqual({
      ok: false,
      reason: expect.stringContaining('missing or empty'),
    });
  });

  it('patches with dnf honouring ExcludePackages globs and SecurityOnly, without expanding the globs', () => {
    // Prepare
    const { bin, log } = fakeBin('dnf', { dnf: 'exit 0' });
    const cwd = join(scratch, 'dnf-cwd');
    mkdirSync(cwd);
    writeFileSync(join(cwd, 'kernel-livepatch-1.0'), '');
    const script = commandText(bakeDoc('linux'), 'patchPackages', {
      ExcludePackages: 'kernel-livepatch* jq',
      SecurityOnly: 'true',
    });

    // Act
    const result = runSh(script, bin, cwd);

    // Assess
    expect(result.status).toBe(0);
    expect(readFileSync(log, 'utf8')).toBe('dnf -y --exclude=kernel-livepatch* --exclude=jq --security upgrade\n');
  });

  it('patches only IncludePackages when they are given', () => {
    // Prepare
    const { bin, log } = fakeBin('dnf-include', { dnf: 'exit 0' });
    const script = commandText(bakeDoc('linux'), 'patchPackages', { IncludePackages: 'openssl curl' });

    // Act
    const result = runSh(script, bin);

    // Assess
    expect(result.status).toBe(0);
    expect(readFileSync(log, 'utf8')).toBe('dnf -y upgrade openssl curl\n');
  });

  it('patches with apt-get holding ExcludePackages for the upgrade only, then releasing them', () => {
    // Prepare
    const { bin, log } = fakeBin('apt', {
      'apt-get': 'exit 0',
      'apt-mark': 'exit 0',
      'dpkg-query': `case "$3" in linux-image-*) printf 'linux-image-aws\\n' ;; *) exit 1 ;; esac`,
    });
    const script = commandText(bakeDoc('linux'), 'patchPackages', { ExcludePackages: 'linux-image-*' });

    // Act
    const result = runSh(script, bin);

    // Assess
    expect(result.status).toBe(0);
    const calls = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    const holdAt = calls.indexOf('apt-mark -o DPkg::Lock::Timeout=600 hold linux-image-aws');
    const upgradeAt = calls.findIndex((c) => c.startsWith('apt-get') && c.endsWith('upgrade --with-new-pkgs'));
    const unholdAt = calls.indexOf('apt-mark -o DPkg::Lock::Timeout=600 unhold linux-image-aws');
    expect(holdAt).toBeGreaterThanOrEqual(0);
    expect(upgradeAt).toBeGreaterThan(holdAt);
    expect(unholdAt).toBeGreaterThan(upgradeAt);
  });

  /** rpm answering system-release's version as AL2023 (dated) or AL2 ("2") does. */
  const rpmWithRelease = (version: string) =>
    `case "$*" in *system-release*) echo ${version} ;; *) echo 'bash 5.2-1.x86_64' ;; esac`;

  it('upgrades Amazon Linux 2023 to ReleaseVersion, since upgrading within its locked release finds nothing', () => {
    // Prepare
    const { bin, log } = fakeBin('dnf-release', { dnf: 'exit 0', rpm: rpmWithRelease('2023.9.20261101.0') });
    const script = commandText(bakeDoc('linux'), 'patchPackages', {
      ExcludePackages: 'kernel-livepatch*',
      ReleaseVersion: 'latest',
    });

    // Act
    const result = runSh(script, bin);

    // Assess
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('release 2023.9.20261101.0, upgrading to release latest');
    const calls = readFileSync(log, 'utf8')
      .split('\n')
      .filter((c) => c.startsWith('dnf'));
    expect(calls).toEqual(['dnf -y --exclude=kernel-livepatch* --releasever=latest upgrade']);
  });

  it('upgrades to a pinned release version as given', () => {
    // Prepare
    const { bin, log } = fakeBin('dnf-pinned', { dnf: 'exit 0', rpm: rpmWithRelease('2023.9.20261101.0') });
    const script = commandText(bakeDoc('linux'), 'patchPackages', { ReleaseVersion: '2023.9.20261122.0' });

    // Act
    const result = runSh(script, bin);

    // Assess
    expect(result.status).toBe(0);
    expect(readFileSync(log, 'utf8')).toContain('dnf -y --releasever=2023.9.20261122.0 upgrade\n');
  });

  it.each([
    [
      'a dnf system without dated releases (Fedora-like)',
      { dnf: 'exit 0', rpm: rpmWithRelease('40') },
      'dnf -y upgrade',
    ],
    ['a yum system (Amazon Linux 2)', { yum: 'exit 0', rpm: rpmWithRelease('2') }, 'yum -y upgrade'],
  ])('leaves the release alone on %s', (_name, tools, expected) => {
    // Prepare
    const { bin, log } = fakeBin(`no-lock-${Object.keys(tools)[0]}`, tools);
    const script = commandText(bakeDoc('linux'), 'patchPackages', { ReleaseVersion: 'latest' });

    // Act
    const result = runSh(script, bin);

    // Assess
    expect(result.status).toBe(0);
    const calls = readFileSync(log, 'utf8')
      .split('\n')
      .filter((c) => /^(dnf|yum) /.test(c));
    expect(calls).toEqual([expected]);
  });

  /** apt-get that fails with apt's lock message the first `busy` times, then succeeds. */
  const aptHeldFor = (busy: number, counter: string) =>
    [
      `n=$(cat '${counter}' 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > '${counter}'`,
      `if [ "$n" -le ${busy} ]; then`,
      `  echo 'E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 812 (unattended-upgr)' >&2`,
      `  echo 'E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?' >&2`,
      '  exit 100',
      'fi',
    ].join('\n');

  it('waits for cloud-init, takes the dpkg lock with a timeout and retries apt while the lock is held', () => {
    // Prepare
    const counter = join(scratch, 'apt-busy-once.count');
    const { bin, log } = fakeBin('apt-busy-once', {
      'cloud-init': 'exit 2',
      'apt-get': aptHeldFor(1, counter),
      'apt-mark': 'exit 0',
      'dpkg-query': 'exit 1',
      sleep: 'exit 0',
    });
    const script = commandText(bakeDoc('linux'), 'patchPackages');

    // Act
    const result = runSh(script, bin);

    // Assess
    expect(result.status, result.stderr).toBe(0);
    const calls = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    expect(calls[0]).toBe('cloud-init status --wait');
    const apt = calls.filter((c) => c.startsWith('apt-get'));
    expect(apt).toEqual([
      'apt-get -o DPkg::Lock::Timeout=600 update',
      'apt-get -o DPkg::Lock::Timeout=600 update',
      'apt-get -o DPkg::Lock::Timeout=600 -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold upgrade --with-new-pkgs',
    ]);
    expect(calls).toContain('sleep 30');
    expect(result.stderr).toContain('attempt 1 of 3');
  });

  it('fails after three attempts saying the dpkg lock was held, and by what', () => {
    // Prepare
    const counter = join(scratch, 'apt-busy-always.count');
    const { bin, log } = fakeBin('apt-busy-always', {
      'apt-get': aptHeldFor(99, counter),
      'apt-mark': 'exit 0',
      'dpkg-query': 'exit 1',
      sleep: 'exit 0',
    });
    const script = commandText(bakeDoc('linux'), 'patchPackages');

    // Act
    const result = runSh(script, bin);

    // Assess
    expect(result.status).toBe(100);
    expect(
      readFileSync(log, 'utf8')
        .split('\n')
        .filter((c) => c.startsWith('apt-get')),
    ).toHaveLength(3);
    expect(result.stderr).toMatch(/failed 3 times: the dpkg lock was still held .* by process 812 \(unattended-upgr\)/);
  });

  it('does not call a failure that is not about the lock a held lock', () => {
    // Prepare
    const { bin } = fakeBin('apt-broken', {
      'apt-get': "echo 'E: Unable to locate package nosuch' >&2; exit 100",
      'dpkg-query': 'exit 1',
      sleep: 'exit 0',
    });
    const script = commandText(bakeDoc('linux'), 'installPackages', { InstallPackages: 'nosuch' });

    // Act
    const result = runSh(script, bin);

    // Assess
    expect(result.status).toBe(100);
    expect(result.stderr).toContain('failed 3 times, the last with exit code 100');
    expect(result.stderr).not.toContain('dpkg lock');
  });

  it('installs packages on apt through the same lock handling, after cloud-init', () => {
    // Prepare
    const counter = join(scratch, 'apt-install-busy.count');
    const { bin, log } = fakeBin('apt-install', {
      'cloud-init': 'exit 1',
      'apt-get': aptHeldFor(2, counter),
      sleep: 'exit 0',
    });
    const script = commandText(bakeDoc('linux'), 'installPackages', { InstallPackages: 'jq nginx' });

    // Act
    const result = runSh(script, bin);

    // Assess
    expect(result.status, result.stderr).toBe(0);
    const calls = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    expect(calls[0]).toBe('cloud-init status --wait');
    expect(calls.filter((c) => c.startsWith('apt-get')).at(-1)).toBe(
      'apt-get -o DPkg::Lock::Timeout=600 -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install jq nginx',
    );
    expect(result.stderr).toContain('cloud-init ended with status 1');
  });

  it('fails the install script step naming the script when it has a syntax error, running none of it', () => {
    // Prepare
    const { bin } = fakeBin('syntax', {});
    symlinkSync('/bin/sh', join(bin, 'sh'));
    const script = commandText(bakeDoc('linux'), 'runInstallScript', {
      InstallScript: '# bakehouse step: broken\necho ran\nif then fi',
    });

    // Act
    const result = runSh(script, bin);

    // Assess
    expect(result.status).toBe(2);
    expect(result.stdout).not.toContain('ran');
    expect(result.stderr).toContain('the install script (install.scripts) has a syntax error');
    expect(temporaryFilesLeft(bin)).toEqual([]);
  });

  it('writes scripts shellcheck passes, as rendered with parameter values', () => {
    // Prepare
    const doc = bakeDoc('linux');
    const values = {
      PreScript: 'echo pre',
      InstallScript: '# bakehouse step: a\necho a',
      PostScript: 'echo post',
      IncludePackages: 'openssl',
      ExcludePackages: 'kernel*',
      SecurityOnly: 'false',
      InstallPackages: 'jq',
      ReleaseVersion: 'latest',
    };
    const shellSteps = doc.mainSteps.filter((s) => s.inputs.DocumentName === 'AWS-RunShellScript');

    // Act
    const findings = shellSteps.flatMap((step) => {
      const result = spawnSync('shellcheck', ['-s', 'sh', '-f', 'gcc', '-'], {
        input: commandText(doc, step.name, values),
        encoding: 'utf8',
      });
      if (result.error) throw result.error;
      return result.status === 0 ? [] : [`${step.name}:\n${result.stdout}`];
    });

    // Assess
    expect(findings).toEqual([]);
  });

  it('fails the patch step when no supported package manager exists', () => {
    // Prepare
    const { bin } = fakeBin('none', {});
    const script = commandText(bakeDoc('linux'), 'patchPackages');

    // Act
    const result = runSh(script, bin);

    // Assess
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('no supported package manager');
  });

  it.each([
    ['runPreScript', 'PreScript'],
    ['runInstallScript', 'InstallScript'],
    ['runPostScript', 'PostScript'],
  ])('removes the file %s writes its script to, however the script ends', (step, parameter) => {
    // Prepare
    const { bin } = fakeBin(`cleanup-${step}`, {});
    symlinkSync('/bin/sh', join(bin, 'sh'));
    const outcomes = { 'echo ok': 0, 'false\necho after': 1, 'if then fi': 2 };

    for (const [body, status] of Object.entries(outcomes)) {
      // Act
      const result = runSh(commandText(bakeDoc('linux'), step, { [parameter]: body }), bin);

      // Assess
      expect(result.status, `${body}: ${result.stderr}`).toBe(status);
      expect(temporaryFilesLeft(bin), body).toEqual([]);
    }
  });

  it('runs a failing user script to a failed step rather than carrying on', () => {
    // Prepare
    const { bin } = fakeBin('user-script', {});
    symlinkSync('/bin/sh', join(bin, 'sh'));
    const script = commandText(bakeDoc('linux'), 'runInstallScript', { InstallScript: 'false\necho after' });

    // Act
    const result = runSh(script, bin);

    // Assess
    expect(result.status).not.toBe(0);
    expect(result.stdout).not.toContain('after');
    expect(temporaryFilesLeft(bin)).toEqual([]);
  });

  it('cleans ssh host keys, cloud-init state, the machine id and shell history before stopping', () => {
    // Act
    const script = commandText(bakeDoc('linux'), 'cleanupBuilder');

    // Assess
    expect(script).toContain('rm -f /etc/ssh/ssh_host_*_key');
    expect(script).toContain('cloud-init clean --logs');
    expect(script).toContain(': > /etc/machine-id');
    expect(script).toContain('.bash_history');
  });
});

describe('the Windows bake steps', () => {
  it('updates EC2Launch v2 and the PV, ENA and NVMe drivers through AWS-ConfigureAWSPackage', () => {
    // Act
    const installed = bakeDoc('windows')
      .mainSteps.filter((s) => s.inputs.DocumentName === 'AWS-ConfigureAWSPackage')
      .map((s) => s.inputs.Parameters);

    // Assess
    expect(installed).toEqual([
      { action: 'Install', name: 'AWSEC2Launch-Agent' },
      { action: 'Install', name: 'AWSPVDriver' },
      { action: 'Install', name: 'AwsEnaNetworkDriver' },
      { action: 'Install', name: 'AWSNVMe' },
    ]);
  });

  it('runs Windows Update as its own PowerShell step with the family categories, severities and KB lists', () => {
    // Act
    const doc = bakeDoc('windows');
    const update = stepOf(doc, 'installWindowsUpdates');
    const script = scriptOf(doc, 'installWindowsUpdates');

    // Assess
    // test/unit/windows-document.test.ts checks the rounds, reboots and filters in detail.
    expect(update.inputs.DocumentName).toBe('AWS-RunPowerShellScript');
    expect(doc.mainSteps.map((s) => s.inputs.DocumentName)).not.toContain('AWS-InstallWindowsUpdates');
    for (const parameter of ['UpdateCategories', 'UpdateSeverityLevels', 'IncludeKbs', 'ExcludeKbs']) {
      expect(script).toContain(`'{{ ${parameter} }}'`);
    }
    expect(indexOf(doc, 'updateNvmeDriver')).toBeLessThan(indexOf(doc, 'installWindowsUpdates'));
  });

  it('installs Chocolatey and its packages from ChocolateySource only, skipping both without packages', () => {
    // Prepare
    const doc = bakeDoc('windows');

    // Act
    const scripts = ['installChocolatey', 'installChocolateyPackages'].map((name) => scriptOf(doc, name));

    // Assess
    for (const script of scripts) {
      expect(script).toContain("'{{ ChocolateySource }}'");
      expect(script).toMatch(/'\{\{ ChocolateyPackages \}\}'\.Trim\(\)/);
      expect(script).toMatch(/exit 0/);
    }
    expect(scripts[0]).toContain('$source/package/chocolatey');
    expect(scripts[0]).toContain('source remove --name=chocolatey');
    expect(scripts[1]).toContain('"--source=$source"');
    expect(indexOf(doc, 'installWindowsUpdates')).toBeLessThan(indexOf(doc, 'installChocolatey'));
  });

  it('generalizes with EC2Launch v2 sysprep and waits for the shutdown before imaging', () => {
    // Prepare
    const doc = bakeDoc('windows');
    const sysprepAt = indexOf(doc, 'runSysprep');

    // Act
    const script = scriptOf(doc, 'runSysprep');
    const wait = doc.mainSteps[sysprepAt + 1];

    // Assess
    expect(script).toContain("'Amazon\\EC2Launch\\EC2Launch.exe'");
    expect(script).toContain('sysprep --clean --shutdown');
    expect(wait?.action).toBe('aws:changeInstanceState');
    expect(wait?.inputs).toMatchObject({ CheckStateOnly: true, DesiredState: 'stopped' });
    expect(doc.mainSteps[sysprepAt + 2]?.name).toBe('createImage');
  });

  it('lists the hotfixes before to a file and reports the new ones in collectReport, after the install script', () => {
    // Prepare
    const doc = bakeDoc('windows');

    // Act
    const [before, report] = ['inventoryBefore', 'collectReport'].map((name) => scriptOf(doc, name));

    // Assess
    expect(before).toContain('Get-HotFix');
    expect(before).toContain("Join-Path $dir 'hotfixes-before.txt'");
    expect(report).toContain("Join-Path $dir 'hotfixes-before.txt'");
    expect(report).toContain('"+$_"');
    expect(indexOf(doc, 'collectReport')).toBeGreaterThan(indexOf(doc, 'runInstallScript'));
    expect(indexOf(doc, 'collectReport')).toBeLessThan(indexOf(doc, 'runSysprep'));
  });
});

describe('listBakeDocuments', () => {
  it('returns the Linux and the Windows document', () => {
    // Act
    const documents = listBakeDocuments();

    // Assess
    expect(documents.map((d) => d.name)).toEqual([BAKE_DOCUMENTS.linux, BAKE_DOCUMENTS.windows]);
  });
});

describe('checkAutomationDocument', () => {
  const fixture = (): DocView =>
    parse(readFileSync(new URL('../fixtures/automation/branching.yaml', import.meta.url), 'utf8')) as DocView;

  it('rejects what is not a document without throwing', () => {
    // Act
    const problems = checkAutomationDocument(null);

    // Assess
    expect(problems).toEqual([expect.stringContaining('document')]);
  });

  it('requires schemaVersion 0.3 as a string', () => {
    // Prepare
    const doc = bakeDoc('linux') as unknown as Record<string, unknown>;
    doc.schemaVersion = 0.3;

    // Act
    const problems = checkAutomationDocument(doc);

    // Assess
    expect(problemsNaming(problems, 'schemaVersion')).toHaveLength(1);
  });

  it('reports a leak when a step after the launch loses its onFailure', () => {
    // Prepare
    const doc = bakeDoc('linux');
    delete stepOf(doc, 'runPreScript').onFailure;

    // Act
    const problems = checkAutomationDocument(doc);

    // Assess
    expect(problemsNaming(problems, "step 'runPreScript'", 'onFailure', "'launchBuilder'")).toHaveLength(1);
    expect(problems).toHaveLength(1);
  });

  it('reports a leak when a step after the launch cancels with Abort', () => {
    // Prepare
    const doc = bakeDoc('windows');
    stepOf(doc, 'installWindowsUpdates').onCancel = 'Abort';

    // Act
    const problems = checkAutomationDocument(doc);

    // Assess
    expect(problemsNaming(problems, "step 'installWindowsUpdates'", 'onCancel: Abort')).toHaveLength(1);
  });

  it('reports an onFailure that names a missing step', () => {
    // Prepare
    const doc = bakeDoc('linux');
    stepOf(doc, 'runPostScript').onFailure = 'step:cleanUpEverything';

    // Act
    const problems = checkAutomationDocument(doc);

    // Assess
    expect(problemsNaming(problems, "step 'runPostScript'", 'onFailure', 'cleanUpEverything')).toHaveLength(1);
  });

  it('reports an undeclared {{ }} reference with its step and field', () => {
    // Prepare
    const doc = bakeDoc('linux');
    stepOf(doc, 'runPreScript').inputs.Parameters = { commands: ['echo {{ Nope }}'] };

    // Act
    const problems = checkAutomationDocument(doc);

    // Assess
    expect(problems).toEqual([
      "step 'runPreScript': inputs.Parameters.commands[0]: {{ Nope }} is not a declared parameter",
    ]);
  });

  it("reports a reference to a step's output before that step runs", () => {
    // Prepare
    const doc = bakeDoc('linux');
    stepOf(doc, 'waitForBuilderRunning').inputs.InstanceIds = ['{{ createImage.ImageId }}'];

    // Act
    const problems = checkAutomationDocument(doc);

    // Assess
    expect(problemsNaming(problems, "step 'waitForBuilderRunning'", 'createImage', 'earlier')).toHaveLength(1);
  });

  it('reports a misspelt output of an earlier step', () => {
    // Prepare
    const doc = bakeDoc('linux');
    stepOf(doc, 'stopBuilder').inputs.InstanceIds = ['{{ launchBuilder.InstanceID }}'];

    // Act
    const problems = checkAutomationDocument(doc);

    // Assess
    expect(problemsNaming(problems, "step 'stopBuilder'", "no output 'InstanceID'")).toHaveLength(1);
  });

  it('reports an unknown action', () => {
    // Prepare
    const doc = bakeDoc('linux');
    stepOf(doc, 'cleanupBuilder').action = 'aws:runEverything';

    // Act
    const problems = checkAutomationDocument(doc);

    // Assess
    expect(problemsNaming(problems, "step 'cleanupBuilder'", 'action', 'aws:runEverything')).toHaveLength(1);
  });

  it('reports a post-launch last step whose onFailure Continue falls off the end', () => {
    // Prepare
    const doc = bakeDoc('linux');
    stepOf(doc, 'assertImageAvailable').nextStep = 'tagLeftovers';
    doc.mainSteps.push({
      name: 'tagLeftovers',
      action: 'aws:executeAwsApi',
      onFailure: 'Continue',
      onCancel: 'step:terminateBuilderOnCancel',
      inputs: { Service: 'ec2', Api: 'DescribeImages', ImageIds: ['{{ createImage.ImageId }}'] },
    });

    // Act
    const problems = checkAutomationDocument(doc);

    // Assess
    expect(
      problemsNaming(problems, "step 'tagLeftovers'", 'onFailure: Continue', 'falls off the last step'),
    ).toHaveLength(1);
    expect(problemsNaming(problems, "step 'tagLeftovers'", 'on success')).toHaveLength(1);
  });

  it('reports duplicate step names', () => {
    // Prepare
    const doc = bakeDoc('windows');
    stepOf(doc, 'updatePvDriver').name = 'updateEnaDriver';

    // Act
    const problems = checkAutomationDocument(doc);

    // Assess
    expect(problemsNaming(problems, "step 'updateEnaDriver'", 'unique')).toHaveLength(1);
  });

  it('reports outputs that name a missing step', () => {
    // Prepare
    const doc = bakeDoc('linux');
    doc.outputs.push('makeImage.ImageId');

    // Act
    const problems = checkAutomationDocument(doc);

    // Assess
    expect(problemsNaming(problems, 'outputs[', 'makeImage')).toHaveLength(1);
  });

  it('counts executeAwsApi TerminateInstances as terminating the builder', () => {
    // Prepare
    const doc = bakeDoc('linux');
    const terminate = stepOf(doc, 'terminateBuilderOnFailure');
    terminate.action = 'aws:executeAwsApi';
    terminate.inputs = { Service: 'ec2', Api: 'TerminateInstances', InstanceIds: ['{{ launchBuilder.InstanceId }}'] };

    // Act
    const problems = checkAutomationDocument(doc);

    // Assess
    expect(problems).toEqual([]);
  });

  it('follows aws:branch choices and Default, passing when every route terminates', () => {
    // Act
    const problems = checkAutomationDocument(fixture());

    // Assess
    expect(problems).toEqual([]);
  });

  it('reports a branch choice that leads to an end without terminating', () => {
    // Prepare
    const doc = fixture();
    const choice = stepOf(doc, 'choosePause').inputs.Choices?.[0];
    if (!choice) throw new Error('the fixture branch has no choice');
    choice.NextStep = 'report';
    doc.mainSteps.push({
      name: 'report',
      action: 'aws:sleep',
      onFailure: 'step:cleanUp',
      onCancel: 'step:cleanUp',
      inputs: { Duration: 'PT1S' },
      isEnd: true,
    });

    // Act
    const problems = checkAutomationDocument(doc);

    // Assess
    expect(problems).toEqual([expect.stringMatching(/^step 'report': on success isEnd: true, .*'launch'/)]);
  });

  it('reports a branch Default that names a missing step', () => {
    // Prepare
    const doc = fixture();
    stepOf(doc, 'choosePause').inputs.Default = 'nowhere';

    // Act
    const problems = checkAutomationDocument(doc);

    // Assess
    expect(problemsNaming(problems, "step 'choosePause'", 'inputs.Default', 'nowhere')).toHaveLength(1);
  });

  it('does not count an assert-only changeInstanceState as terminating', () => {
    // Prepare
    const doc = fixture();
    stepOf(doc, 'cleanUp').inputs.CheckStateOnly = true;

    // Act
    const problems = checkAutomationDocument(doc);

    // Assess
    expect(problemsNaming(problems, "step 'cleanUp'", 'isEnd: true')).toHaveLength(1);
  });
});

describe('reading a Linux bake back', () => {
  const REPORT =
    'bakehouse-report 1\nrelease-before 2023.9.20261101\nrelease-after 2023.9.20261122\nchanges 2\n-jq-1.6\n+jq-1.7\n';

  it('reads the report up to the first line that is not part of it, such as the stderr Run Command appends', () => {
    // Act
    const report = parseBakeReport(`${REPORT}----------ERROR-------\n+not-a-change\n`);

    // Assess
    expect(report).toEqual({
      releaseBefore: '2023.9.20261101',
      releaseAfter: '2023.9.20261122',
      changeCount: 2,
      changes: ['-jq-1.6', '+jq-1.7'],
      omitted: 0,
    });
  });

  it('reads no report from output without its header (an older document, a Windows bake)', () => {
    // Act + Assess
    expect(parseBakeReport('-jq-1.6\n+jq-1.7\n')).toBeUndefined();
  });

  it('gives the release of an automation from its parameters and its report', () => {
    // Act
    const latest = releaseOfAutomation({
      Parameters: { ReleaseVersion: ['latest'], ReleaseTarget: ['2023.9.20261122'] },
      Outputs: { [BAKE_DOCUMENT_OUTPUTS.report]: [REPORT] },
    });
    const pinned = releaseOfAutomation({ Parameters: { ReleaseVersion: ['2023.9.20261122'] }, Outputs: {} });
    const ubuntu = releaseOfAutomation({ Parameters: { SourceAmiId: ['ami-0123456789abcdef0'] }, Outputs: {} });

    // Assess
    expect(latest).toEqual({
      policy: 'latest',
      target: '2023.9.20261122',
      before: '2023.9.20261101',
      after: '2023.9.20261122',
    });
    expect(pinned).toEqual({ policy: 'pinned', target: '2023.9.20261122', before: null, after: null });
    expect(ubuntu).toBeNull();
  });
});
