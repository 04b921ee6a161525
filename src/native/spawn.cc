// spawn: clone3(CLONE_VM | CLONE_VFORK | CLONE_PIDFD | CLONE_INTO_CGROUP) + execve.
//
// Why not posix_spawn: two steps it cannot express must happen before exec: the child must be in
// the process's cgroup (so nothing the program forks can start outside it) and take the terminal as
// its controlling terminal. And CLONE_PIDFD gives the pidfd with the pid, with no window in which
// the pid could be reaped and reused (glibc 2.36 has no pidfd_spawn).
//
// Why clone3: CLONE_INTO_CGROUP creates the child in its cgroup. Moving it there afterwards (the
// child writing "0" to cgroup.procs) takes the kernel's cgroup migration lock for writing, which
// waits for an RCU grace period: about 13 ms per start in a busy Node process here, against none
// for CLONE_INTO_CGROUP. glibc has no clone3 wrapper, so a few lines of assembly (x86-64, arm64)
// start the child on its own stack; elsewhere, or on a kernel without clone3 (before 5.7), glibc's
// clone() is used and the child joins its cgroup by writing "0" to cgroup.procs before exec.
//
// Why CLONE_VM | CLONE_VFORK: the child shares our memory instead of copying the page tables, so a
// start costs the same whether this process holds 10 MB or 4 GB (fork's cost grows with it, and it
// stalls every other thread while it copies). The price is what the child may do until exec: it
// runs on its own small stack, in our address space, while the calling thread waits. It only makes
// system calls on data prepared here (no allocation, no locks, no stdio), like glibc's posix_spawn.
//
// Signals: every signal is blocked around the clone, so no handler of ours can run in the child.
// The child then sets every disposition to SIG_DFL with raw rt_sigaction (glibc's sigaction refuses
// its two internal real-time signals, and posix_spawn leaves those ignored in the child; here they
// end up at their default like every other signal, as in a child_process child), and unblocks all
// signals right before execve.
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "native.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

// clone3 as the kernel defines its argument (linux/sched.h, version 2: with `cgroup`).
struct Clone3Args {
  uint64_t flags;
  uint64_t pidfd;
  uint64_t child_tid;
  uint64_t parent_tid;
  uint64_t exit_signal;
  uint64_t stack;
  uint64_t stack_size;
  uint64_t tls;
  uint64_t set_tid;
  uint64_t set_tid_size;
  uint64_t cgroup;
};

// long execvisor_clone3(Clone3Args* args, size_t size, int (*fn)(void*), void* arg): the clone3
// system call; the child, which starts on args->stack with every register but the result as the
// parent had them, calls fn(arg) and exits with its result (fn never returns: it execs or _exits).
// Returns the child's pid, or -errno.
#if defined(__x86_64__)
#define EXECVISOR_HAVE_CLONE3 1
__asm__(
    ".text\n"
    ".p2align 4\n"
    ".type execvisor_clone3, @function\n"
    "execvisor_clone3:\n"
    "  mov %rdx, %r8\n"    // fn and arg survive the system call in r8 and r9
    "  mov %rcx, %r9\n"
    "  mov $435, %eax\n"   // __NR_clone3
    "  syscall\n"
    "  test %rax, %rax\n"
    "  jnz 1f\n"
    "  xor %ebp, %ebp\n"   // the child: outermost frame, on a 16-byte aligned stack
    "  mov %r9, %rdi\n"
    "  call *%r8\n"
    "  mov %eax, %edi\n"
    "  mov $231, %eax\n"   // __NR_exit_group
    "  syscall\n"
    "  hlt\n"
    "1:\n"
    "  ret\n"
    ".size execvisor_clone3, .-execvisor_clone3\n");
#elif defined(__aarch64__)
#define EXECVISOR_HAVE_CLONE3 1
__asm__(
    ".text\n"
    ".p2align 2\n"
    ".type execvisor_clone3, %function\n"
    "execvisor_clone3:\n"
    "  mov x10, x2\n"      // fn and arg survive the system call in x10 and x11
    "  mov x11, x3\n"
    "  mov x8, #435\n"     // __NR_clone3
    "  svc #0\n"
    "  cbnz x0, 1f\n"
    "  mov x29, xzr\n"     // the child: outermost frame
    "  mov x30, xzr\n"
    "  mov x0, x11\n"
    "  blr x10\n"
    "  mov x8, #94\n"      // __NR_exit_group
    "  svc #0\n"
    "1:\n"
    "  ret\n"
    ".size execvisor_clone3, .-execvisor_clone3\n");
#endif

#ifdef EXECVISOR_HAVE_CLONE3
extern "C" long execvisor_clone3(Clone3Args* args, size_t size, int (*fn)(void*), void* arg);
#endif

namespace execvisor {

namespace {

#ifdef EXECVISOR_HAVE_CLONE3
// Cleared for good once the kernel refuses clone3 or CLONE_INTO_CGROUP (ENOSYS, or E2BIG/EINVAL
// from a kernel that knows clone3 but not its cgroup field).
std::atomic<bool> clone3_works{true};
#endif

// The child only makes a handful of system calls; glibc's posix_spawn uses 32 KiB plus the argv.
constexpr size_t kChildStackBytes = 64 * 1024;
// The kernel's signal set is 64 bits (_NSIG / 8 bytes), not glibc's 1024-bit sigset_t.
constexpr size_t kKernelSigsetBytes = 8;
constexpr int kLastSignal = 64;

enum StdioMode { kPipesNoStdin = 0, kPipes = 1, kTerminal = 2 };

// Everything the child needs, prepared before the clone. The child writes `error`/`step` when a step
// fails: it shares our memory, so the parent reads them once the clone returns.
struct ChildPlan {
  const char* file;
  char* const* argv;
  char* const* envp;
  const char* cwd;
  int stdio[3];
  const int* extra;
  int extra_count;
  // The cgroup's directory; the child joins it itself unless it was created in it.
  int cgroup_fd;
  bool join_cgroup;
  bool terminal;
  volatile int error;
  const char* volatile step;
};

[[noreturn]] void ChildFail(ChildPlan* plan, const char* step, int error) {
  plan->error = error != 0 ? error : EIO;
  plan->step = step;
  _exit(127);
}

// Runs in the child, on its own stack, in our address space: async-signal-safe calls only.
int ChildMain(void* arg) {
  ChildPlan* plan = static_cast<ChildPlan*>(arg);

  // The kernel's struct sigaction with a null handler is SIG_DFL, flags 0, empty mask.
  unsigned long default_action[4] = {0, 0, 0, 0};
  for (int sig = 1; sig <= kLastSignal; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    if (syscall(SYS_rt_sigaction, sig, default_action, nullptr, kKernelSigsetBytes) != 0) {
      ChildFail(plan, "rt_sigaction", errno);
    }
  }
  if (setsid() < 0) ChildFail(plan, "setsid", errno);
  // Without CLONE_INTO_CGROUP: join the cgroup before anything of the program runs.
  if (plan->join_cgroup) {
    int procs = openat(plan->cgroup_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
    if (procs < 0) ChildFail(plan, "write cgroup.procs", errno);
    ssize_t written = write(procs, "0", 1);
    if (written != 1) ChildFail(plan, "write cgroup.procs", written < 0 ? errno : EIO);
    close(procs);
  }
  if (chdir(plan->cwd) != 0) ChildFail(plan, "chdir", errno);
  // Every source descriptor is numbered above every target (see PrepareSources), so no dup2 below
  // replaces a descriptor a later one still needs.
  for (int target = 0; target < 3; target++) {
    if (dup2(plan->stdio[target], target) < 0) ChildFail(plan, "dup2", errno);
  }
  if (plan->terminal && ioctl(0, TIOCSCTTY, 0) != 0) ChildFail(plan, "ioctl(TIOCSCTTY)", errno);
  for (int i = 0; i < plan->extra_count; i++) {
    if (dup2(plan->extra[i], 3 + i) < 0) ChildFail(plan, "dup2", errno);
  }
  // Whatever else this process has open (any thread's descriptors) stays out of the program.
  if (syscall(SYS_close_range, 3 + plan->extra_count, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    ChildFail(plan, "close_range", errno);
  }
  unsigned long empty_mask = 0;
  if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &empty_mask, nullptr, kKernelSigsetBytes) != 0) {
    ChildFail(plan, "rt_sigprocmask", errno);
  }
  execve(plan->file, plan->argv, plan->envp);
  ChildFail(plan, "execve", errno);
}

bool GetString(napi_env env, napi_value value, std::string* out) {
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, nullptr, 0, &length) != napi_ok) return false;
  out->resize(length);
  size_t copied = 0;
  if (napi_get_value_string_utf8(env, value, &(*out)[0], length + 1, &copied) != napi_ok) return false;
  out->resize(copied);
  return true;
}

bool GetInt(napi_env env, napi_value value, int* out) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_number) return false;
  return napi_get_value_int32(env, value, out) == napi_ok;
}

// Splits `joined` (entries separated by NUL) into exactly `count` C strings pointing into it. False
// when the count does not match: an entry contained a NUL byte, which execve cannot carry.
bool SplitEntries(std::string* joined, int count, std::vector<char*>* out) {
  out->clear();
  out->reserve(static_cast<size_t>(count) + 1);
  if (count > 0) {
    char* data = &(*joined)[0];
    out->push_back(data);
    for (size_t i = 0; i < joined->size(); i++) {
      if (data[i] == '\0') {
        if (static_cast<int>(out->size()) == count) return false;
        out->push_back(data + i + 1);
      }
    }
    if (static_cast<int>(out->size()) != count) return false;
  } else if (!joined->empty()) {
    return false;
  }
  out->push_back(nullptr);
  return true;
}

// Moves `fd` above `floor` if it is below it (the dup is ours to close); sets *error on failure.
int Raise(int fd, int floor, std::vector<std::unique_ptr<Fd>>* owned, int* error) {
  if (fd >= floor) return fd;
  int raised = fcntl(fd, F_DUPFD_CLOEXEC, floor);
  if (raised < 0) {
    *error = errno;
    return -1;
  }
  owned->push_back(std::make_unique<Fd>(raised));
  return raised;
}

// Blocks every signal, the two glibc keeps for itself included (pthread_sigmask cannot).
class AllSignalsBlocked {
 public:
  AllSignalsBlocked() {
    unsigned long all = ~0UL;
    ok_ = syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &saved_, kKernelSigsetBytes) == 0;
    if (!ok_) error_ = errno;
  }
  ~AllSignalsBlocked() {
    if (ok_) syscall(SYS_rt_sigprocmask, SIG_SETMASK, &saved_, nullptr, kKernelSigsetBytes);
  }
  bool ok() const { return ok_; }
  int error() const { return error_; }

 private:
  unsigned long saved_ = 0;
  bool ok_ = false;
  int error_ = 0;
};

void Reap(int pidfd) {
  siginfo_t info;
  while (waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info, WEXITED) != 0 &&
         errno == EINTR) {
  }
}

}  // namespace

// spawn(file, argvJoined, argc, envJoined, envc, cwd, stdioMode, terminalFd, extraFds[], cgroupFd)
//   -> [pid, pidfd, stdinFd, stdoutFd, stderrFd] (-1 where there is none)
// argv and env are NUL-separated strings (one conversion each instead of one per entry).
Napi::Value Spawn(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  if (info.Length() != 10) {
    ThrowUsage(env, "spawn: expected 10 arguments");
    return Napi::Value();
  }
  std::string file, argv_joined, env_joined, cwd;
  int argc = 0, envc = 0, mode = 0, terminal_fd = -1, cgroup_fd = -1;
  if (!GetString(env, info[0], &file) || !GetString(env, info[1], &argv_joined) ||
      !GetInt(env, info[2], &argc) || !GetString(env, info[3], &env_joined) ||
      !GetInt(env, info[4], &envc) || !GetString(env, info[5], &cwd) || !GetInt(env, info[6], &mode) ||
      !GetInt(env, info[7], &terminal_fd) || !GetInt(env, info[9], &cgroup_fd) || argc < 1 ||
      envc < 0 || mode < kPipesNoStdin || mode > kTerminal || (mode == kTerminal && terminal_fd < 0)) {
    ThrowUsage(env, "spawn: bad arguments");
    return Napi::Value();
  }
  std::vector<int> extra;
  {
    bool is_array = false;
    uint32_t count = 0;
    if (napi_is_array(env, info[8], &is_array) != napi_ok || !is_array ||
        napi_get_array_length(env, info[8], &count) != napi_ok || count > 1000) {
      ThrowUsage(env, "spawn: extraFds must be an array of descriptors");
      return Napi::Value();
    }
    extra.resize(count);
    for (uint32_t i = 0; i < count; i++) {
      napi_value item;
      if (napi_get_element(env, info[8], i, &item) != napi_ok || !GetInt(env, item, &extra[i]) ||
          extra[i] < 0) {
        ThrowUsage(env, "spawn: extraFds must be an array of descriptors");
        return Napi::Value();
      }
    }
  }
  std::vector<char*> argv, envp;
  if (file.find('\0') != std::string::npos || cwd.find('\0') != std::string::npos ||
      !SplitEntries(&argv_joined, argc, &argv) || !SplitEntries(&env_joined, envc, &envp)) {
    ThrowSystemError(env, "an argument or environment entry contains a NUL byte", EINVAL);
    return Napi::Value();
  }

  // Descriptors: ours (returned) and the child's (closed here once it has exec'd).
  Fd stdin_parent, stdin_child, stdout_parent, stdout_child, stderr_parent, stderr_child;
  int fds[2];
  if (mode == kTerminal) {
    // The terminal's slave side is the child's stdin, stdout and stderr; the caller keeps it.
  } else {
    if (mode == kPipes) {
      if (pipe2(fds, O_CLOEXEC) != 0) {
        ThrowSystemError(env, "pipe2", errno);
        return Napi::Value();
      }
      stdin_child.reset(fds[0]);
      stdin_parent.reset(fds[1]);
    } else {
      int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (null_fd < 0) {
        ThrowSystemError(env, "open /dev/null", errno);
        return Napi::Value();
      }
      stdin_child.reset(null_fd);
    }
    if (pipe2(fds, O_CLOEXEC) != 0) {
      ThrowSystemError(env, "pipe2", errno);
      return Napi::Value();
    }
    stdout_parent.reset(fds[0]);
    stdout_child.reset(fds[1]);
    if (pipe2(fds, O_CLOEXEC) != 0) {
      ThrowSystemError(env, "pipe2", errno);
      return Napi::Value();
    }
    stderr_parent.reset(fds[0]);
    stderr_child.reset(fds[1]);
  }

  // Number every source above every target (0, 1, 2 and 3 .. 3 + extra), as libuv does for stdio.
  const int floor = 3 + static_cast<int>(extra.size());
  std::vector<std::unique_ptr<Fd>> raised;
  int error = 0;
  ChildPlan plan{};
  plan.file = file.c_str();
  plan.argv = argv.data();
  plan.envp = envp.data();
  plan.cwd = cwd.c_str();
  plan.extra_count = static_cast<int>(extra.size());
  plan.cgroup_fd = cgroup_fd;
  plan.terminal = mode == kTerminal;
  if (mode == kTerminal) {
    int slave = Raise(terminal_fd, floor, &raised, &error);
    plan.stdio[0] = plan.stdio[1] = plan.stdio[2] = slave;
  } else {
    plan.stdio[0] = Raise(stdin_child.get(), floor, &raised, &error);
    plan.stdio[1] = Raise(stdout_child.get(), floor, &raised, &error);
    plan.stdio[2] = Raise(stderr_child.get(), floor, &raised, &error);
  }
  for (int& fd : extra) fd = Raise(fd, floor, &raised, &error);
  if (error != 0) {
    ThrowSystemError(env, "fcntl(F_DUPFD_CLOEXEC)", error);
    return Napi::Value();
  }
  plan.extra = extra.data();

  std::unique_ptr<char[]> stack(new (std::nothrow) char[kChildStackBytes]);
  if (!stack) {
    ThrowSystemError(env, "allocate the child's stack", ENOMEM);
    return Napi::Value();
  }
  // The stack grows down from its 16-byte aligned top.
  void* stack_top = reinterpret_cast<void*>(
      (reinterpret_cast<uintptr_t>(stack.get()) + kChildStackBytes) & ~static_cast<uintptr_t>(15));

  int pidfd = -1;
  pid_t pid = -1;
  int clone_error = 0;
  {
    AllSignalsBlocked blocked;
    if (!blocked.ok()) {
      ThrowSystemError(env, "rt_sigprocmask", blocked.error());
      return Napi::Value();
    }
#ifdef EXECVISOR_HAVE_CLONE3
    if (clone3_works.load(std::memory_order_relaxed)) {
      Clone3Args args{};
      args.flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD | (cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0);
      args.pidfd = reinterpret_cast<uintptr_t>(&pidfd);
      args.exit_signal = SIGCHLD;
      args.stack = reinterpret_cast<uintptr_t>(stack.get());
      args.stack_size = reinterpret_cast<uintptr_t>(stack_top) - reinterpret_cast<uintptr_t>(stack.get());
      args.cgroup = cgroup_fd >= 0 ? static_cast<uint64_t>(cgroup_fd) : 0;
      long result = execvisor_clone3(&args, sizeof args, ChildMain, &plan);
      if (result >= 0) {
        pid = static_cast<pid_t>(result);
      } else if (result == -ENOSYS || result == -E2BIG || (result == -EINVAL && cgroup_fd >= 0)) {
        clone3_works.store(false, std::memory_order_relaxed);
      } else {
        clone_error = static_cast<int>(-result);
      }
    }
#endif
    if (pid < 0 && clone_error == 0) {
      plan.join_cgroup = cgroup_fd >= 0;
      pid = clone(ChildMain, stack_top, CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &plan, &pidfd);
      if (pid < 0) clone_error = errno;
    }
  }
  if (pid < 0) {
    ThrowSystemError(env, plan.join_cgroup || cgroup_fd < 0 ? "clone" : "clone3", clone_error);
    return Napi::Value();
  }
  Fd pidfd_owned(pidfd);
  if (plan.error != 0) {
    // The child failed before or at exec and has exited: reap it (it is ours, by its pidfd).
    Reap(pidfd);
    ThrowSystemError(env, plan.step, plan.error);
    return Napi::Value();
  }

  napi_value result;
  const int values[5] = {pid, pidfd, stdin_parent.get(), stdout_parent.get(), stderr_parent.get()};
  if (napi_create_array_with_length(env, 5, &result) != napi_ok) {
    // The child runs, but nobody can watch it: kill and reap it rather than leak it.
    kill(-pid, SIGKILL);
    Reap(pidfd);
    ThrowSystemError(env, "spawn: result", ENOMEM);
    return Napi::Value();
  }
  for (uint32_t i = 0; i < 5; i++) {
    napi_value number;
    if (napi_create_int32(env, values[i], &number) != napi_ok ||
        napi_set_element(env, result, i, number) != napi_ok) {
      kill(-pid, SIGKILL);
      Reap(pidfd);
      ThrowSystemError(env, "spawn: result", ENOMEM);
      return Napi::Value();
    }
  }
  // From here the caller owns the pidfd and our ends of the pipes; the child's ends close with
  // their guards.
  pidfd_owned.release();
  stdin_parent.release();
  stdout_parent.release();
  stderr_parent.release();
  return Napi::Value(env, result);
}

}  // namespace execvisor
