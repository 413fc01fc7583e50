/**
 * The Windows bake and test documents against AWS's and Microsoft's documentation: reboots through
 * the SSM Agent's documented exit code, Windows Update rounds, Chocolatey's exit codes, EC2Launch
 * v2 sysprep, and the update filters. PowerShell does not run here, so these tests read the
 * scripts; each names the behaviour the script must keep.
 */
import { describe, expect, it } from 'vitest';
import { loadBakeDocument } from '../../automation/documents';
import { loadTestTemplate, PROTOTYPE_CHECK_STEP } from '../../automation/test-documents';
import shippedConfig from '../../bakehouse.config';
import { loadConfig, windowsFamilySchema } from '../../functions/commons/families';
import {
  COMMAND_STDOUT_LIMIT,
  ENCODED_BLOCK_BUDGET,
  INVENTORY_HEADER,
  INVENTORY_STEP,
} from '../../functions/commons/inventory';
import { familyDocumentValues } from '../../functions/commons/render';

interface StepView {
  name: string;
  action: string;
  timeoutSeconds?: number;
  inputs: { DocumentName?: string; Parameters?: { commands?: string[]; executionTimeout?: string } };
}
interface DocView {
  parameters: Record<string, { type: string; description: string; default?: unknown; allowedPattern?: string }>;
  mainSteps: StepView[];
}

const bakeDoc = (): DocView => structuredClone(loadBakeDocument('windows').document) as DocView;
const testTemplate = (): DocView => structuredClone(loadTestTemplate('windows').document) as unknown as DocView;

const stepOf = (doc: DocView, name: string): StepView => {
  const step = doc.mainSteps.find((s) => s.name === name);
  if (!step) throw new Error(`the document has no step '${name}'`);
  return step;
};

const scriptOf = (doc: DocView, name: string): string => {
  const commands = stepOf(doc, name).inputs.Parameters?.commands;
  if (!commands) throw new Error(`step '${name}' sends no commands`);
  return commands.join('\n');
};

/** Every `exit <code>` in a script, as written (`3010`, `0`, `$code`...). */
const exitsOf = (script: string): string[] => [...script.matchAll(/\bexit\s+(\S+)/gi)].map((m) => m[1] ?? '');

/** The integer a `$name = <n>` assignment gives, or undefined. */
const assignedNumber = (script: string, name: string): number | undefined => {
  const match = new RegExp(`\\$${name}\\s*=\\s*(\\d+)`).exec(script);
  return match ? Number(match[1]) : undefined;
};

// https://docs.aws.amazon.com/systems-manager/latest/userguide/send-commands-reboot.html: on
// Windows, a Run Command script asks the SSM Agent to reboot the node and run the script again
// with `exit 3010`.
const REBOOT_AND_RERUN = '3010';

describe('the Windows bake: Windows Update', () => {
  it('runs its own bounded update rounds through AWS-RunPowerShellScript, rebooting with exit 3010 between them', () => {
    // Act
    const step = stepOf(bakeDoc(), 'installWindowsUpdates');
    const script = scriptOf(bakeDoc(), 'installWindowsUpdates');
    const maxRounds = assignedNumber(script, 'maxRounds');

    // Assess
    expect(step.inputs.DocumentName).toBe('AWS-RunPowerShellScript');
    expect(exitsOf(script)).toContain(REBOOT_AND_RERUN);
    expect(script).toContain("New-Object -ComObject 'Microsoft.Update.Session'");
    expect(script).toContain("New-Object -ComObject 'Microsoft.Update.SystemInfo'");
    expect(script).toMatch(/\.RebootRequired\b/);
    expect(maxRounds).toBeGreaterThanOrEqual(2);
    expect(maxRounds).toBeLessThanOrEqual(20);
    expect(script).toMatch(/-ge \$maxRounds\)\s*\{\s*throw/);
  });

  it('keeps the step open long enough for every round and its reboot', () => {
    // Act
    const step = stepOf(bakeDoc(), 'installWindowsUpdates');
    const perRun = Number(step.inputs.Parameters?.executionTimeout);

    // Assess
    expect(perRun).toBeGreaterThan(0);
    expect(step.timeoutSeconds).toBeGreaterThanOrEqual(2 * perRun);
  });

  it('ends the rounds only when a search finds nothing left, and fails on an update Windows Update reports failed', () => {
    // Act
    const script = scriptOf(bakeDoc(), 'installWindowsUpdates');

    // Assess
    // The search leaves out installed and hidden updates; the OperationResultCode values 4
    // (orcFailed) and 5 (orcAborted) fail the step.
    expect(script).toContain('IsInstalled=0 and IsHidden=0');
    expect(script).toMatch(/\$selected\.Count -eq 0\)\s*\{[^}]*exit 0/);
    expect(script).toMatch(/@\(4, 5\) -contains/);
  });

  it('maps every category a family may name to a search clause, with the classification GUIDs Microsoft documents', () => {
    // Prepare
    // https://learn.microsoft.com/en-us/previous-versions/windows/desktop/ff357803(v=vs.85)
    const documented: Record<string, string> = {
      Application: '5C9376AB-8CE6-464A-B136-22113DD69801',
      Connectors: '434DE588-ED14-48F5-8EED-A15E09A991F6',
      CriticalUpdates: 'E6CF1350-C01B-414D-A61F-263D14D133B4',
      DefinitionUpdates: 'E0789628-CE08-4437-BE74-2495B842F43B',
      DeveloperKits: 'E140075D-8433-45C3-AD87-E72345B36078',
      FeaturePacks: 'B54E7D24-7ADD-428F-8B75-90A396FA584F',
      Guidance: '9511D615-35B2-47BB-927F-F73D8E9260BB',
      SecurityUpdates: '0FA1201D-4330-4FA8-8AE9-B877473B6441',
      ServicePacks: '68C5B0A3-D1A6-4553-AE49-01D3A7827828',
      Tools: 'B4832BD8-E735-4761-8DAF-37F882276DAB',
      UpdateRollups: '28BC880E-0592-4CBF-8F95-C79B17911D5F',
      Updates: 'CD5FFD1E-E932-4E3A-BF74-18BF0B1BBD83',
    };
    const familyCategories = windowsFamilySchema.shape.patch.unwrap().shape.categories.unwrap().element.options;

    // Act
    const script = scriptOf(bakeDoc(), 'installWindowsUpdates');
    const table = Object.fromEntries([...script.matchAll(/^\s*(\w+) = '([0-9A-F-]{36})'/gm)].map((m) => [m[1], m[2]]));

    // Assess
    expect(table).toEqual(documented);
    for (const category of familyCategories) {
      if (category === 'Drivers') expect(script).toContain("Type='Driver'");
      else expect(table[category], category).toBeDefined();
    }
  });

  it('filters by MSRC severity (no severity counts as Unspecified), narrows to IncludeKbs and drops ExcludeKbs', () => {
    // Act
    const script = scriptOf(bakeDoc(), 'installWindowsUpdates');

    // Assess
    for (const parameter of ['UpdateCategories', 'UpdateSeverityLevels', 'IncludeKbs', 'ExcludeKbs']) {
      expect(script).toContain(`'{{ ${parameter} }}'`);
    }
    expect(script).toContain('MsrcSeverity');
    expect(script).toContain("'Unspecified'");
    expect(script).toContain('KBArticleIDs');
  });
});

describe('the Windows bake: update filter parameters', () => {
  const patternOf = (name: string): RegExp => {
    const pattern = bakeDoc().parameters[name]?.allowedPattern;
    if (!pattern) throw new Error(`parameter ${name} has no allowedPattern`);
    return new RegExp(pattern);
  };

  it('accepts what plan-bake sends for the example Windows family, and the empty defaults', () => {
    // Prepare
    const config = loadConfig(structuredClone(shippedConfig));
    const families = config.families.filter((f) => f.os === 'windows');

    // Act
    const sent = families.map((family) => familyDocumentValues(family));

    // Assess
    expect(families.length).toBeGreaterThan(0);
    for (const values of sent) {
      for (const name of [
        'UpdateCategories',
        'UpdateSeverityLevels',
        'IncludeKbs',
        'ExcludeKbs',
        'ChocolateySource',
        'ChocolateyPackages',
      ]) {
        expect(values[name], name).toMatch(patternOf(name));
        expect('', name).toMatch(patternOf(name));
      }
    }
    expect('KB5034439,5035849').toMatch(patternOf('IncludeKbs'));
  });

  it('refuses spaces around the commas and names Windows Update does not know, before any instance starts', () => {
    // Assess
    // AWS's own filters take "no spaces around the commas" (AWS-UpdateWindowsAmi, Categories):
    // https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-aws-updatewindowsami.html
    expect('CriticalUpdates, SecurityUpdates').not.toMatch(patternOf('UpdateCategories'));
    expect('Critical Updates').not.toMatch(patternOf('UpdateCategories'));
    expect('Severe').not.toMatch(patternOf('UpdateSeverityLevels'));
    expect('Critical, Important').not.toMatch(patternOf('UpdateSeverityLevels'));
    expect('KB 5034439').not.toMatch(patternOf('ExcludeKbs'));
  });

  it('keeps quotes out of every value the scripts embed in single-quoted PowerShell strings', () => {
    // Prepare
    const embedded = [
      'UpdateCategories',
      'UpdateSeverityLevels',
      'IncludeKbs',
      'ExcludeKbs',
      'ChocolateySource',
      'ChocolateyPackages',
    ];

    // Assess
    for (const name of embedded) expect("x'; Remove-Item C:\\ -Recurse; '", name).not.toMatch(patternOf(name));
    expect('https://artifacts.example.internal/api/nuget/chocolatey').toMatch(patternOf('ChocolateySource'));
    expect('http://artifacts.example.internal/').not.toMatch(patternOf('ChocolateySource'));
    expect('7zip notepadplusplus git.install').toMatch(patternOf('ChocolateyPackages'));
  });

  it('says that IncludeKbs narrows what the categories and severities select', () => {
    // Act
    const { description } = bakeDoc().parameters.IncludeKbs ?? { description: '' };

    // Assess
    expect(description).toMatch(/among the updates the categories and severities select/);
  });
});

describe('the Windows bake: Chocolatey', () => {
  it('turns choco install success-with-reboot (1641, 3010) and reboot-detected (350, 1604) into the agent reboot, never the raw code', () => {
    // Act
    const script = scriptOf(bakeDoc(), 'installChocolateyPackages');

    // Assess
    // https://docs.chocolatey.org/en-us/choco/commands/install#exit-codes
    expect(script).toMatch(/@\(1641, 3010, 350, 1604\) -contains \$code/);
    expect(exitsOf(script)).toContain(REBOOT_AND_RERUN);
    expect(exitsOf(script).filter((code) => code.startsWith('$'))).toEqual([]);
    expect(script.trimEnd().split('\n').at(-1)?.trim()).toBe('exit 0');
  });

  it('bounds the reboots it asks for', () => {
    // Act
    const script = scriptOf(bakeDoc(), 'installChocolateyPackages');

    // Assess
    expect(assignedNumber(script, 'maxReboots')).toBeGreaterThanOrEqual(1);
    expect(script).toMatch(/-ge \$maxReboots\)\s*\{\s*throw/);
  });
});

describe('the Windows bake: user scripts', () => {
  it.each([
    ['runPreScript', 'PreScript'],
    ['runInstallScript', 'InstallScript'],
    ['runPostScript', 'PostScript'],
  ])(
    '%s passes a reboot request (exit 3010 or 1641) on to the SSM Agent, bounded, and fails on any other code',
    (name, parameter) => {
      // Act
      const script = scriptOf(bakeDoc(), name);

      // Assess
      expect(script).toContain(`{{ ${parameter} }}`);
      expect(script).toMatch(/@\(1641, 3010\) -contains \$code/);
      expect(exitsOf(script)).toContain(REBOOT_AND_RERUN);
      expect(script).toMatch(/-ge \$maxReboots\)\s*\{\s*throw/);
      expect(script).toMatch(/if \(\$code -ne 0\)\s*\{\s*throw/);
    },
  );
});

describe('the Windows bake: the report', () => {
  /** The lines a script prints as bare string literals ('...' or "..."), in order. */
  const printedLiterals = (script: string): string[] =>
    script
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => /^(['"]).*\1$/.test(line));

  it('prints only a summary of the hotfixes before, never the list', () => {
    // Act
    const script = scriptOf(bakeDoc(), 'inventoryBefore');
    const bare = script
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => /^\$\w+$/.test(line));

    // Assess
    expect(script).toMatch(/Set-Content -Path \$path .*-Value \$hotfixes/);
    expect(bare).toEqual([]);
    expect(printedLiterals(script)).toEqual(['"$($hotfixes.Count) hotfixes installed, listed in $path"']);
  });

  it('prints the header parseBakeReport reads, release lines "-" (Windows has no release lock), then the count', () => {
    // Act
    const script = scriptOf(bakeDoc(), 'collectReport');

    // Assess
    expect(printedLiterals(script)).toEqual([
      "'bakehouse-report 1'",
      "'release-before -'",
      "'release-after -'",
      '"changes $($changes.Count)"',
    ]);
  });

  it('prints +KB lines within a budget that keeps the report under Run Command\'s 2,500 characters, then "more <n>"', () => {
    // Prepare
    // A Run Command plugin's Output holds at most 2,500 characters:
    // https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-action-runcommand.html
    const header = 'bakehouse-report 1\nrelease-before -\nrelease-after -\nchanges 99999\nmore 99999\n';

    // Act
    const script = scriptOf(bakeDoc(), 'collectReport');
    const budget = assignedNumber(script, 'budget');

    // Assess
    expect(budget).toBeGreaterThan(0);
    expect((budget ?? Number.POSITIVE_INFINITY) + header.length).toBeLessThanOrEqual(2_500);
    expect(script).toMatch(/\$used \+= \$changes\[\$i\]\.Length \+ 1/);
    expect(script).toMatch(/if \(\$used -gt \$budget\) \{ "more \$\(\$changes\.Count - \$i\)"; break \}/);
  });
});

describe('the Windows bake: the inventory', () => {
  /** The lines a script prints as bare string literals ('...' or "..."), in order. */
  const printedLiterals = (script: string): string[] =>
    script
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => /^(['"]).*\1$/.test(line));

  it('captures the inventory after the report and before the post script, through AWS-RunPowerShellScript', () => {
    // Act
    const doc = bakeDoc();
    const names = doc.mainSteps.map((s) => s.name);

    // Assess
    expect(names.indexOf(INVENTORY_STEP)).toBe(names.indexOf('collectReport') + 1);
    expect(names.indexOf(INVENTORY_STEP)).toBeLessThan(names.indexOf('runPostScript'));
    expect(stepOf(doc, INVENTORY_STEP).inputs.DocumentName).toBe('AWS-RunPowerShellScript');
  });

  it('prints the header, the os, one kb line a hotfix, the programs block or too-large, and always end', () => {
    // Act
    const script = scriptOf(bakeDoc(), INVENTORY_STEP);

    // Assess
    expect(printedLiterals(script)).toEqual([
      `'${INVENTORY_HEADER}'`,
      "'os windows'",
      '"too-large programs $($encoded.Length)"',
      '"programs $($programs.Count) gzip-base64"',
      "\"unavailable programs $($_.Exception.Message -replace '[\\r\\n]+', ' ')\"",
      "'end'",
    ]);
    expect(script).toMatch(/Get-HotFix .*HotFixID/);
    expect(script).toContain('"kb $kb"');
    // The last line is outside the try: a failure still ends the output, and the step succeeds.
    expect(script.trimEnd().split('\n').at(-1)?.trim()).toBe("'end'");
    expect(script).toMatch(/\} catch \{/);
    expect(exitsOf(script)).toEqual([]);
  });

  it('compresses the programs with gzip, base64 in 76-character lines, within the budget GetCommandInvocation allows', () => {
    // Act
    const script = scriptOf(bakeDoc(), INVENTORY_STEP);

    // Assess
    expect(assignedNumber(script, 'budget')).toBe(ENCODED_BLOCK_BUDGET);
    expect(ENCODED_BLOCK_BUDGET).toBeLessThan(COMMAND_STDOUT_LIMIT);
    expect(script).toContain('System.IO.Compression.GZipStream');
    // Base64FormattingOptions.InsertLineBreaks: a line break after every 76 characters.
    expect(script).toContain('[Base64FormattingOptions]::InsertLineBreaks');
    expect(script).toMatch(/if \(\$encoded\.Length -gt \$budget\)/);
    expect(script).toContain('"`t"');
  });
});

describe('the Windows bake: sysprep', () => {
  it('takes a pending reboot before it schedules EC2Launch v2 sysprep', () => {
    // Act
    const script = scriptOf(bakeDoc(), 'runSysprep');

    // Assess
    // Sysprep is scheduled only once no reboot is pending; a pending one is taken with exit 3010.
    expect(script).toMatch(/\.RebootRequired\b/);
    expect(exitsOf(script)).toContain(REBOOT_AND_RERUN);
    expect(script.indexOf('exit 3010')).toBeLessThan(script.indexOf('Register-ScheduledTask'));
    expect(script).toContain('sysprep --clean --shutdown');
  });
});

describe('the Windows test template', () => {
  it('fails a check whose command exited non-zero with exit 1, so a 3010 never reboots the tester', () => {
    // Act
    const script = scriptOf(testTemplate(), PROTOTYPE_CHECK_STEP);

    // Assess
    expect(exitsOf(script).filter((code) => !/^[01]$/.test(code))).toEqual([]);
    // The command's own code is kept for the report; the step ends with 1.
    expect(script).toMatch(/\$code = \$global:LASTEXITCODE/);
    expect(script).toMatch(/if \(\$code -ne 0\) \{ exit 1 \}/);
  });
});
