/*
 * The managed-network bridge of execvisor-launcher: inside a sandbox's private network namespace it
 * listens on 127.0.0.1:PORT and [::1]:PORT and forwards each connection to the runtime's proxy over
 * a Unix socket bound into the sandbox, sending the preamble line that names the process's lease
 * first (see src/network/preamble.ts). It is started before the launcher applies its seccomp
 * filter, in a process of its own, so it may make Unix sockets while the command never can.
 */
#ifndef EXECVISOR_BRIDGE_H
#define EXECVISOR_BRIDGE_H

#include <stdint.h>

struct bridge_spec {
  uint16_t port;
  /* NUL-terminated copies owned by the launcher. */
  char *token;
  char *socket_path;
};

/*
 * Starts the bridge and returns once it listens (or exits the launcher with an error line naming
 * the failed step). The bridge is not the caller's child: it is the grandchild of a process that
 * exits at once, so the command never sees it as its own. It exits when the process `owner` exits
 * (watched through a pidfd), and in any case with the sandbox's PID namespace.
 */
void bridge_start(const struct bridge_spec *spec);

#endif
