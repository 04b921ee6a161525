/*
 * execvisor-launcher: the last step before a command runs. It reads a launch spec from a
 * descriptor (never from its command line or its own environment: /proc/PID/cmdline is world-readable
 * and the request's env may hold secrets), then, in this fixed order:
 *
 *   1. opens the files the spec names onto descriptors 3, 4, ... (OPEN records);
 *   2. closes every other descriptor from 3 up (the spec's own among them);
 *   3. starts the managed-network bridge (BRIDGE record, bridge.c) and waits until it listens: it
 *      must make a Unix socket, which the command's filter forbids, so it runs before step 4, in a
 *      process of its own that the filter never covers;
 *   4. applies the seccomp program (SECCOMP record): PR_SET_NO_NEW_PRIVS, then seccomp(2);
 *   5. execs PROGRAM with exactly the ARG records as argv (argv[0] included) and exactly the ENV
 *      records as its environment.
 *
 * Usage: execvisor-launcher --fd N     (the spec is on inherited descriptor N)
 *        execvisor-launcher --path P   (the spec is the file P, e.g. /proc/<pid>/fd/<n>)
 *
 * Spec format (all integers little-endian u32):
 *   header  "EXVL" version            version is 1
 *   record  tag length payload[length] repeated to the end of the input
 *     1 PROGRAM  absolute path of the program to exec (exactly one)
 *     2 ARG      one argv element, in order (at least one: argv[0])
 *     3 ENV      one "NAME=value" entry, in order
 *     4 OPEN     u32 descriptor, then a path: opened read-only onto that descriptor; descriptors
 *                must be 3, 4, ... in record order
 *     5 SECCOMP  a classic BPF program (struct sock_filter[], 8 bytes each)
 *     6 BRIDGE   u32 port, u32 token length, the token, then the absolute path of the proxy's Unix
 *                socket (at most one)
 *   Strings carry no NUL. An unknown tag or version is an error: a server newer than its launcher
 *   fails loudly instead of running a step half-applied.
 *
 * Errors go to stderr as "execvisor-launcher: <step>: <strerror> (os error N)"; the exit status is
 * 127 for ENOENT and 126 otherwise, as a shell reports a command it could not run.
 *
 * Statically linked on Linux, so it runs in sandboxes whose filesystem view hides /lib.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bridge.h"
#include "os-error.h"

#ifdef __linux__
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#endif

#define SPEC_MAGIC "EXVL"
#define SPEC_VERSION 1u
#define TAG_PROGRAM 1u
#define TAG_ARG 2u
#define TAG_ENV 3u
#define TAG_OPEN 4u
#define TAG_SECCOMP 5u
#define TAG_BRIDGE 6u

/* Bounds that no honest spec reaches (ARG_MAX is far below), so a bad one cannot exhaust memory. */
#define SPEC_MAX_BYTES (256u << 20)
#define MAX_OPENS 64u

static void fail_errno(const char *step, int error) {
  fprintf(stderr, "execvisor-launcher: %s: %s (os error %d)\n", step, os_error_text(error), error);
  exit(error == ENOENT ? 127 : 126);
}

static void fail_spec(const char *what) {
  fprintf(stderr, "execvisor-launcher: spec: %s: %s (os error %d)\n", what, os_error_text(EINVAL), EINVAL);
  exit(126);
}

struct buffer {
  unsigned char *data;
  size_t length;
};

static struct buffer read_all(int fd) {
  struct buffer buf = {NULL, 0};
  size_t capacity = 0;
  for (;;) {
    if (buf.length == capacity) {
      if (capacity >= SPEC_MAX_BYTES) fail_spec("larger than 256 MiB");
      size_t next = capacity == 0 ? 64 * 1024 : capacity * 2;
      unsigned char *grown = realloc(buf.data, next);
      if (grown == NULL) fail_errno("read spec", ENOMEM);
      buf.data = grown;
      capacity = next;
    }
    ssize_t n = read(fd, buf.data + buf.length, capacity - buf.length);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_errno("read spec", errno);
    }
    if (n == 0) return buf;
    buf.length += (size_t)n;
  }
}

static uint32_t u32_at(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A NUL-terminated copy of a string payload; a payload holding NUL is refused. */
static char *string_of(const unsigned char *payload, uint32_t length, const char *what) {
  if (memchr(payload, 0, length) != NULL) fail_spec(what);
  char *copy = malloc((size_t)length + 1);
  if (copy == NULL) fail_errno("read spec", ENOMEM);
  memcpy(copy, payload, length);
  copy[length] = 0;
  return copy;
}

struct open_request {
  int fd;
  char *path;
};

struct spec {
  char *program;
  char **argv;
  size_t argc;
  char **envp;
  size_t envc;
  struct open_request opens[MAX_OPENS];
  size_t open_count;
  const unsigned char *seccomp;
  uint32_t seccomp_bytes;
  int has_seccomp;
  struct bridge_spec bridge;
  int has_bridge;
};

static char **append(char **list, size_t *count, char *item) {
  char **grown = realloc(list, (*count + 2) * sizeof(char *));
  if (grown == NULL) fail_errno("read spec", ENOMEM);
  grown[(*count)++] = item;
  grown[*count] = NULL;
  return grown;
}

static void parse_spec(const struct buffer *buf, struct spec *spec) {
  memset(spec, 0, sizeof *spec);
  if (buf->length < 8 || memcmp(buf->data, SPEC_MAGIC, 4) != 0) fail_spec("bad header");
  if (u32_at(buf->data + 4) != SPEC_VERSION) fail_spec("unsupported version");
  size_t at = 8;
  while (at < buf->length) {
    if (buf->length - at < 8) fail_spec("truncated record");
    uint32_t tag = u32_at(buf->data + at);
    uint32_t length = u32_at(buf->data + at + 4);
    at += 8;
    if (length > buf->length - at) fail_spec("truncated record");
    const unsigned char *payload = buf->data + at;
    at += length;
    switch (tag) {
      case TAG_PROGRAM:
        if (spec->program != NULL) fail_spec("more than one PROGRAM");
        spec->program = string_of(payload, length, "PROGRAM holds NUL");
        break;
      case TAG_ARG:
        spec->argv = append(spec->argv, &spec->argc, string_of(payload, length, "ARG holds NUL"));
        break;
      case TAG_ENV:
        spec->envp = append(spec->envp, &spec->envc, string_of(payload, length, "ENV holds NUL"));
        break;
      case TAG_OPEN: {
        if (length < 4) fail_spec("OPEN too short");
        if (spec->open_count == MAX_OPENS) fail_spec("too many OPEN records");
        uint32_t fd = u32_at(payload);
        if (fd != 3 + spec->open_count) fail_spec("OPEN descriptors must be 3, 4, ... in order");
        spec->opens[spec->open_count].fd = (int)fd;
        spec->opens[spec->open_count].path = string_of(payload + 4, length - 4, "OPEN path holds NUL");
        spec->open_count++;
        break;
      }
      case TAG_SECCOMP:
        if (spec->has_seccomp) fail_spec("more than one SECCOMP");
        if (length == 0 || length % 8 != 0 || length / 8 > 4096) fail_spec("bad SECCOMP length");
        spec->seccomp = payload;
        spec->seccomp_bytes = length;
        spec->has_seccomp = 1;
        break;
      case TAG_BRIDGE: {
        if (spec->has_bridge) fail_spec("more than one BRIDGE");
        if (length < 8) fail_spec("BRIDGE too short");
        uint32_t port = u32_at(payload);
        uint32_t token_length = u32_at(payload + 4);
        if (port == 0 || port > 65535) fail_spec("BRIDGE port out of range");
        if (token_length == 0 || token_length > 64 || token_length > length - 8) fail_spec("bad BRIDGE token");
        spec->bridge.port = (uint16_t)port;
        spec->bridge.token = string_of(payload + 8, token_length, "BRIDGE token holds NUL");
        for (const char *c = spec->bridge.token; *c != 0; c++) {
          if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f'))) fail_spec("bad BRIDGE token");
        }
        spec->bridge.socket_path =
            string_of(payload + 8 + token_length, length - 8 - token_length, "BRIDGE path holds NUL");
        if (spec->bridge.socket_path[0] != '/') fail_spec("BRIDGE path is not absolute");
        spec->has_bridge = 1;
        break;
      }
      default:
        fail_spec("unknown record tag");
    }
  }
  if (spec->program == NULL) fail_spec("no PROGRAM");
  if (spec->argc == 0) fail_spec("no ARG");
  if (spec->envp == NULL) {
    static char *empty[] = {NULL};
    spec->envp = empty;
  }
}

/* Opens each OPEN path onto its descriptor (3, 4, ... in order, so no target is still in use). */
static void open_descriptors(const struct spec *spec) {
  for (size_t i = 0; i < spec->open_count; i++) {
    const struct open_request *request = &spec->opens[i];
    int fd = open(request->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      int error = errno;
      fprintf(stderr, "execvisor-launcher: open %s: %s (os error %d)\n", request->path, os_error_text(error), error);
      exit(error == ENOENT ? 127 : 126);
    }
    if (fd != request->fd) {
      /* dup2 leaves the new descriptor without FD_CLOEXEC: it survives the exec. */
      if (dup2(fd, request->fd) < 0) fail_errno("dup2", errno);
      if (close(fd) < 0) fail_errno("close", errno);
    } else {
      int flags = fcntl(fd, F_GETFD);
      if (flags < 0) fail_errno("fcntl", errno);
      if (fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC) < 0) fail_errno("fcntl", errno);
    }
  }
}

/* Closes every descriptor from `first` up. */
static void close_from(int first) {
#ifdef SYS_close_range
  if (syscall(SYS_close_range, (unsigned int)first, ~0u, 0u) == 0) return;
  if (errno != ENOSYS && errno != EPERM) fail_errno("close_range", errno);
#endif
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) < 0) fail_errno("getrlimit", errno);
  rlim_t last = limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur > (1u << 20) ? (1u << 20) : limit.rlim_cur;
  for (rlim_t fd = (rlim_t)first; fd < last; fd++) {
    if (close((int)fd) < 0 && errno != EBADF && errno != EINTR) fail_errno("close", errno);
  }
}

static void apply_seccomp(const struct spec *spec) {
  if (!spec->has_seccomp) return;
#ifdef __linux__
  /* sock_filter needs its own alignment; the payload sits at any offset of the spec buffer. */
  struct sock_filter *filter = malloc(spec->seccomp_bytes);
  if (filter == NULL) fail_errno("seccomp", ENOMEM);
  for (uint32_t i = 0; i < spec->seccomp_bytes / 8; i++) {
    const unsigned char *insn = spec->seccomp + (size_t)i * 8;
    filter[i].code = (uint16_t)(insn[0] | insn[1] << 8);
    filter[i].jt = insn[2];
    filter[i].jf = insn[3];
    filter[i].k = u32_at(insn + 4);
  }
  struct sock_fprog program = {(unsigned short)(spec->seccomp_bytes / 8), filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail_errno("prctl(PR_SET_NO_NEW_PRIVS)", errno);
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) < 0) {
    if (errno != ENOSYS) fail_errno("seccomp", errno);
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program, 0, 0) < 0) fail_errno("seccomp", errno);
  }
  free(filter);
#else
  fail_errno("seccomp", ENOSYS);
#endif
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: execvisor-launcher --fd N | --path FILE\n");
    return 126;
  }
  /* The launcher's own environment plays no part: the program gets exactly the spec's. */
  int spec_fd;
  if (strcmp(argv[1], "--fd") == 0) {
    char *end = NULL;
    errno = 0;
    long fd = strtol(argv[2], &end, 10);
    if (errno != 0 || end == argv[2] || *end != 0 || fd < 0 || fd > 1 << 20) fail_spec("bad --fd");
    spec_fd = (int)fd;
  } else if (strcmp(argv[1], "--path") == 0) {
    spec_fd = open(argv[2], O_RDONLY | O_CLOEXEC);
    if (spec_fd < 0) fail_errno("open spec", errno);
  } else {
    fprintf(stderr, "usage: execvisor-launcher --fd N | --path FILE\n");
    return 126;
  }

  struct buffer buf = read_all(spec_fd);
  if (close(spec_fd) < 0) fail_errno("close spec", errno);
  struct spec spec;
  parse_spec(&buf, &spec);

  open_descriptors(&spec);
  close_from(3 + (int)spec.open_count);
  if (spec.has_bridge) bridge_start(&spec.bridge);
  apply_seccomp(&spec);

  execve(spec.program, spec.argv, spec.envp);
  int error = errno;
  fprintf(stderr, "execvisor-launcher: exec `%s`: %s (os error %d)\n", spec.program, os_error_text(error), error);
  return error == ENOENT ? 127 : 126;
}
