// watchExit: a child's exit without SIGCHLD races. The pidfd is polled in the calling thread's own
// event loop (a worker thread's, for the process actors); once it is readable the child is reaped
// with waitid(P_PIDFD, WNOHANG), which waits for exactly this child and never for anyone else's
// (nothing here calls waitpid(-1)). JS is called back with an async context (napi_make_callback),
// so promise continuations run after it as they would after any libuv callback.
//
// A worker thread can stop while children it watches still run (the runtime destroyed, the thread
// terminated). Its libuv handles must be closed before the addon's memory goes away, so an async
// cleanup hook holds the environment until the last uv_close callback has run; before that, every
// child still running is killed (its process group with it) and reaped, so it is neither lost nor
// left a zombie.
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <unordered_set>
#include <vector>

#include "native.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace execvisor {

namespace {

struct State;

struct ExitWatch {
  uv_poll_t poll;
  State* state = nullptr;
  int pidfd = -1;
  pid_t pid = 0;
  napi_ref callback = nullptr;
  napi_async_context context = nullptr;
  bool closing = false;
  bool owns_pidfd = true;
};

struct State {
  napi_env env = nullptr;
  std::unordered_set<ExitWatch*> watches;
  napi_async_cleanup_hook_handle hook = nullptr;
  bool tearing_down = false;
};

State* GetState(napi_env env) {
  void* data = nullptr;
  if (napi_get_instance_data(env, &data) != napi_ok) return nullptr;
  return static_cast<State*>(data);
}

void MaybeReleaseTeardown(State* state) {
  if (state->tearing_down && state->watches.empty() && state->hook != nullptr) {
    napi_async_cleanup_hook_handle hook = state->hook;
    state->hook = nullptr;
    napi_remove_async_cleanup_hook(hook);
  }
}

void OnClosed(uv_handle_t* handle) {
  ExitWatch* watch = static_cast<ExitWatch*>(handle->data);
  State* state = watch->state;
  if (watch->owns_pidfd) close(watch->pidfd);
  if (watch->callback != nullptr) napi_delete_reference(state->env, watch->callback);
  if (watch->context != nullptr) napi_async_destroy(state->env, watch->context);
  state->watches.erase(watch);
  delete watch;
  MaybeReleaseTeardown(state);
}

void Close(ExitWatch* watch) {
  if (watch->closing) return;
  watch->closing = true;
  uv_poll_stop(&watch->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&watch->poll), OnClosed);
}

void CallBack(ExitWatch* watch, int code, int signal) {
  napi_env env = watch->state->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, args[2], result;
  if (napi_get_reference_value(env, watch->callback, &fn) == napi_ok && fn != nullptr &&
      napi_get_global(env, &recv) == napi_ok && napi_create_int32(env, code, &args[0]) == napi_ok &&
      napi_create_int32(env, signal, &args[1]) == napi_ok) {
    if (napi_make_callback(env, watch->context, recv, fn, 2, args, &result) != napi_ok) {
      bool pending = false;
      if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
        napi_value exception;
        if (napi_get_and_clear_last_exception(env, &exception) == napi_ok && !watch->state->tearing_down) {
          // A bug in the callback: report it like any uncaught exception of this thread.
          napi_fatal_exception(env, exception);
        }
      }
    }
  }
  napi_close_handle_scope(env, scope);
}

void OnReadable(uv_poll_t* poll, int /*status*/, int /*events*/) {
  ExitWatch* watch = static_cast<ExitWatch*>(poll->data);
  if (watch->closing) return;
  siginfo_t info;
  memset(&info, 0, sizeof info);
  int rc = waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(watch->pidfd), &info, WEXITED | WNOHANG);
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
  Close(watch);
  CallBack(watch, code, signal);
}

void Reap(int pidfd) {
  siginfo_t info;
  while (waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info, WEXITED) != 0 &&
         errno == EINTR) {
  }
}

void OnTeardown(napi_async_cleanup_hook_handle handle, void* arg) {
  State* state = static_cast<State*>(arg);
  state->tearing_down = true;
  state->hook = handle;
  std::vector<ExitWatch*> live(state->watches.begin(), state->watches.end());
  for (ExitWatch* watch : live) {
    if (watch->closing) continue;
    // This thread is going away with the child still running: kill its group and reap it.
    syscall(SYS_pidfd_send_signal, watch->pidfd, SIGKILL, nullptr, 0);
    kill(-watch->pid, SIGKILL);
    Reap(watch->pidfd);
    Close(watch);
  }
  MaybeReleaseTeardown(state);
}

void DeleteState(napi_env /*env*/, void* data, void* /*hint*/) { delete static_cast<State*>(data); }

}  // namespace

void InitExitWatches(napi_env env) {
  State* state = new State();
  state->env = env;
  if (napi_set_instance_data(env, state, DeleteState, nullptr) != napi_ok) {
    delete state;
    return;
  }
  napi_add_async_cleanup_hook(env, OnTeardown, state, nullptr);
}

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
  State* state = GetState(env);
  uv_loop_t* loop = nullptr;
  if (state == nullptr || state->tearing_down || napi_get_uv_event_loop(env, &loop) != napi_ok) {
    ThrowSystemError(env, "watchExit: this thread is stopping", ESHUTDOWN);
    return Napi::Value();
  }
  ExitWatch* watch = new ExitWatch();
  watch->state = state;
  watch->pidfd = pidfd;
  watch->pid = pid;
  watch->poll.data = watch;
  int rc = uv_poll_init(loop, &watch->poll, pidfd);
  if (rc != 0) {
    delete watch;
    ThrowSystemError(env, "uv_poll_init", -rc);
    return Napi::Value();
  }
  napi_value resource_name;
  if (napi_create_reference(env, info[2], 1, &watch->callback) != napi_ok ||
      napi_create_string_utf8(env, "execvisor:exit", NAPI_AUTO_LENGTH, &resource_name) != napi_ok ||
      napi_async_init(env, nullptr, resource_name, &watch->context) != napi_ok ||
      (rc = uv_poll_start(&watch->poll, UV_READABLE, OnReadable)) != 0) {
    // The handle is initialised: it can only go through uv_close. Keep the pidfd the caller's.
    watch->owns_pidfd = false;
    state->watches.insert(watch);
    Close(watch);
    ThrowSystemError(env, "watchExit", rc != 0 ? -rc : ENOMEM);
    return Napi::Value();
  }
  state->watches.insert(watch);
  return info.Env().Undefined();
}

}  // namespace execvisor
