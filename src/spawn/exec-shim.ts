/**
 * A tiny exec shim for what a backend cannot do natively: set argv[0] to something other than the
 * program (node-pty always passes the program as argv[0]; bwrap 0.8 has no --argv0) and open files on
 * descriptors 3, 4, … (bwrap reads its seccomp filter from an inherited descriptor, which node-pty
 * cannot pass). Perl is used because, unlike `sh`, it execs without adding variables (dash exports
 * PWD), and it ships with every Debian and macOS install. It is used only where it is needed.
 */
const SHIM_PERL = '/usr/bin/perl';

// The first argument is how many files to open; each open takes the lowest free descriptor (0-2 are
// taken), and a high $^F keeps them open across exec.
const SHIM_SCRIPT =
  'my $n = shift; my @f = splice(@ARGV, 0, $n); my ($p, @a) = @ARGV; my @h; $^F = 1000; ' +
  'for my $i (0 .. $#f) { open(my $h, "<", $f[$i]) or die "execvisor: open $f[$i]: $!\\n"; ' +
  'die "execvisor: descriptor " . (3 + $i) . " is taken\\n" if fileno($h) != 3 + $i; push @h, $h; } ' +
  'exec { $p } @a or die "execvisor: exec $p: $!\\n";';

/**
 * argv that runs `program` with the child-visible argv `[arg0, ...args]`, with `extraFds` opened
 * read-only on descriptors 3, 4, ….
 */
export function shimArgv(
  program: string,
  arg0: string,
  args: readonly string[],
  extraFds: readonly string[],
): string[] {
  return [SHIM_PERL, '-e', SHIM_SCRIPT, String(extraFds.length), ...extraFds, program, arg0, ...args];
}
