#!/bin/sh
# Links execvisor-launcher statically (binding.gyp runs this on Linux): build.sh OUT SOURCE...
#
# With musl (`musl-gcc`, Debian's musl-tools) where it is installed, else with glibc. The launcher is
# one exec step on every sandboxed start, and glibc's static start-up (CPU feature and cache probing
# with cpuid, which traps under a hypervisor, and a 800 KB image) costs about 0.3 ms of it there;
# musl's costs next to nothing. Both builds behave alike: the error texts come from os-error.c.
set -eu
out=$1
shift
dir=$(dirname "$out")
mkdir -p "$dir"
flags="-O2 -Wall -Wextra -static"

if command -v musl-gcc >/dev/null 2>&1; then
  # musl's headers do not include the kernel's (linux/, asm/): show it those, and only those.
  uapi="$dir/launcher-uapi"
  multiarch=$(cc -print-multiarch 2>/dev/null || true)
  rm -rf "$uapi"
  mkdir -p "$uapi"
  ln -s /usr/include/linux "$uapi/linux"
  ln -s /usr/include/asm-generic "$uapi/asm-generic"
  if [ -n "$multiarch" ] && [ -d "/usr/include/$multiarch/asm" ]; then
    ln -s "/usr/include/$multiarch/asm" "$uapi/asm"
  else
    ln -s /usr/include/asm "$uapi/asm"
  fi
  # shellcheck disable=SC2086
  if musl-gcc $flags -idirafter "$uapi" -o "$out" "$@"; then
    exit 0
  fi
  echo "execvisor-launcher: the musl build failed; linking with the system C library instead" >&2
fi
# shellcheck disable=SC2086
exec "${CC:-cc}" $flags -o "$out" "$@"
