/** The bearer token of `--token-file`, else of `EXEC_SERVER_TOKEN` (empty means none). */
import { readFile } from 'node:fs/promises';

export async function readToken(file: string | undefined): Promise<string | null> {
  if (file === undefined) {
    const fromEnv = process.env.EXEC_SERVER_TOKEN;
    return fromEnv === undefined || fromEnv === '' ? null : fromEnv;
  }
  // Editors and `echo` leave a trailing newline; it is never part of the token.
  return (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
}
