import fs from 'node:fs';
import path from 'node:path';

/**
 * Where a command would be found as execve(2) after a PATH search finds it: the path itself
 * when it has a slash, else the first executable regular file named so in $PATH. Undefined when
 * there is none.
 */
export function findExecutable(command: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (command.length === 0) return undefined;
  const candidates = command.includes('/') ? [command] : (env.PATH ?? '').split(':').map((dir) => path.join(dir.length > 0 ? dir : '.', command));
  return candidates.find((candidate) => {
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return fs.statSync(candidate).isFile();
    } catch {
      return false;
    }
  });
}

/** Why `command` cannot be run, or undefined when it can. */
export function missingExecutableReason(command: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (findExecutable(command, env) !== undefined) return undefined;
  return command.includes('/') ? `'${command}' does not exist or is not an executable file` : `'${command}' is not found on PATH (${env.PATH ?? 'unset'})`;
}
