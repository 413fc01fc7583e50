import { describe, expect, it } from 'vitest';
import { CHECK_REPORT_HEADER, parseCheckReport } from '../../functions/commons/ami-tests';

const text = (...lines: string[]): string => lines.join('\n');

describe('parseCheckReport', () => {
  it('reads each entry with its exit code and exactly its counted lines', () => {
    // Act
    const report = parseCheckReport(
      text(CHECK_REPORT_HEADER, 'checkA 0 1', 'active', 'checkB 127 2', 'x: jq: command not found', 'check failed', ''),
    );

    // Assess
    expect(report?.more).toBe(0);
    expect([...(report?.checks.values() ?? [])]).toEqual([
      { stepName: 'checkA', exitCode: 0, output: 'active' },
      { stepName: 'checkB', exitCode: 127, output: 'x: jq: command not found\ncheck failed' },
    ]);
  });

  it('keeps output that looks like an entry line as output', () => {
    // Act
    const report = parseCheckReport(text(CHECK_REPORT_HEADER, 'checkA 1 2', 'checkB 0 0', 'more 3', 'checkC 0 0'));

    // Assess
    expect(report?.checks.get('checkA')?.output).toBe('checkB 0 0\nmore 3');
    expect(report?.checks.has('checkB')).toBe(false);
    expect(report?.checks.get('checkC')).toEqual({ stepName: 'checkC', exitCode: 0, output: '' });
    expect(report?.more).toBe(0);
  });

  it('reads CRLF line ends (Windows), a negative exit code and the count of checks left out', () => {
    // Act
    const report = parseCheckReport(
      text(CHECK_REPORT_HEADER, 'checkA -1073741819 1', 'crashed', 'more 4', '').replace(/\n/g, '\r\n'),
    );

    // Assess
    expect(report?.checks.get('checkA')).toEqual({ stepName: 'checkA', exitCode: -1073741819, output: 'crashed' });
    expect(report?.more).toBe(4);
  });

  it('keeps the whole entries of a report cut short, and drops the one cut', () => {
    // Act
    const report = parseCheckReport(text(CHECK_REPORT_HEADER, 'checkA 0 1', 'ok', 'checkB 1 5', 'only', 'two'));

    // Assess
    expect([...(report?.checks.keys() ?? [])]).toEqual(['checkA']);
  });

  it('drops the replacement characters a byte cut inside a character leaves at the start', () => {
    // Act
    const report = parseCheckReport(text(CHECK_REPORT_HEADER, 'checkA 0 1', '\uFFFD\uFFFDé done'));

    // Assess
    expect(report?.checks.get('checkA')?.output).toBe('é done');
  });

  it.each([undefined, '', 'Command failed', 'bakehouse-checks 2\ncheckA 0 0'])(
    'is undefined for %j, not a report',
    (input) => {
      expect(parseCheckReport(input)).toBeUndefined();
    },
  );
});
