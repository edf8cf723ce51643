import { execFile, spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { SimHostProcesses } from '../helpers/sim-hosts.js';
import { NICMIG_BIN } from '../helpers/cli.js';

jest.setTimeout(120_000);

/**
 * docs/ansible/migrate.yml run by the real ansible-playbook (local connection) against a lab
 * of two `nicmig sim host` processes: what an operator's play would see. Under CI=true a
 * missing ansible-playbook fails; elsewhere the suite is skipped, loudly.
 */
const PLAYBOOK = path.join(process.cwd(), 'docs', 'ansible', 'migrate.yml');
const haveAnsible = spawnSync('ansible-playbook', ['--version'], { stdio: 'ignore' }).status === 0;
const inCi = process.env.CI === 'true';

if (!haveAnsible && !inCi) {
  process.stderr.write('\n*** SKIPPED test/e2e/ansible.test.ts: no ansible-playbook on PATH (Debian: apt-get install ansible-core) ***\n\n');
}

interface Recap {
  ok: number;
  changed: number;
  failures: number;
  skipped: number;
}

interface PlaybookRun {
  code: number;
  recap: Recap;
  /** Each task's result on localhost, by task name. */
  tasks: Map<string, Record<string, unknown>>;
  raw: string;
  stderr: string;
}

/** Runs the playbook with ansible's json stdout callback and parses the recap and task results. */
function runPlaybook(dir: string, vars: Record<string, string>): Promise<PlaybookRun> {
  const extra = Object.entries(vars).flatMap(([key, value]) => ['-e', `${key}=${value}`]);
  const env = {
    ...process.env,
    ANSIBLE_STDOUT_CALLBACK: 'json',
    ANSIBLE_NOCOLOR: '1',
    ANSIBLE_LOCAL_TEMP: path.join(dir, 'ansible-tmp'),
    ANSIBLE_REMOTE_TEMP: path.join(dir, 'ansible-tmp'),
    ANSIBLE_PYTHON_INTERPRETER: 'auto_silent',
    ANSIBLE_RETRY_FILES_ENABLED: '0',
    // bin/run.js starts with `#!/usr/bin/env node`: the node running the tests.
    PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}`,
    NO_COLOR: '1',
  };
  return new Promise((resolve, reject) => {
    execFile('ansible-playbook', ['-i', 'localhost,', '-c', 'local', PLAYBOOK, ...extra], { env, timeout: 90_000, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      const code = error ? Number(error.code) : 0;
      if (error && typeof error.code !== 'number') return reject(new Error(`ansible-playbook did not run: ${error.message}\n${stderr}`));
      let document: { stats: Record<string, Recap>; plays: { tasks: { task: { name: string }; hosts: Record<string, Record<string, unknown>> }[] }[] };
      try {
        document = JSON.parse(stdout.slice(stdout.indexOf('{')));
      } catch {
        return reject(new Error(`ansible-playbook printed no JSON (exit ${code}):\n${stdout}\n${stderr}`));
      }
      const tasks = new Map<string, Record<string, unknown>>();
      for (const play of document.plays) for (const task of play.tasks) tasks.set(task.task.name, task.hosts.localhost ?? {});
      const recap = document.stats.localhost as Recap;
      resolve({ code, recap, tasks, raw: stdout, stderr });
    });
  });
}

/** The play's exit code, with what ansible printed when it is not the one expected (a failure says why). */
function expectExit(run: PlaybookRun, code: number): void {
  if (run.code === code) return;
  const migrate = [...run.tasks.entries()].find(([name]) => name.startsWith('nicmig migrate'))?.[1];
  throw new Error(`ansible-playbook exited ${run.code}, expected ${code}; nicmig task: ${JSON.stringify(migrate, null, 2)}\nansible printed:\n${run.raw}\n${run.stderr}`);
}

describe.each([haveAnsible || inCi ? 'ansible-playbook' : 'ansible-playbook (skipped)'])('docs/ansible/migrate.yml with %s', () => {
  if (!haveAnsible && !inCi) {
    it.skip('needs ansible-playbook', () => undefined);
    return;
  }

  let lab: SimHostProcesses | undefined;
  let config: string;
  const vars = (more: Record<string, string>) => ({ nicmig: NICMIG_BIN, nicmig_config: config, ...more });

  beforeAll(async () => {
    expect(haveAnsible).toBe(true); // under CI=true, a missing ansible-playbook fails here
    lab = new SimHostProcesses('e2e-ansible');
    config = lab.config;
    await lab.start();
  });

  afterAll(async () => {
    await lab?.stop();
  });

  // The cases run in order on one lab: a dry run, the move, then a refusal (already there).
  it('a dry run is ok and changes nothing (changed=0)', async () => {
    const run = await runPlaybook((lab as SimHostProcesses).dir, vars({ vm: 'vm1', dest: 'hostB', dry_run: 'true' }));
    expectExit(run, 0);
    expect(run.recap).toMatchObject({ changed: 0, failures: 0 });
    expect(run.tasks.get('Report')?.msg).toBe('dry run: vm1 could move from hostA to hostB; nothing changed');
  });

  it('a migration that succeeds is the one change (changed=1, ok)', async () => {
    const run = await runPlaybook((lab as SimHostProcesses).dir, vars({ vm: 'vm1', dest: 'hostB' }));
    expectExit(run, 0);
    expect(run.recap).toMatchObject({ changed: 1, failures: 0 });
    const migrate = run.tasks.get('nicmig migrate vm1 hostB --json');
    expect(migrate).toMatchObject({ changed: true, rc: 0 });
    expect(JSON.parse(String(migrate?.stdout))).toMatchObject({ status: 'migrated', from: 'hostA', to: 'hostB' });
    expect(String(run.tasks.get('Report')?.msg)).toMatch(/^vm1 now runs on hostB /);
  });

  it('a preflight refusal fails the play with nicmig\'s message (VM already on the destination, exit 10)', async () => {
    const run = await runPlaybook((lab as SimHostProcesses).dir, vars({ vm: 'vm1', dest: 'hostB' }));
    expect(run.code).not.toBe(0);
    expect(run.recap).toMatchObject({ changed: 0, failures: 1 });
    expect(run.tasks.get('nicmig migrate vm1 hostB --json')).toMatchObject({ changed: false, rc: 10 });
    const failed = run.tasks.get('Fail on nicmig\'s non-zero exit, with its error');
    expect(failed).toMatchObject({ failed: true });
    expect(String(failed?.msg)).toMatch(/exited 10 \(PREFLIGHT_REFUSED\): preflight refused the migration:/);
    expect(String(failed?.msg)).toMatch(/VM 'vm1' already runs on hostB/);
  });

  it('an unknown VM fails the play with exit 2 and nicmig\'s hint', async () => {
    const run = await runPlaybook((lab as SimHostProcesses).dir, vars({ vm: 'vm9', dest: 'hostA' }));
    expect(run.recap).toMatchObject({ changed: 0, failures: 1 });
    const msg = String(run.tasks.get('Fail on nicmig\'s non-zero exit, with its error')?.msg);
    expect(msg).toMatch(/exited 2 \(UNKNOWN_VM\): no VM named 'vm9' in /);
    expect(msg).toMatch(/known VMs: vm1/);
  });

  it('the VM stayed where the successful play put it', async () => {
    const run = await runPlaybook((lab as SimHostProcesses).dir, vars({ vm: 'vm1', dest: 'hostA', dry_run: 'true' }));
    expect(run.recap).toMatchObject({ changed: 0, failures: 0 });
    expect(run.tasks.get('Report')?.msg).toBe('dry run: vm1 could move from hostB to hostA; nothing changed');
  });
});
