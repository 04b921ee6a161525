/**
 * Keeps unsandboxed children from outliving a runtime that was killed (SIGKILL, OOM, crash).
 *
 * Node cannot set a parent-death signal between fork and exec, and one set there would fire when the
 * *worker thread* that forked exits, not the process. Instead a tiny watchdog process is started per
 * runtime, in its own process group, reading `+pgid` / `-pgid` lines and the runtime's cgroup
 * (`c/path`) on a pipe from us. When the pipe reaches EOF (this process died, or the runtime closed)
 * it SIGKILLs every group still registered, kills the runtime's cgroup whole (`cgroup.kill`: every
 * process of every session, daemons that left their group included), removes the emptied cgroups
 * and exits. Sandboxed children are also covered by bwrap's --die-with-parent.
 *
 * Limit: without a cgroup, a child spawned in the instant before its registration reaches the
 * watchdog (registrations of one turn of the event loop are written together at its end) can escape
 * if the runtime dies in that instant. The cgroup is registered once, before any process starts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../core/logger.js';

// Perl: present on every Debian and macOS install, starts in a few ms, needs a few MB.
// The cgroups are removed deepest first once the killed processes have left them (up to 2 s).
const REAPER_SCRIPT =
  '$0 = "execvisor-reaper"; $SIG{PIPE} = "IGNORE"; $SIG{INT} = "IGNORE"; $SIG{HUP} = "IGNORE"; my (%g, %c); ' +
  'while (my $l = <STDIN>) { if ($l =~ /^\\+(\\d+)$/) { $g{$1} = 1 } elsif ($l =~ /^-(\\d+)$/) { delete $g{$1} } ' +
  'elsif ($l =~ /^c(\\/.+)$/) { $c{$1} = 1 } } ' +
  'kill "KILL", map { -$_ } keys %g if %g; ' +
  'for my $c (keys %c) { if (open(my $k, ">", "$c/cgroup.kill")) { print $k "1"; close $k } } ' +
  'sub rm { my ($d) = @_; return 0 unless -d $d; my $n = 0; if (opendir(my $h, $d)) { ' +
  'for my $e (readdir $h) { $n += rm("$d/$e") if $e !~ /^\\./ && -d "$d/$e" } closedir $h } rmdir($d) or $n++; $n } ' +
  'for (1 .. 400) { my $left = 0; $left += rm($_) for keys %c; last unless $left; select(undef, undef, undef, 0.005) }';

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

  /** The runtime's cgroup: killed whole and removed when the watchdog's pipe ends. */
  watchCgroup(dir: string): void {
    if (dir.startsWith('/') && !dir.includes('\n')) this.#queue(`c${dir}\n`);
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
