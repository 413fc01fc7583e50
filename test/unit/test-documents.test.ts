import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { parse } from 'yaml';
import { checkAutomationDocument } from '../../automation/check-document';
import {
  loadTestTemplate,
  renderTestDocument,
  TEST_DOCUMENT_PARAMETERS,
  TestDocumentError,
  type TestFamily,
  type TestOs,
  testDocumentName,
} from '../../automation/test-documents';
import shippedConfig from '../../bakehouse.config';
import {
  CHECK_REPORT_HEADER,
  CHECK_REPORT_LIMIT,
  checkSteps,
  isCheckStepName,
  parseCheckReport,
  REPORT_OUTPUT,
  REPORT_STEP,
} from '../../functions/commons/ami-tests';
import { loadConfig } from '../../functions/commons/families';
import { bakehouseNames } from '../../functions/commons/stage-names';
import { testParameters } from '../../functions/test-ami/core';
import { bakeConfig } from './support/bake-factories';

interface StepView {
  name: string;
  action: string;
  onFailure?: string;
  onCancel?: string;
  isCritical?: boolean;
  isEnd?: boolean;
  inputs: {
    DocumentName?: string;
    Parameters?: { commands: string[] };
    MetadataOptions?: Record<string, string>;
    TagSpecifications?: { ResourceType: string; Tags: { Key: string; Value: string }[] }[];
    [key: string]: unknown;
  };
}
interface DocView {
  parameters: Record<string, unknown>;
  mainSteps: StepView[];
}

const OSES: readonly TestOs[] = ['linux', 'windows'];
const STAGE = 'dev';

const linuxFamily = (
  tests: TestFamily['tests'] = [
    { name: 'ssm agent running', run: 'systemctl is-active amazon-ssm-agent' },
    { name: 'jq present', run: 'jq --version' },
  ],
): TestFamily => ({ name: 'al2023-base', tests: structuredClone(tests) });

const view = (document: unknown): DocView => document as DocView;
const step = (doc: DocView, name: string): StepView => {
  const found = doc.mainSteps.find((s) => s.name === name);
  if (!found) throw new Error(`no step ${name} in ${doc.mainSteps.map((s) => s.name).join(', ')}`);
  return found;
};
const checkStepsOf = (doc: DocView): StepView[] => doc.mainSteps.filter((s) => isCheckStepName(s.name));

/** Where the Linux steps keep results on the tester, as the document spells it. */
const LINUX_RESULTS = '/var/lib/bakehouse/checks/{{ automation:EXECUTION_ID }}';
/** A results folder for one test, removed when the test ends. */
const resultsDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'bakehouse-checks-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'execution');
};
/** Runs a Linux step's command with sh, its results folder moved to `results`. */
const runLinux = (doc: DocView, name: string, results: string) => {
  const command = step(doc, name).inputs.Parameters?.commands[0] ?? '';
  if (!command.includes(LINUX_RESULTS)) throw new Error(`step ${name} does not keep results in ${LINUX_RESULTS}`);
  return spawnSync('sh', ['-c', command.replaceAll(LINUX_RESULTS, results)], { encoding: 'utf8' });
};

describe('the templates', () => {
  it.each(OSES)('%s is a valid automation document on its own, with one prototype check', (os) => {
    // Act
    const template = loadTestTemplate(os);

    // Assess
    expect(checkAutomationDocument(template.document)).toEqual([]);
    expect(checkStepsOf(view(template.document)).map((s) => s.name)).toEqual(['checkExample']);
  });

  it.each(OSES)('%s declares exactly the parameters TestAmi fills', (os) => {
    // Prepare
    const config = bakeConfig();
    const family = config.families.find((f) => f.os === os)!;

    // Act
    const declared = Object.keys(view(loadTestTemplate(os).document).parameters).sort();
    const filled = Object.keys(
      testParameters(
        { amiId: 'ami-0123456789abcdef0', bakeId: 'b-1' },
        family,
        {
          config,
          automationRoleArn: 'arn:aws:iam::111122223333:role/test',
          instanceProfileName: 'builder',
        },
        new Date('2026-01-01T00:00:00Z'),
      ),
    ).sort();

    // Assess
    expect(declared).toEqual([...TEST_DOCUMENT_PARAMETERS].sort());
    expect(filled).toEqual(declared);
  });

  it.each(OSES)('%s launches one tester with IMDSv2 required and the tester tags on instance and volume', (os) => {
    // Act
    const launch = step(view(loadTestTemplate(os).document), 'launchTester');

    // Assess
    expect(launch.inputs).toMatchObject({ Service: 'ec2', Api: 'RunInstances', MinCount: 1, MaxCount: 1 });
    expect(launch.inputs.MetadataOptions).toEqual({ HttpTokens: 'required', HttpEndpoint: 'enabled' });
    expect(launch.inputs.TagSpecifications?.map((t) => t.ResourceType)).toEqual(['instance', 'volume']);
    for (const specification of launch.inputs.TagSpecifications ?? []) {
      expect(specification.Tags).toEqual(
        expect.arrayContaining([
          { Key: 'bakehouse:role', Value: 'tester' },
          { Key: 'bakehouse:managed', Value: 'true' },
          { Key: 'bakehouse:bake-id', Value: '{{ BakeId }}' },
          { Key: 'bakehouse:family', Value: '{{ Family }}' },
          { Key: 'bakehouse:expires-at', Value: '{{ TesterExpiresAt }}' },
        ]),
      );
    }
  });
});

describe('renderTestDocument', () => {
  it('puts one check step per test, in order, between the SSM agent wait and the terminate step', () => {
    // Act
    const rendered = renderTestDocument(linuxFamily(), 'linux', STAGE);

    // Assess
    expect(view(rendered.document).mainSteps.map((s) => s.name)).toEqual([
      'launchTester',
      'waitForTesterRunning',
      'waitForSsmAgent',
      'checkSsmAgentRunning',
      'checkJqPresent',
      'reportChecks',
      'terminateTester',
      'terminateTesterOnFailure',
      'terminateTesterOnCancel',
    ]);
    expect(rendered.checks.map((c) => [c.name, c.stepName])).toEqual([
      ['ssm agent running', 'checkSsmAgentRunning'],
      ['jq present', 'checkJqPresent'],
    ]);
  });

  it('names the document bakehouse-<stage>-test-<family>, as the stack names documents', () => {
    // Act
    const rendered = renderTestDocument(linuxFamily(), 'linux', STAGE);

    // Assess
    expect(rendered.name).toBe('bakehouse-dev-test-al2023-base');
    expect(rendered.name).toBe(bakehouseNames(STAGE).document('test-al2023-base'));
    expect(testDocumentName('prod', 'x-y')).toBe('bakehouse-prod-test-x-y');
  });

  it.each([
    ['linux', 'AWS-RunShellScript'],
    ['windows', 'AWS-RunPowerShellScript'],
  ] as const)(
    'runs %s checks with %s, each continuing on failure yet critical, terminating on cancel',
    (os, document) => {
      // Act
      const doc = view(renderTestDocument(linuxFamily(), os, STAGE).document);

      // Assess
      const checks = checkStepsOf(doc);
      expect(checks).toHaveLength(2);
      for (const check of checks) {
        expect(check.action).toBe('aws:runCommand');
        expect(check.inputs.DocumentName).toBe(document);
        expect(check.inputs.InstanceIds).toEqual(['{{ launchTester.InstanceId }}']);
        expect(check).toMatchObject({
          onFailure: 'Continue',
          isCritical: true,
          onCancel: 'step:terminateTesterOnCancel',
        });
      }
    },
  );

  it('embeds each check verbatim, multi-line scripts included', () => {
    // Prepare
    const run = "set -o pipefail\nrpm -q nginx | grep -q '^nginx-1\\.'\ncurl -fsS http://127.0.0.1/ >/dev/null";

    // Act
    const doc = view(renderTestDocument(linuxFamily([{ name: 'nginx', run }]), 'linux', STAGE).document);
    const command = step(doc, 'checkNginx').inputs.Parameters?.commands[0] ?? '';

    // Assess
    expect(command).toContain(`<<'BAKEHOUSE_CHECK'\n${run}\nBAKEHOUSE_CHECK\n`);
    expect(command).not.toContain('cat /etc/os-release');
  });

  it('survives YAML: the rendered text parses back to the same document', () => {
    // Act
    const rendered = renderTestDocument(
      linuxFamily([{ name: 'quotes', run: `echo "it's: a # test" && test '{' != '}'` }]),
      'windows',
      STAGE,
    );

    // Assess
    expect(parse(rendered.content)).toEqual(rendered.document);
  });

  it.each([
    ['passes', 'echo all good', 0, 0, 'all good'],
    ['fails at its first failing command', 'false\necho never', 1, 1, 'check failed with exit code 1'],
    ['fails with exit 1, recording the exit code of the script', 'exit 3', 1, 3, 'check failed with exit code 3'],
    ['asks for a reboot (exit 194) but fails with exit 1 instead', 'echo rebooting\nexit 194', 1, 194, 'rebooting'],
  ])('renders a Linux check that %s when run by a shell', (_what, run, code, recorded, printed) => {
    // Prepare
    const results = resultsDir();
    const doc = view(renderTestDocument(linuxFamily([{ name: 'probe', run }]), 'linux', STAGE).document);

    // Act
    const result = runLinux(doc, 'checkProbe', results);

    // Assess
    expect(result.status).toBe(code);
    expect(result.stdout).toContain(printed);
    expect(result.stdout).not.toContain('never');
    const [first, ...rest] = readFileSync(join(results, 'checkProbe'), 'utf8').split('\n');
    expect(Number(first)).toBe(recorded);
    expect(rest.join('\n')).toContain(printed);
  });

  it('records each Linux check under its own step name, the last 2,000 bytes of its output', () => {
    // Prepare
    const results = resultsDir();
    const doc = view(
      renderTestDocument(
        linuxFamily([
          { name: 'first', run: 'echo one' },
          { name: 'long', run: 'seq 1 2000' },
        ]),
        'linux',
        STAGE,
      ).document,
    );

    // Act
    runLinux(doc, 'checkFirst', results);
    runLinux(doc, 'checkLong', results);

    // Assess
    expect(readdirSync(results).sort()).toEqual(['checkFirst', 'checkLong']);
    expect(readFileSync(join(results, 'checkFirst'), 'utf8')).toBe('0\none\n');
    const long = readFileSync(join(results, 'checkLong'), 'utf8');
    expect(long.length).toBeLessThanOrEqual(2 + 2000);
    expect(long.endsWith('1999\n2000\n')).toBe(true);
    expect(long).not.toContain('\n1\n2\n');
  });

  it('puts the step name where the prototype quotes its own, and nowhere else', () => {
    // Act
    const doc = view(renderTestDocument(linuxFamily(), 'windows', STAGE).document);
    const command = step(doc, 'checkJqPresent').inputs.Parameters?.commands[0] ?? '';

    // Assess
    expect(command).toContain("$step = 'checkJqPresent'");
    expect(command).not.toContain('checkExample');
  });
  it('wraps a Windows check so that $false, a throw or a failing native command fail it', () => {
    // Act
    const doc = view(
      renderTestDocument(
        linuxFamily([{ name: 'agent', run: "(Get-Service AmazonSSMAgent).Status -eq 'Running'" }]),
        'windows',
        STAGE,
      ).document,
    );
    const command = step(doc, 'checkAgent').inputs.Parameters?.commands[0] ?? '';

    // Assess
    expect(command).toContain("$check = { # BAKEHOUSE_CHECK\n(Get-Service AmazonSSMAgent).Status -eq 'Running'\n}");
    expect(command).toContain("$ErrorActionPreference = 'Stop'");
    expect(command).toContain('$result[-1] -is [bool] -and -not $result[-1]');
    expect(command).toContain('$global:LASTEXITCODE -ne 0');
  });

  it('gives colliding and long check names unique, valid step names', () => {
    // Act
    const steps = checkSteps([
      { name: 'jq present', run: 'x' },
      { name: 'jq-present', run: 'x' },
      { name: 'JQ.present', run: 'x' },
      { name: `a${'b'.repeat(100)}`, run: 'x' },
      { name: `a${'b'.repeat(100)} `, run: 'x' },
      { name: '7zip installed', run: 'x' },
    ]).map((s) => s.stepName);

    // Assess
    expect(steps.slice(0, 3)).toEqual(['checkJqPresent', 'checkJqPresent2', 'checkJQPresent3']);
    expect(steps[5]).toBe('check7zipInstalled');
    expect(new Set(steps.map((s) => s.toLowerCase())).size).toBe(steps.length);
    for (const name of steps) {
      expect(name).toMatch(/^[A-Za-z][A-Za-z0-9]{0,63}$/);
      expect(isCheckStepName(name)).toBe(true);
    }
  });

  it('never names a fixed step of the templates as a check', () => {
    for (const os of OSES) {
      // Act
      const fixed = view(loadTestTemplate(os).document).mainSteps.filter((s) => s.name !== 'checkExample');

      // Assess
      expect(fixed.filter((s) => isCheckStepName(s.name))).toEqual([]);
    }
  });

  it('refuses a check that SSM would interpolate or that holds the marker, naming the family and check', () => {
    // Act
    const interpolated = () =>
      renderTestDocument(linuxFamily([{ name: 'docker', run: "docker inspect -f '{{.State}}' x" }]), 'linux', STAGE);
    const marker = () =>
      renderTestDocument(linuxFamily([{ name: 'evil', run: 'echo\nBAKEHOUSE_CHECK\nreboot' }]), 'linux', STAGE);

    // Assess
    expect(interpolated).toThrow(TestDocumentError);
    expect(interpolated).toThrow("family 'al2023-base': tests 'docker': run contains '{{'");
    expect(marker).toThrow("tests 'evil': run contains 'BAKEHOUSE_CHECK'");
  });

  it('renders nothing for a family without tests', () => {
    // Act
    const render = () => renderTestDocument(linuxFamily([]), 'linux', STAGE);

    // Assess
    expect(render).toThrow("family 'al2023-base' has no tests");
  });
});

describe('the one kept Run Command output: reportChecks', () => {
  it.each(OSES)('%s keeps the Output of exactly one Run Command step, reportChecks', (os) => {
    // Act
    const doc = renderTestDocument(linuxFamily(), os, STAGE).document as unknown as DocView & { outputs: string[] };
    const runCommands = new Set(doc.mainSteps.filter((s) => s.action === 'aws:runCommand').map((s) => s.name));
    const kept = doc.outputs.filter((output) => runCommands.has(output.split('.')[0] ?? ''));

    // Assess
    expect(kept).toEqual([REPORT_OUTPUT]);
    expect(step(doc, REPORT_STEP).action).toBe('aws:runCommand');
  });

  it.each(OSES)('%s runs reportChecks after the checks whether they pass or fail, then terminates', (os) => {
    // Prepare
    const doc = view(renderTestDocument(linuxFamily(), os, STAGE).document);
    const names = doc.mainSteps.map((s) => s.name);
    /** Where a step goes: its onFailure target, or the next step when it continues or succeeds. */
    const nextOf = (name: string, outcome: 'success' | 'failure'): string | undefined => {
      const at = step(doc, name);
      const next = names[names.indexOf(name) + 1];
      if (outcome === 'success') return at.isEnd ? undefined : next;
      if (at.onFailure === 'Continue') return at.isEnd ? undefined : next;
      return at.onFailure?.startsWith('step:') ? at.onFailure.slice('step:'.length) : undefined;
    };

    // Act: every combination of outcomes of the two checks, from the first check on.
    const paths = (['success', 'failure'] as const).flatMap((first) =>
      (['success', 'failure'] as const).map((second) => {
        const path = ['checkSsmAgentRunning'];
        path.push(nextOf('checkSsmAgentRunning', first) ?? '(end)');
        path.push(nextOf(path[1] ?? '', second) ?? '(end)');
        return path;
      }),
    );

    // Assess
    for (const path of paths) expect(path).toEqual(['checkSsmAgentRunning', 'checkJqPresent', REPORT_STEP]);
    expect(nextOf(REPORT_STEP, 'success')).toBe('terminateTester');
    expect(nextOf(REPORT_STEP, 'failure')).toBe('terminateTester');
    expect(step(doc, REPORT_STEP)).toMatchObject({
      onFailure: 'Continue',
      isCritical: false,
      onCancel: 'step:terminateTesterOnCancel',
    });
  });

  it('reports every Linux check, a failed one with its code and the end of its real output', () => {
    // Prepare
    const results = resultsDir();
    const doc = view(
      renderTestDocument(
        linuxFamily([
          { name: 'agent', run: 'echo active' },
          { name: 'noisy failure', run: 'seq 1 5000\necho "the real reason" >&2\nexit 7' },
          { name: 'reboot', run: 'exit 194' },
        ]),
        'linux',
        STAGE,
      ).document,
    );
    for (const name of ['checkAgent', 'checkNoisyFailure', 'checkReboot']) runLinux(doc, name, results);

    // Act
    const report = runLinux(doc, REPORT_STEP, results);
    const parsed = parseCheckReport(report.stdout);

    // Assess
    expect(report.status).toBe(0);
    expect(report.stdout.startsWith(`${CHECK_REPORT_HEADER}\n`)).toBe(true);
    expect(report.stdout.length).toBeLessThanOrEqual(CHECK_REPORT_LIMIT);
    expect(parsed?.more).toBe(0);
    expect(parsed?.checks.get('checkAgent')).toEqual({ stepName: 'checkAgent', exitCode: 0, output: 'active' });
    expect(parsed?.checks.get('checkNoisyFailure')).toMatchObject({ exitCode: 7 });
    expect(parsed?.checks.get('checkNoisyFailure')?.output).toMatch(
      /5000\nthe real reason\ncheck failed with exit code 7$/,
    );
    expect(parsed?.checks.get('checkReboot')).toMatchObject({ exitCode: 194 });
  });

  it("keeps the Linux report within Run Command's 2,500 characters however many checks print however much", () => {
    // Prepare
    const results = resultsDir();
    const tests = Array.from({ length: 20 }, (_, i) => ({
      name: `check number ${i}`,
      run: `seq ${i} 3000\nexit ${i % 2}`,
    }));
    const rendered = renderTestDocument(linuxFamily(tests), 'linux', STAGE);
    for (const check of rendered.checks) runLinux(view(rendered.document), check.stepName, results);

    // Act
    const report = runLinux(view(rendered.document), REPORT_STEP, results);
    const parsed = parseCheckReport(report.stdout);

    // Assess
    expect(report.stdout.length).toBeLessThanOrEqual(CHECK_REPORT_LIMIT);
    expect([...(parsed?.checks.keys() ?? [])].sort()).toEqual(rendered.checks.map((c) => c.stepName).sort());
    for (const [stepName, check] of parsed?.checks ?? []) {
      const index = Number(stepName.replace('checkCheckNumber', ''));
      expect(check.exitCode).toBe(index % 2);
      expect(check.output.endsWith(index % 2 ? 'check failed with exit code 1' : '3000')).toBe(true);
    }
  });

  it('says "more" for the checks whose entry lines alone would overflow the Linux report', () => {
    // Prepare: 40 results recorded as the check steps write them (`<code>`, then the output), under
    // step names of 64 characters: more than 2,400 characters of entry lines.
    const results = resultsDir();
    mkdirSync(results, { recursive: true });
    for (let i = 0; i < 40; i += 1) {
      writeFileSync(join(results, `check${String(i).padStart(2, '0')}${'X'.repeat(57)}`), '0\nok\n');
    }
    const rendered = renderTestDocument(linuxFamily(), 'linux', STAGE);

    // Act
    const report = runLinux(view(rendered.document), REPORT_STEP, results);
    const parsed = parseCheckReport(report.stdout);

    // Assess
    expect(report.stdout.length).toBeLessThanOrEqual(CHECK_REPORT_LIMIT);
    expect(parsed?.more).toBeGreaterThan(0);
    expect((parsed?.checks.size ?? 0) + (parsed?.more ?? 0)).toBe(40);
  });

  it('prints only its header when no check recorded a result (Linux)', () => {
    // Act
    const report = runLinux(
      view(renderTestDocument(linuxFamily(), 'linux', STAGE).document),
      REPORT_STEP,
      resultsDir(),
    );

    // Assess
    expect(report.status).toBe(0);
    expect(report.stdout).toBe(`${CHECK_REPORT_HEADER}\n`);
    expect(parseCheckReport(report.stdout)?.checks.size).toBe(0);
  });

  it("writes and reads Windows results in the execution's own folder, the failed check exiting 1", () => {
    // Act
    const doc = view(renderTestDocument(linuxFamily(), 'windows', STAGE).document);
    const check = step(doc, 'checkJqPresent').inputs.Parameters?.commands[0] ?? '';
    const report = step(doc, REPORT_STEP).inputs.Parameters?.commands[0] ?? '';

    // Assess
    const folder = String.raw`$results = 'C:\ProgramData\Bakehouse\checks\{{ automation:EXECUTION_ID }}'`;
    expect(check).toContain(folder);
    expect(report).toContain(folder);
    expect(check).toContain('if ($code -ne 0) { exit 1 }');
    expect(check).not.toMatch(/exit \$code|exit \$global:LASTEXITCODE/);
    expect(report).toContain(`$report.Add('${CHECK_REPORT_HEADER}')`);
    expect(report).toContain(`$limit = ${CHECK_REPORT_LIMIT}`);
  });
});

describe('no path leaves the tester running', () => {
  it.each(OSES)('the rendered %s document of every shipped family passes the checker', (os) => {
    // Prepare
    const families = loadConfig(shippedConfig).families.filter((f) => f.os === os && f.tests.length > 0);

    // Act
    const problems = families.flatMap((family) =>
      checkAutomationDocument(renderTestDocument(family, family.os, STAGE).document),
    );

    // Assess
    expect(families.length).toBeGreaterThan(0);
    expect(problems).toEqual([]);
  });

  it('the checker catches a check that aborts on failure without terminating', () => {
    // Prepare
    const doc = view(renderTestDocument(linuxFamily(), 'linux', STAGE).document);
    step(doc, 'checkJqPresent').onFailure = 'Abort';

    // Act
    const problems = checkAutomationDocument(doc);

    // Assess
    expect(problems).toEqual([
      expect.stringContaining("step 'checkJqPresent': onFailure: Abort, which ends the automation"),
    ]);
  });

  it('the checker catches a check whose cancel would end the automation without terminating', () => {
    // Prepare
    const doc = view(renderTestDocument(linuxFamily(), 'windows', STAGE).document);
    delete step(doc, 'checkSsmAgentRunning').onCancel;

    // Act
    const problems = checkAutomationDocument(doc);

    // Assess
    expect(problems).toEqual([expect.stringContaining("step 'checkSsmAgentRunning': onCancel is unset")]);
  });

  it('the checker catches a last check that ends the automation on success', () => {
    // Prepare
    const doc = view(renderTestDocument(linuxFamily(), 'linux', STAGE).document);
    step(doc, 'checkJqPresent').isEnd = true;

    // Act
    const problems = checkAutomationDocument(doc);

    // Assess
    expect(problems).toEqual([
      expect.stringContaining("step 'checkJqPresent': on success isEnd: true"),
      expect.stringContaining("step 'checkJqPresent': onFailure: Continue, then isEnd: true"),
    ]);
  });
});
