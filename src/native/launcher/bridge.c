/*
 * The managed-network bridge (see bridge.h). One process, one poll loop, no threads:
 *
 *   127.0.0.1:PORT / [::1]:PORT  --accept-->  client fd
 *                                             upstream fd = connect(Unix socket of the proxy)
 *   upstream <- "EXECVISOR-NET/1 <token> <client address>\n" + the client's bytes
 *   client   <- the proxy's bytes
 *
 * Each direction has one fixed buffer: a side that does not read stops the other (backpressure,
 * nothing grows). A half-close is forwarded (EOF on one side becomes shutdown(SHUT_WR) on the other
 * once its buffer is written); an error on either side closes both. Connections are bounded; past
 * the bound the listeners are not polled, so new clients wait in the kernel's backlog.
 *
 * Before it listens, the bridge makes itself non-dumpable (the command runs as the same user in the
 * same PID namespace: /proc/<pid>/mem, process_vm_readv and ptrace of a non-dumpable process need a
 * capability the sandbox has none of), leaves the command's session (a `kill 0` of the command does
 * not reach it), points its stdio at /dev/null (it holds no pipe of the command's open) and closes
 * every other descriptor it inherited.
 */
#define _GNU_SOURCE
#include "bridge.h"
#include "os-error.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define BUFFER_BYTES 16384
#define MAX_CONNECTIONS 512
#define LISTEN_BACKLOG 256
/* An upstream connect waits at most this long for room in the proxy's backlog. */
#define CONNECT_TIMEOUT_SECONDS 5
/* Without a pidfd the owner is checked this often. */
#define OWNER_POLL_MS 1000
#define PREAMBLE_MAX 256

/* What the bridge tells the launcher once: error 0 = listening. */
struct ready_message {
  int32_t error;
  char step[60];
};

struct half {
  unsigned char *data;
  size_t head;
  size_t tail;
  int eof;      /* its source reached EOF */
  int shutdown; /* EOF forwarded: shutdown(SHUT_WR) sent to its destination */
};

/* fd[0] the client, fd[1] the upstream; half[i] carries fd[i]'s bytes to fd[1 - i]. */
struct connection {
  int fd[2];
  struct half half[2];
};

static void launcher_fail(const char *step, int error) {
  fprintf(stderr, "execvisor-launcher: bridge: %s: %s (os error %d)\n", step, os_error_text(error), error);
  exit(error == ENOENT ? 127 : 126);
}

static void report(int fd, const char *step, int error) {
  struct ready_message message;
  memset(&message, 0, sizeof message);
  message.error = error;
  strncpy(message.step, step, sizeof message.step - 1);
  ssize_t n;
  do n = write(fd, &message, sizeof message);
  while (n < 0 && errno == EINTR);
}

/* In the bridge before it is ready: tell the launcher which step failed, and stop. */
static void __attribute__((noreturn)) setup_fail(int ready_fd, const char *step) {
  report(ready_fd, step, errno == 0 ? EIO : errno);
  _exit(126);
}

/* Closes every descriptor from 3 up except `keep` (which is 3 or more). */
static int close_all_but(int keep) {
#ifdef SYS_close_range
  if ((keep == 3 || syscall(SYS_close_range, 3u, (unsigned int)keep - 1, 0u) == 0) &&
      syscall(SYS_close_range, (unsigned int)keep + 1, ~0u, 0u) == 0)
    return 0;
  if (errno != ENOSYS && errno != EPERM) return -1;
#endif
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) < 0) return -1;
  rlim_t last = limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur > (1u << 20) ? (1u << 20) : limit.rlim_cur;
  for (rlim_t fd = 3; fd < last; fd++) {
    if ((int)fd != keep && close((int)fd) < 0 && errno != EBADF && errno != EINTR) return -1;
  }
  return 0;
}

static int set_nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return -1;
  return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/* A listener on the loopback address of `family`, or -1 with errno set. */
static int listen_on(int family, uint16_t port) {
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  int result = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (result == 0 && family == AF_INET) {
    struct sockaddr_in address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    result = bind(fd, (struct sockaddr *)&address, sizeof address);
  } else if (result == 0) {
    result = setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    struct sockaddr_in6 address;
    memset(&address, 0, sizeof address);
    address.sin6_family = AF_INET6;
    address.sin6_port = htons(port);
    address.sin6_addr = in6addr_loopback;
    if (result == 0) result = bind(fd, (struct sockaddr *)&address, sizeof address);
  }
  if (result == 0) result = listen(fd, LISTEN_BACKLOG);
  if (result < 0) {
    int error = errno;
    close(fd);
    errno = error;
    return -1;
  }
  return fd;
}

/* "127.0.0.1:43210" or "[::1]:43210". */
static void format_peer(const struct sockaddr_storage *peer, char *out, size_t size) {
  char host[INET6_ADDRSTRLEN] = "unknown";
  unsigned port = 0;
  if (peer->ss_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)peer;
    if (inet_ntop(AF_INET, &in->sin_addr, host, sizeof host) == NULL) strcpy(host, "unknown");
    port = ntohs(in->sin_port);
    snprintf(out, size, "%s:%u", host, port);
  } else {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)peer;
    if (inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host) == NULL) strcpy(host, "unknown");
    port = ntohs(in6->sin6_port);
    snprintf(out, size, "[%s]:%u", host, port);
  }
}

/* The upstream side: a connected Unix socket to the proxy (nonblocking), or -1. */
static int connect_upstream(const struct sockaddr_un *address) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  /* A blocking connect waits only while the proxy's backlog is full; this bounds that wait. */
  struct timeval timeout = {CONNECT_TIMEOUT_SECONDS, 0};
  if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout) < 0 ||
      connect(fd, (const struct sockaddr *)address, sizeof *address) < 0 || set_nonblocking(fd) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static void drop(struct connection *connection) {
  for (int side = 0; side < 2; side++) {
    if (connection->fd[side] >= 0) close(connection->fd[side]);
    free(connection->half[side].data);
  }
  free(connection);
}

/* Takes `client`: on failure it is closed. */
static struct connection *open_connection(int client, const char *preamble, size_t preamble_length,
                                          const struct sockaddr_un *upstream_address) {
  struct connection *connection = calloc(1, sizeof *connection);
  if (connection == NULL) {
    close(client);
    return NULL;
  }
  connection->fd[0] = client;
  connection->fd[1] = -1;
  for (int side = 0; side < 2; side++) {
    connection->half[side].data = malloc(BUFFER_BYTES);
    if (connection->half[side].data == NULL) {
      drop(connection);
      return NULL;
    }
  }
  connection->fd[1] = connect_upstream(upstream_address);
  if (connection->fd[1] < 0) {
    drop(connection);
    return NULL;
  }
  /* The preamble goes first, ahead of anything the client sends. */
  memcpy(connection->half[0].data, preamble, preamble_length);
  connection->half[0].tail = preamble_length;
  return connection;
}

/* Moves what it can through one direction; -1 when the connection must close. */
static int pump(struct connection *connection, int side, int readable) {
  struct half *half = &connection->half[side];
  int source = connection->fd[side];
  int destination = connection->fd[1 - side];
  if (readable && !half->eof && half->tail < BUFFER_BYTES) {
    ssize_t n = read(source, half->data + half->tail, BUFFER_BYTES - half->tail);
    if (n > 0) {
      half->tail += (size_t)n;
    } else if (n == 0) {
      half->eof = 1;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      return -1;
    }
  }
  while (half->head < half->tail) {
    ssize_t n = send(destination, half->data + half->head, half->tail - half->head, MSG_NOSIGNAL);
    if (n > 0) {
      half->head += (size_t)n;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return -1;
    }
  }
  if (half->head == half->tail) half->head = half->tail = 0;
  if (half->eof && half->tail == 0 && !half->shutdown) {
    if (shutdown(destination, SHUT_WR) < 0 && errno != ENOTCONN) return -1;
    half->shutdown = 1;
  }
  return 0;
}

static int wants_read(const struct half *half) {
  return !half->eof && half->tail < BUFFER_BYTES;
}

static void __attribute__((noreturn))
bridge_main(const struct bridge_spec *spec, pid_t owner, int ready_fd) {
  errno = 0;
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) setup_fail(ready_fd, "prctl(PR_SET_DUMPABLE)");
  if (setsid() < 0) setup_fail(ready_fd, "setsid");
  struct sigaction ignore;
  memset(&ignore, 0, sizeof ignore);
  ignore.sa_handler = SIG_IGN;
  if (sigaction(SIGPIPE, &ignore, NULL) < 0) setup_fail(ready_fd, "sigaction");
  if (close_all_but(ready_fd) < 0) setup_fail(ready_fd, "close descriptors");
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0) setup_fail(ready_fd, "open /dev/null");
  for (int fd = 0; fd < 3; fd++) {
    if (dup2(null, fd) < 0) setup_fail(ready_fd, "dup2");
  }
  if (null > 2 && close(null) < 0) setup_fail(ready_fd, "close");

  /* The owner is the launcher, which waits for our answer before it execs the command. */
  int owner_fd = -1;
#ifdef SYS_pidfd_open
  owner_fd = (int)syscall(SYS_pidfd_open, owner, 0);
#endif
  if (owner_fd < 0 && kill(owner, 0) < 0) setup_fail(ready_fd, "watch the launcher");

  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) < 0) setup_fail(ready_fd, "getrlimit");
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < 2 * MAX_CONNECTIONS + 16) {
    rlim_t wanted = 2 * MAX_CONNECTIONS + 16;
    limit.rlim_cur = limit.rlim_max == RLIM_INFINITY || limit.rlim_max > wanted ? wanted : limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) < 0) setup_fail(ready_fd, "setrlimit");
  }
  size_t max_connections = MAX_CONNECTIONS;
  if (limit.rlim_cur != RLIM_INFINITY && (limit.rlim_cur - 16) / 2 < max_connections)
    max_connections = limit.rlim_cur > 18 ? (size_t)(limit.rlim_cur - 16) / 2 : 1;

  struct sockaddr_un upstream;
  memset(&upstream, 0, sizeof upstream);
  upstream.sun_family = AF_UNIX;
  memcpy(upstream.sun_path, spec->socket_path, strlen(spec->socket_path));

  int listeners[2];
  listeners[0] = listen_on(AF_INET, spec->port);
  if (listeners[0] < 0) setup_fail(ready_fd, "listen on 127.0.0.1");
  listeners[1] = listen_on(AF_INET6, spec->port);
  /* A namespace without IPv6 has no ::1: the IPv4 listener is the one the environment names. */
  if (listeners[1] < 0 && errno != EADDRNOTAVAIL && errno != EAFNOSUPPORT) setup_fail(ready_fd, "listen on [::1]");

  report(ready_fd, "ready", 0);
  close(ready_fd);

  struct connection **connections = calloc(max_connections, sizeof *connections);
  /* listeners, owner, then two per connection */
  struct pollfd *fds = calloc(3 + 2 * max_connections, sizeof *fds);
  if (connections == NULL || fds == NULL) _exit(1);
  size_t open_count = 0;
  char preamble[PREAMBLE_MAX];

  for (;;) {
    nfds_t n = 0;
    for (int i = 0; i < 2; i++) {
      fds[n].fd = open_count < max_connections ? listeners[i] : -1;
      fds[n].events = POLLIN;
      fds[n].revents = 0;
      n++;
    }
    fds[n].fd = owner_fd;
    fds[n].events = POLLIN;
    fds[n].revents = 0;
    n++;
    for (size_t i = 0; i < open_count; i++) {
      struct connection *c = connections[i];
      for (int side = 0; side < 2; side++) {
        short events = (short)((wants_read(&c->half[side]) ? POLLIN : 0) |
                               (c->half[1 - side].tail > 0 ? POLLOUT : 0));
        /* Not polled when nothing is wanted of it: a peer that hung up would wake the loop forever. */
        fds[n].fd = events == 0 ? -1 : c->fd[side];
        fds[n].events = events;
        fds[n].revents = 0;
        n++;
      }
    }
    int ready = poll(fds, n, owner_fd >= 0 ? -1 : OWNER_POLL_MS);
    if (ready < 0) {
      if (errno == EINTR) continue;
      _exit(1);
    }
    /* The command is gone: so is its network. */
    if (owner_fd >= 0 ? (fds[2].revents != 0) : (kill(owner, 0) < 0 && errno == ESRCH)) _exit(0);

    /* Connections first (their pollfd slots match the array as it was), then new ones. */
    size_t kept = 0;
    for (size_t i = 0; i < open_count; i++) {
      struct connection *c = connections[i];
      const struct pollfd *slot = &fds[3 + 2 * i];
      int failed = 0;
      for (int side = 0; side < 2 && !failed; side++) {
        int readable = (slot[side].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
        if (pump(c, side, readable) < 0) failed = 1;
      }
      if (failed || (c->half[0].shutdown && c->half[1].shutdown)) {
        drop(c);
      } else {
        connections[kept++] = c;
      }
    }
    open_count = kept;

    for (int i = 0; i < 2; i++) {
      if (listeners[i] < 0 || (fds[i].revents & POLLIN) == 0) continue;
      while (open_count < max_connections) {
        struct sockaddr_storage peer;
        socklen_t peer_length = sizeof peer;
        int client = accept4(listeners[i], (struct sockaddr *)&peer, &peer_length, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (client < 0) break; /* EAGAIN, or a client that left already */
        char address[INET6_ADDRSTRLEN + 16];
        format_peer(&peer, address, sizeof address);
        int length = snprintf(preamble, sizeof preamble, "EXECVISOR-NET/1 %s %s\n", spec->token, address);
        if (length <= 0 || (size_t)length >= sizeof preamble) {
          close(client);
          continue;
        }
        struct connection *c = open_connection(client, preamble, (size_t)length, &upstream);
        if (c != NULL) connections[open_count++] = c;
      }
    }
  }
}

void bridge_start(const struct bridge_spec *spec) {
  struct sockaddr_un probe;
  if (strlen(spec->socket_path) >= sizeof probe.sun_path) launcher_fail("socket path", ENAMETOOLONG);
  pid_t owner = getpid();
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) < 0) launcher_fail("pipe", errno);
  pid_t middle = fork();
  if (middle < 0) launcher_fail("fork", errno);
  if (middle == 0) {
    if (close(ready[0]) < 0) setup_fail(ready[1], "close");
    pid_t bridge = fork();
    if (bridge < 0) setup_fail(ready[1], "fork");
    if (bridge == 0) bridge_main(spec, owner, ready[1]);
    _exit(0);
  }
  if (close(ready[1]) < 0) launcher_fail("close", errno);
  int status;
  while (waitpid(middle, &status, 0) < 0) {
    if (errno != EINTR) launcher_fail("waitpid", errno);
  }
  struct ready_message message;
  size_t got = 0;
  while (got < sizeof message) {
    ssize_t n = read(ready[0], (char *)&message + got, sizeof message - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) launcher_fail("read", errno);
    if (n == 0) break;
    got += (size_t)n;
  }
  if (close(ready[0]) < 0) launcher_fail("close", errno);
  if (got != sizeof message) {
    fprintf(stderr, "execvisor-launcher: bridge: exited before it listened\n");
    exit(126);
  }
  if (message.error != 0) {
    message.step[sizeof message.step - 1] = 0;
    launcher_fail(message.step, message.error);
  }
}
