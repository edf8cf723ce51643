import { execFile } from 'node:child_process';
import path from 'node:path';

export const NICMIG_BIN = path.join(process.cwd(), 'bin', 'run.js');

export interface CliResult {
  /** The exit code; -1 when the process was ended by a signal. */
  code: number;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI as a user would (`npm test` builds first), never throwing on exit codes. */
export function runCli(args: string[], options: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [NICMIG_BIN, ...args],
      { timeout: options.timeoutMs ?? 60_000, env: { ...process.env, NO_COLOR: '1', ...options.env }, maxBuffer: 64 << 20 },
      (error, stdout, stderr) => {
        if (error && error.signal) {
          resolve({ code: -1, signal: error.signal, stdout, stderr });
          return;
        }
        if (error && typeof error.code !== 'number') {
          reject(new Error(`nicmig ${args.join(' ')} did not run: ${error.message}\n${stderr}`));
          return;
        }
        resolve({ code: error ? Number(error.code) : 0, signal: null, stdout, stderr });
      },
    );
  });
}
