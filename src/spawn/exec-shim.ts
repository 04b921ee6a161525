/**
 * A tiny exec shim for what a backend cannot do natively: set argv[0] to something other than the
 * program (node-pty always passes the program as argv[0]; bwrap 0.8 has no --argv0) and open a file
 * on descriptor 3 (bwrap reads its seccomp filter from an inherited descriptor, which node-pty cannot
 * pass). Perl is used because, unlike `sh`, it execs without adding variables (dash exports PWD), and
 * it ships with every Debian and macOS install. It is used only where it is needed.
 */
const SHIM_PERL = '/usr/bin/perl';

// $^F = 3 keeps descriptor 3 open across exec; the open gets fd 3 because 0-2 are taken.
const SHIM_SCRIPT =
  'my ($f, $p, @a) = @ARGV; my $fh; ' +
  'if ($f ne "") { $^F = 3; open($fh, "<", $f) or die "execvisor: open $f: $!\\n"; ' +
  'die "execvisor: descriptor 3 is taken\\n" if fileno($fh) != 3; } ' +
  'exec { $p } @a or die "execvisor: exec $p: $!\\n";';

/**
 * argv that runs `program` with the child-visible argv `[arg0, ...args]`, optionally with `fd3Path`
 * opened read-only on descriptor 3.
 */
export function shimArgv(
  program: string,
  arg0: string,
  args: readonly string[],
  fd3Path: string | null,
): string[] {
  return [SHIM_PERL, '-e', SHIM_SCRIPT, fd3Path ?? '', program, arg0, ...args];
}
