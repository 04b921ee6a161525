#include "loop-state.h"

#include <unistd.h>

#include <vector>

namespace execvisor {

namespace {

void MaybeReleaseTeardown(LoopState* state) {
  if (state->tearing_down && state->handles.empty() && state->hook != nullptr) {
    napi_async_cleanup_hook_handle hook = state->hook;
    state->hook = nullptr;
    napi_remove_async_cleanup_hook(hook);
  }
}

void OnTeardown(napi_async_cleanup_hook_handle handle, void* arg) {
  LoopState* state = static_cast<LoopState*>(arg);
  state->tearing_down = true;
  state->hook = handle;
  std::vector<LoopHandle*> live(state->handles.begin(), state->handles.end());
  for (LoopHandle* each : live) {
    if (!each->closing()) each->Teardown();
  }
  MaybeReleaseTeardown(state);
}

void DeleteState(napi_env /*env*/, void* data, void* /*hint*/) { delete static_cast<LoopState*>(data); }

}  // namespace

LoopHandle::~LoopHandle() = default;

bool LoopHandle::Bind(napi_value callback, const char* resource_name) {
  napi_value name;
  return napi_create_reference(state_->env, callback, 1, &callback_) == napi_ok &&
         napi_create_string_utf8(state_->env, resource_name, NAPI_AUTO_LENGTH, &name) == napi_ok &&
         napi_async_init(state_->env, nullptr, name, &context_) == napi_ok;
}

void LoopHandle::Call(size_t argc, napi_value* argv) {
  napi_env env = state_->env;
  napi_value fn, recv, result;
  if (napi_get_reference_value(env, callback_, &fn) != napi_ok || fn == nullptr ||
      napi_get_global(env, &recv) != napi_ok) {
    return;
  }
  if (napi_make_callback(env, context_, recv, fn, argc, argv, &result) == napi_ok) return;
  bool pending = false;
  napi_value exception;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
      napi_get_and_clear_last_exception(env, &exception) == napi_ok && !state_->tearing_down) {
    // A bug in the callback: report it like any uncaught exception of this thread.
    napi_fatal_exception(env, exception);
  }
}

void LoopHandle::Close() {
  if (closing_) return;
  closing_ = true;
  uv_poll_stop(&poll_);
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_), OnClosed);
}

void LoopHandle::OnClosed(uv_handle_t* handle) {
  LoopHandle* self = static_cast<LoopHandle*>(handle->data);
  LoopState* state = self->state_;
  if (self->owned_fd_ >= 0) close(self->owned_fd_);
  if (self->callback_ != nullptr) napi_delete_reference(state->env, self->callback_);
  if (self->context_ != nullptr) napi_async_destroy(state->env, self->context_);
  state->handles.erase(self);
  delete self;
  MaybeReleaseTeardown(state);
}

LoopState* GetLoopState(napi_env env) {
  void* data = nullptr;
  if (napi_get_instance_data(env, &data) != napi_ok) return nullptr;
  return static_cast<LoopState*>(data);
}

void InitLoopState(napi_env env) {
  LoopState* state = new LoopState();
  state->env = env;
  if (napi_get_uv_event_loop(env, &state->loop) != napi_ok ||
      napi_set_instance_data(env, state, DeleteState, nullptr) != napi_ok) {
    delete state;
    return;
  }
  // Without the hook nothing would kill and reap our children when the thread stops: refuse to
  // watch or read anything (every call then fails with ESHUTDOWN) rather than risk that.
  if (napi_add_async_cleanup_hook(env, OnTeardown, state, nullptr) != napi_ok) state->tearing_down = true;
}

}  // namespace execvisor
