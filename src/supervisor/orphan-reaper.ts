/**
 * Keeps unsandboxed children from outliving a runtime that was killed (SIGKILL, OOM, crash).
 *
 * Node cannot set a parent-death signal between fork and exec, and one set there would fire when the
 * *worker thread* that forked exits, not the process. Instead a tiny watchdog process is started per
 * runtime, in its own process group, reading `+pgid` / `-pgid` lines on a pipe from us. When the pipe
 * reaches EOF (this process died, or the runtime closed) it SIGKILLs every group still registered and
 * exits. Sandboxed children are also covered by bwrap's --die-with-parent.
 *
 * Limit: a child spawned in the instant before its registration reaches the watchdog (registrations
 * of one turn of the event loop are written together at its end) can escape if the runtime dies in
 * that instant.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../core/logger.js';

// Perl: present on every Debian and macOS install, starts in a few ms, needs a few MB.
const REAPER_SCRIPT =
  '$0 = "execvisor-reaper"; $SIG{PIPE} = "IGNORE"; $SIG{INT} = "IGNORE"; $SIG{HUP} = "IGNORE"; my %g; ' +
  'while (my $l = <STDIN>) { if ($l =~ /^\\+(\\d+)$/) { $g{$1} = 1 } elsif ($l =~ /^-(\\d+)$/) { delete $g{$1} } } ' +
  'kill "KILL", map { -$_ } keys %g if %g;';

export class OrphanReaper {
  readonly #child: ChildProcess | null;
  #closed = false;
  // Registrations of one turn of the event loop go out in one write.
  #pending = '';
  #scheduled: NodeJS.Immediate | null = null;

  constructor(logger: Logger) {
    let child: ChildProcess | null = null;
    try {
      child = spawn('/usr/bin/perl', ['-e', REAPER_SCRIPT], {
        stdio: ['pipe', 'ignore', 'ignore'],
        detached: true,
        env: {},
      });
      child.on('error', (error) => logger.warn({ err: error }, 'orphan reaper failed to start'));
      child.stdin!.on('error', () => undefined);
      // The watchdog must never keep this process alive.
      child.unref();
      (child.stdin as unknown as { unref?: () => void }).unref?.();
    } catch (error) {
      logger.warn({ err: error }, 'orphan reaper is not available; children may outlive a killed runtime');
      child = null;
    }
    this.#child = child;
  }

  add(pgid: number): void {
    this.#queue(`+${pgid}\n`);
  }

  remove(pgid: number): void {
    this.#queue(`-${pgid}\n`);
  }

  /** Ends the watchdog: it kills whatever is still registered, then exits. */
  close(): void {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    this.#child?.stdin?.end();
  }

  #queue(line: string): void {
    if (this.#closed || this.#child === null) return;
    this.#pending += line;
    this.#scheduled ??= setImmediate(() => this.#flush());
  }

  #flush(): void {
    if (this.#scheduled !== null) clearImmediate(this.#scheduled);
    this.#scheduled = null;
    if (this.#pending === '' || this.#closed) return;
    this.#child?.stdin?.write(this.#pending);
    this.#pending = '';
  }
}
