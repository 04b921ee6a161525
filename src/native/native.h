// execvisor_spawn: the native spawner. One function per kernel sequence: spawn (clone + exec),
// open a terminal, watch an exit, hand bytes to a child on a sealed descriptor. Each one checks every
// return value and reports errno as a system error naming the step that failed; the JS wrapper
// (src/spawn/native-backend.ts) owns every descriptor it gets back.
#ifndef EXECVISOR_NATIVE_H_
#define EXECVISOR_NATIVE_H_

#include <napi.h>

namespace execvisor {

// A pending JS error shaped like Node's system errors: message "<step>: <strerror>", and the
// properties `errno` (positive), `code` ("ENOENT"), `syscall` (the step) and `osMessage`.
void ThrowSystemError(napi_env env, const char* step, int error);
// A pending JS TypeError for a call that does not match the wrapper's contract.
void ThrowUsage(napi_env env, const char* message);

// Closes a descriptor it owns unless released. Keeps every error path free of leaks.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();
  int get() const { return fd_; }
  void reset(int fd);
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

Napi::Object Init(Napi::Env env, Napi::Object exports);
Napi::Value Spawn(const Napi::CallbackInfo& info);
Napi::Value OpenTerminal(const Napi::CallbackInfo& info);
Napi::Value ResizeTerminal(const Napi::CallbackInfo& info);
Napi::Value WatchExit(const Napi::CallbackInfo& info);
Napi::Value SealedData(const Napi::CallbackInfo& info);
Napi::Value CloseDescriptor(const Napi::CallbackInfo& info);
Napi::Value ReadPipe(const Napi::CallbackInfo& info);
Napi::Value PauseReader(const Napi::CallbackInfo& info);
Napi::Value ResumeReader(const Napi::CallbackInfo& info);
Napi::Value CloseReader(const Napi::CallbackInfo& info);

// Whether the running kernel offers what the spawner needs; `reason` says what is missing.
bool KernelSupported(std::string* reason);

}  // namespace execvisor

#endif  // EXECVISOR_NATIVE_H_
