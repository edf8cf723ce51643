import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { runCli } from '../helpers/cli.js';
import { SimHostProcesses } from '../helpers/sim-hosts.js';

jest.setTimeout(90_000);

/** What a person reads when nicmig's stderr is a pipe (ansible, CI logs, `| cat`): runCli pipes both streams. */

const PHASE_LINE = /^(✔|✖|ok|FAILED) (.+?) {2}(\d+(?:\.\d)? (?:ms|s))$/;

function phaseLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => PHASE_LINE.test(line));
}

describe('nicmig demo with stderr piped', () => {
  it('prints each phase once, when it finished, with its duration; the dirty rate only once measured', async () => {
    const result = await runCli(['demo', '--memory', '64'], { env: { LANG: 'C.UTF-8' } });
    expect(result.code).toBe(0);
    expect(phaseLines(result.stderr).map((line) => PHASE_LINE.exec(line)?.[2])).toEqual([
      'Resolve the VM and hosts',
      'Preflight checks on both hosts',
      'Prepare the destination (-incoming defer)',
      'Pre-copy guest memory',
      'Switchover (guest stopped)',
      'Replay the VF state on the destination',
      'Resume on the destination',
      'Clean up the source',
    ]);
    expect(result.stderr).not.toMatch(/❯|SKIPPED|›/);
    expect(result.stderr).not.toMatch(/dirtying 0 B\/s/);
    const passLines = result.stderr.split('\n').filter((line) => /^ {2}pass \d+:/.test(line));
    // How many pass lines there are depends on how fast the machine copies (an idle one can finish
    // before the first progress poll); what each says is the point, and the unit tests count them.
    for (const line of passLines) if (/^ {2}pass 1:/.test(line)) expect(line).not.toMatch(/dirtying/);
    // The demo explains its limit and its numbers.
    expect(result.stderr).toMatch(/sets a \d+ ms ceiling on the pause \(--downtime-limit; QEMU's default limit is 300 ms\)/);
    expect(result.stdout).toMatch(/downtime ceiling\s+\d+% of the \d+ ms ceiling; QEMU limit \d+/);
    expect(result.stdout).toMatch(/What they mean: downtime is how long vm1 was paused/);
  });

  it('--json: stdout holds only the document, the progress lines go to stderr', async () => {
    const result = await runCli(['demo', '--memory', '64', '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 'migrated', vm: 'vm1' });
    // LANG unset or C in CI: whichever symbols, eight phase lines on stderr.
    expect(phaseLines(result.stderr)).toHaveLength(8);
  });
});

describe('nicmig migrate refused, stderr piped', () => {
  let hosts: SimHostProcesses;

  beforeAll(async () => {
    hosts = new SimHostProcesses(`e2e-progress-${process.pid}`);
    await hosts.start();
  });

  afterAll(async () => {
    await hosts?.stop();
  });

  it('prints the phase that refused, then the reason and what to do, and nothing for the phases that never began', async () => {
    const result = await runCli(['migrate', 'vm1', 'hostA', '--config', hosts.config], { env: { LANG: 'C' } });
    expect(result.code).toBe(10);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^FAILED Resolve the VM and hosts {2}\d/);
    expect(result.stderr).not.toMatch(/SKIPPED|skipped|Preflight|Pre-copy|↓|❯/);
    expect(lines.slice(1).join('\n')).toMatch(/^error preflight refused the migration:\n {2}- VM 'vm1' already runs on hostA \[PREFLIGHT_REFUSED\]\n {2}hint nothing was changed/);
    expect(result.stdout).toBe('');
  });

  it('--json: the same on stderr, the document alone on stdout', async () => {
    const result = await runCli(['migrate', 'vm1', 'hostA', '--json', '--config', hosts.config], { env: { LANG: 'C' } });
    expect(result.code).toBe(10);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 'refused', error: { code: 'PREFLIGHT_REFUSED' } });
    expect(result.stderr).toMatch(/^FAILED Resolve the VM and hosts {2}\d[^\n]*\nerror preflight refused the migration:/);
  });
});
