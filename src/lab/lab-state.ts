/**
 * Where a background lab keeps its things, and D/lab.json: the processes `nicmig lab up`
 * started (pids, sockets, logs), so that `lab down` and `lab status` can find them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { LabError } from './errors.js';

export const LAB_VM = 'vm1';
export const LAB_VF_DEVICE = 'vf0';
export const LAB_PF = 'enp1s0f0';
export const LAB_MAC = '02:00:00:00:00:01';
/** hostB's PF kernel is older: fewer filters for untrusted VFs, still enough for vm1's VF. */
export const LAB_HOSTS = [
  { name: 'hostA', limits: 'current' },
  { name: 'hostB', limits: 'older' },
] as const;

export const LabProcessSchema = z.object({
  role: z.enum(['switch', 'host']),
  name: z.string(),
  pid: z.number().int().positive(),
  /** the switch's socket, or the host's control socket */
  socket: z.string(),
  log: z.string(),
  /** hosts: the run directory */
  dir: z.string().optional(),
  limits: z.string().optional(),
});
export type LabProcess = z.infer<typeof LabProcessSchema>;

export const LabStateSchema = z.object({
  format: z.literal('nicmig-lab/1'),
  dir: z.string(),
  config: z.string(),
  /** false while `lab up` is still starting it */
  ready: z.boolean(),
  startedAt: z.string(),
  /** the `lab up` process (while it starts the lab) */
  starter: z.number().int(),
  processes: z.array(LabProcessSchema),
  traffic: z.object({ target: z.string(), rate: z.number(), report: z.string() }).nullable(),
});
export type LabState = z.infer<typeof LabStateSchema>;

export function defaultLabDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.XDG_RUNTIME_DIR && env.XDG_RUNTIME_DIR.length > 0) return path.join(env.XDG_RUNTIME_DIR, 'nicmig-lab');
  return path.join('/tmp', `nicmig-lab-${process.getuid?.() ?? 'user'}`);
}

export function labPaths(dir: string) {
  return {
    dir,
    state: path.join(dir, 'lab.json'),
    config: path.join(dir, 'config.yaml'),
    stateDir: path.join(dir, 'state'),
    switchSocket: path.join(dir, 'switch.sock'),
    switchReport: path.join(dir, 'switch-report.json'),
    hostDir: (host: string) => path.join(dir, host),
    log: (name: string) => path.join(dir, `${name}.log`),
  };
}

/** The lab's state, or undefined when there is no lab.json. */
export function readLabState(dir: string): LabState | undefined {
  const file = labPaths(dir).state;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new LabError('LAB_STATE_INVALID', `cannot read ${file}: ${(error as Error).message}`, { cause: error, details: { file } });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    raw = error;
  }
  const parsed = LabStateSchema.safeParse(raw);
  if (!parsed.success) {
    throw new LabError('LAB_STATE_INVALID', `${file} is not a nicmig lab state file`, {
      details: { file },
      hint: `stop its processes yourself, then remove ${file}`,
    });
  }
  return parsed.data;
}

/** Replaces lab.json atomically. */
export function writeLabState(state: LabState): void {
  const file = labPaths(state.dir).state;
  fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  fs.renameSync(`${file}.tmp`, file);
}

/** Creates lab.json only if there is none: two `lab up` at once cannot both win. */
export function createLabState(state: LabState): boolean {
  try {
    fs.writeFileSync(labPaths(state.dir).state, `${JSON.stringify(state, null, 2)}\n`, { flag: 'wx' });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}
