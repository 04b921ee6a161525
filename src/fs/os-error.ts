/**
 * OS errors of a filesystem operation → coded errors, with the OS text in the form the reference
 * server prints it (Rust's `io::Error` display: `No such file or directory (os error 2)`).
 */
import { getSystemErrorMap } from 'node:util';
import { ExecError, FsInvalidError, FsIoError } from '../errors.js';

// glibc's strerror texts where libuv words them differently (libuv: "file already exists").
const STRERROR: Readonly<Record<string, string>> = {
  EACCES: 'Permission denied',
  EAGAIN: 'Resource temporarily unavailable',
  EBUSY: 'Device or resource busy',
  EDQUOT: 'Disk quota exceeded',
  EEXIST: 'File exists',
  EFBIG: 'File too large',
  EINVAL: 'Invalid argument',
  EIO: 'Input/output error',
  EISDIR: 'Is a directory',
  ELOOP: 'Too many levels of symbolic links',
  EMFILE: 'Too many open files',
  ENAMETOOLONG: 'File name too long',
  ENOENT: 'No such file or directory',
  ENOSPC: 'No space left on device',
  ENOTDIR: 'Not a directory',
  ENOTEMPTY: 'Directory not empty',
  ENXIO: 'No such device or address',
  EPERM: 'Operation not permitted',
  EROFS: 'Read-only file system',
  ETXTBSY: 'Text file busy',
  EXDEV: 'Invalid cross-device link',
};

let systemErrors: Map<number, [string, string]> | undefined;

/** `Permission denied (os error 13)`, or the error's own message when it carries no errno. */
export function osErrorText(error: unknown): string {
  const { code, errno } = (error ?? {}) as NodeJS.ErrnoException;
  if (typeof errno !== 'number') return error instanceof Error ? error.message : String(error);
  systemErrors ??= getSystemErrorMap();
  const libuvText = systemErrors.get(errno)?.[1];
  const text =
    (code !== undefined ? STRERROR[code] : undefined) ??
    (libuvText !== undefined
      ? libuvText.charAt(0).toUpperCase() + libuvText.slice(1)
      : (code ?? 'unknown error'));
  return `${text} (os error ${Math.abs(errno)})`;
}

/**
 * Any failure of an operation as an `ExecError`: coded errors pass through; EINVAL is invalid input
 * (-32600, as the reference maps `ErrorKind::InvalidInput`); every other OS error is `FS_IO`.
 */
export function toFsError(error: unknown): ExecError {
  if (error instanceof ExecError) return error;
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code === 'EINVAL') return new FsInvalidError(osErrorText(error), { cause: error });
  return new FsIoError(osErrorText(error), { cause: error });
}
