// watchExit: a child's exit without SIGCHLD races. The pidfd is polled in the calling thread's own
// event loop (a worker thread's, for the process actors); once it is readable the child is reaped
// with waitid(P_PIDFD, WNOHANG), which waits for exactly this child and never for anyone else's
// (nothing here calls waitpid(-1)). JS is called back with an async context (napi_make_callback),
// so promise continuations run after it as they would after any libuv callback.
//
// A worker thread can stop while children it watches still run (the runtime destroyed, the thread
// terminated): then each is killed (its process group with it) and reaped, so it is neither lost
// nor left a zombie, before the watch is closed (see loop-state.h).
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loop-state.h"
#include "native.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace execvisor {

namespace {

void Reap(int pidfd) {
  siginfo_t info;
  while (waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info, WEXITED) != 0 &&
         errno == EINTR) {
  }
}

class ExitWatch : public LoopHandle {
 public:
  ExitWatch(LoopState* state, int pidfd, pid_t pid) : LoopHandle(state), pidfd_(pidfd), pid_(pid) {}

  // Takes the pidfd (closed with the handle) once the poll runs.
  void Own() { owned_fd_ = pidfd_; }

  void Teardown() override {
    // This thread is going away with the child still running: kill its group and reap it.
    syscall(SYS_pidfd_send_signal, pidfd_, SIGKILL, nullptr, 0);
    kill(-pid_, SIGKILL);
    Reap(pidfd_);
    Close();
  }

  static void OnReadable(uv_poll_t* poll, int /*status*/, int /*events*/) {
    ExitWatch* self = static_cast<ExitWatch*>(poll->data);
    if (self->closing()) return;
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int rc = waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(self->pidfd_), &info, WEXITED | WNOHANG);
    if (rc != 0 && errno == EINTR) return;  // the poll is level-triggered: it fires again
    if (rc == 0 && info.si_pid == 0) return;  // woken, but not exited yet
    int code = -1;
    int signal = 0;
    if (rc == 0) {
      if (info.si_code == CLD_EXITED) {
        code = info.si_status;
      } else {
        signal = info.si_status;
      }
    }
    // rc != 0 (ECHILD) would mean someone else reaped our child; it is reported as code -1.
    self->Close();
    napi_env env = self->state()->env;
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) return;
    napi_value args[2];
    if (napi_create_int32(env, code, &args[0]) == napi_ok && napi_create_int32(env, signal, &args[1]) == napi_ok) {
      self->Call(2, args);
    }
    napi_close_handle_scope(env, scope);
  }

 private:
  int pidfd_;
  pid_t pid_;
};

}  // namespace

// watchExit(pidfd, pid, callback(code, signal)). On success the watch owns the pidfd (it closes it
// once the child is reaped); on failure it stays the caller's.
Napi::Value WatchExit(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  int32_t pidfd = -1, pid = 0;
  napi_valuetype types[3];
  if (info.Length() != 3 || napi_typeof(env, info[0], &types[0]) != napi_ok ||
      napi_typeof(env, info[1], &types[1]) != napi_ok || napi_typeof(env, info[2], &types[2]) != napi_ok ||
      types[0] != napi_number || types[1] != napi_number || types[2] != napi_function ||
      napi_get_value_int32(env, info[0], &pidfd) != napi_ok || napi_get_value_int32(env, info[1], &pid) != napi_ok ||
      pidfd < 0 || pid <= 0) {
    ThrowUsage(env, "watchExit(pidfd, pid, callback)");
    return Napi::Value();
  }
  LoopState* state = GetLoopState(env);
  if (state == nullptr || state->tearing_down) {
    ThrowSystemError(env, "watchExit: this thread is stopping", ESHUTDOWN);
    return Napi::Value();
  }
  ExitWatch* watch = new ExitWatch(state, pidfd, pid);
  int rc = uv_poll_init(state->loop, watch->poll(), pidfd);
  if (rc != 0) {
    delete watch;
    ThrowSystemError(env, "uv_poll_init", -rc);
    return Napi::Value();
  }
  state->handles.insert(watch);
  if (!watch->Bind(info[2], "execvisor:exit") ||
      (rc = uv_poll_start(watch->poll(), UV_READABLE, ExitWatch::OnReadable)) != 0) {
    // The handle is initialised: it can only go through uv_close. The pidfd stays the caller's.
    watch->Close();
    ThrowSystemError(env, "watchExit", rc != 0 ? -rc : ENOMEM);
    return Napi::Value();
  }
  watch->Own();
  return info.Env().Undefined();
}

}  // namespace execvisor
