/**
 * Finds the program to execute. The child's environment is exactly what the caller sent, yet a bare
 * program name must still be found: look it up on `env.PATH` if given, else the server's PATH, else
 * `/usr/bin:/bin`. Resolving here (instead of leaving it to execvp in the child) gives a clear error
 * before anything is spawned and makes the sandbox wrap an absolute path.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { SpawnError } from '../errors.js';

const FALLBACK_PATH = '/usr/bin:/bin';

export function resolveProgram(
  program: string,
  cwd: string,
  env: Readonly<Record<string, string>>,
  serverPath: string | undefined = process.env.PATH,
): string {
  if (program.length === 0) throw new SpawnError('failed to spawn: the program name is empty');
  if (program.includes('/')) {
    const path = isAbsolute(program) ? program : resolve(cwd, program);
    checkExecutable(path, program);
    return path;
  }
  const searchPath = env.PATH ?? serverPath ?? FALLBACK_PATH;
  for (const dir of searchPath.split(':')) {
    if (dir === '') continue;
    const candidate = join(isAbsolute(dir) ? dir : resolve(cwd, dir), program);
    if (isExecutableFile(candidate)) return candidate;
  }
  throw new SpawnError(
    `failed to spawn \`${program}\`: No such file or directory (os error 2): not found on PATH`,
  );
}

export function checkCwd(cwd: string): void {
  let stat;
  try {
    stat = statSync(cwd);
  } catch (error) {
    throw new SpawnError(`failed to spawn: cwd \`${cwd}\`: ${osErrorText(error)}`, { cause: error });
  }
  if (!stat.isDirectory()) {
    throw new SpawnError(`failed to spawn: cwd \`${cwd}\`: Not a directory (os error 20)`);
  }
}

function checkExecutable(path: string, shown: string): void {
  let stat;
  try {
    stat = statSync(path);
    accessSync(path, constants.X_OK);
  } catch (error) {
    throw new SpawnError(`failed to spawn \`${shown}\`: ${osErrorText(error)}`, { cause: error });
  }
  if (!stat.isFile()) {
    throw new SpawnError(`failed to spawn \`${shown}\`: Permission denied (os error 13): not a regular file`);
  }
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

const osErrorTexts: Record<string, string> = {
  ENOENT: 'No such file or directory (os error 2)',
  ENOEXEC: 'Exec format error (os error 8)',
  EAGAIN: 'Resource temporarily unavailable (os error 11)',
  ENOMEM: 'Cannot allocate memory (os error 12)',
  EACCES: 'Permission denied (os error 13)',
  ENOTDIR: 'Not a directory (os error 20)',
  ENFILE: 'Too many open files in system (os error 23)',
  EMFILE: 'Too many open files (os error 24)',
  ETXTBSY: 'Text file busy (os error 26)',
  E2BIG: 'Argument list too long (os error 7)',
  ELOOP: 'Too many levels of symbolic links (os error 40)',
  ENAMETOOLONG: 'File name too long (os error 36)',
};

/** The OS error text in the form the reference server prints it. */
export function osErrorText(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code !== undefined && osErrorTexts[code] !== undefined) return osErrorTexts[code];
  return error instanceof Error ? error.message : String(error);
}
