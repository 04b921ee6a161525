// The libuv handles one environment (the main thread or a worker thread) keeps on its loop: exit
// watches and pipe readers. An async cleanup hook holds the environment, when it is torn down,
// until the last of them has been closed (uv_close is asynchronous; freeing the addon's memory
// before its close callbacks ran crashed a worker that stopped with watches pending).
#ifndef EXECVISOR_LOOP_STATE_H_
#define EXECVISOR_LOOP_STATE_H_

#include <node_api.h>
#include <uv.h>

#include <cstdint>
#include <unordered_map>
#include <unordered_set>

namespace execvisor {

class LoopHandle;

struct LoopState {
  napi_env env = nullptr;
  uv_loop_t* loop = nullptr;
  std::unordered_set<LoopHandle*> handles;
  // Pipe readers by the id JS holds (src/native/pipe-reader.cc).
  std::unordered_map<int32_t, LoopHandle*> readers;
  int32_t next_reader_id = 1;
  napi_async_cleanup_hook_handle hook = nullptr;
  bool tearing_down = false;
};

// One handle on the loop with a JS callback. Subclasses own a uv_poll_t and a descriptor.
class LoopHandle {
 public:
  explicit LoopHandle(LoopState* state) : state_(state) { poll_.data = this; }
  virtual ~LoopHandle();
  LoopHandle(const LoopHandle&) = delete;
  LoopHandle& operator=(const LoopHandle&) = delete;

  // The environment is going away: stop, settle whatever must not be left behind, and Close().
  virtual void Teardown() = 0;

  // Takes the callback and an async context; false (nothing pending) if the environment refused.
  bool Bind(napi_value callback, const char* resource_name);
  // Calls the JS callback under the async context (so promise continuations run after it).
  void Call(size_t argc, napi_value* argv);
  // Stops polling and closes the handle; `this` is deleted once libuv has closed it.
  void Close();
  bool closing() const { return closing_; }
  LoopState* state() const { return state_; }
  uv_poll_t* poll() { return &poll_; }

 protected:
  // The descriptor closed once the poll handle is closed (-1: none of ours).
  int owned_fd_ = -1;

 private:
  static void OnClosed(uv_handle_t* handle);

  LoopState* state_;
  uv_poll_t poll_;
  napi_ref callback_ = nullptr;
  napi_async_context context_ = nullptr;
  bool closing_ = false;
};

LoopState* GetLoopState(napi_env env);
void InitLoopState(napi_env env);

}  // namespace execvisor

#endif  // EXECVISOR_LOOP_STATE_H_
