// Module registration, system errors and the descriptor guard shared by the other files.
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

#include "loop-state.h"
#include "native.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

namespace execvisor {

// closeDescriptor(fd): closes a descriptor the addon handed out. (fs.closeSync works too, but in a
// worker thread Node warns about closing a descriptor it did not open through fs.)
Napi::Value CloseDescriptor(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  int32_t fd = -1;
  napi_valuetype type;
  if (info.Length() != 1 || napi_typeof(env, info[0], &type) != napi_ok || type != napi_number ||
      napi_get_value_int32(env, info[0], &fd) != napi_ok || fd < 0) {
    ThrowUsage(env, "closeDescriptor(fd)");
    return Napi::Value();
  }
  // Linux releases the descriptor even when close reports EINTR: never retry. EBADF is a bug of
  // ours and is reported.
  if (close(fd) != 0 && errno == EBADF) {
    ThrowSystemError(env, "close", errno);
    return Napi::Value();
  }
  return info.Env().Undefined();
}

namespace {

// errno names for the codes a spawn can meet; the rest are reported as "E<number>".
const char* ErrnoName(int error) {
  switch (error) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case E2BIG: return "E2BIG";
    case ENOEXEC: return "ENOEXEC";
    case EBADF: return "EBADF";
    case ECHILD: return "ECHILD";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case ENFILE: return "ENFILE";
    case EMFILE: return "EMFILE";
    case ENOTTY: return "ENOTTY";
    case ETXTBSY: return "ETXTBSY";
    case ENOSPC: return "ENOSPC";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOSYS: return "ENOSYS";
    case ELOOP: return "ELOOP";
    case ELIBBAD: return "ELIBBAD";
    default: return nullptr;
  }
}

bool SetProperty(napi_env env, napi_value object, const char* name, napi_value value) {
  return napi_set_named_property(env, object, name, value) == napi_ok;
}

}  // namespace

void ThrowSystemError(napi_env env, const char* step, int error) {
  char buffer[256];
  // GNU strerror_r returns the text (possibly a static string, not `buffer`).
  const char* text = strerror_r(error, buffer, sizeof buffer);
  std::string message = std::string(step) + ": " + text;
  const char* name = ErrnoName(error);
  std::string code = name != nullptr ? name : "E" + std::to_string(error);

  napi_value js_message, js_code, js_error, js_errno, js_step, js_text;
  if (napi_create_string_utf8(env, message.c_str(), message.size(), &js_message) != napi_ok ||
      napi_create_string_utf8(env, code.c_str(), code.size(), &js_code) != napi_ok ||
      napi_create_error(env, js_code, js_message, &js_error) != napi_ok ||
      napi_create_int32(env, error, &js_errno) != napi_ok ||
      napi_create_string_utf8(env, step, NAPI_AUTO_LENGTH, &js_step) != napi_ok ||
      napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &js_text) != napi_ok) {
    // The environment is going away (a worker being stopped): nothing can be reported.
    return;
  }
  if (!SetProperty(env, js_error, "errno", js_errno) || !SetProperty(env, js_error, "syscall", js_step) ||
      !SetProperty(env, js_error, "osMessage", js_text)) {
    return;
  }
  napi_throw(env, js_error);
}

void ThrowUsage(napi_env env, const char* message) {
  napi_throw_type_error(env, "ERR_EXECVISOR_NATIVE_USAGE", message);
}

Fd::~Fd() { reset(-1); }

void Fd::reset(int fd) {
  if (fd_ >= 0) {
    // Linux releases the descriptor even when close reports EINTR; never retry.
    close(fd_);
  }
  fd_ = fd;
}

bool KernelSupported(std::string* reason) {
  // pidfd_open (5.3) and waitid(P_PIDFD) (5.4) come with CLONE_PIDFD (5.2). Only ENOSYS says the
  // kernel lacks it; EMFILE and the like are this moment's trouble and show up at the next spawn.
  long pidfd = syscall(SYS_pidfd_open, getpid(), 0);
  if (pidfd >= 0) {
    close(static_cast<int>(pidfd));
  } else if (errno == ENOSYS) {
    *reason = "pidfd_open is missing (Linux 5.4 or later is needed)";
    return false;
  }
  // close_range with CLOSE_RANGE_CLOEXEC (5.11), over a range no descriptor can be in.
  if (syscall(SYS_close_range, ~0U - 1, ~0U, CLOSE_RANGE_CLOEXEC) != 0 && (errno == ENOSYS || errno == EINVAL)) {
    *reason = "close_range(CLOSE_RANGE_CLOEXEC) is missing (Linux 5.11 or later is needed)";
    return false;
  }
  return true;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  std::string reason;
  bool supported = KernelSupported(&reason);
  exports.Set("supported", Napi::Boolean::New(env, supported));
  exports.Set("unsupportedReason", Napi::String::New(env, reason));
  exports.Set("spawn", Napi::Function::New(env, Spawn, "spawn"));
  exports.Set("openTerminal", Napi::Function::New(env, OpenTerminal, "openTerminal"));
  exports.Set("resizeTerminal", Napi::Function::New(env, ResizeTerminal, "resizeTerminal"));
  exports.Set("watchExit", Napi::Function::New(env, WatchExit, "watchExit"));
  exports.Set("sealedData", Napi::Function::New(env, SealedData, "sealedData"));
  exports.Set("closeDescriptor", Napi::Function::New(env, CloseDescriptor, "closeDescriptor"));
  exports.Set("readPipe", Napi::Function::New(env, ReadPipe, "readPipe"));
  exports.Set("pauseReader", Napi::Function::New(env, PauseReader, "pauseReader"));
  exports.Set("resumeReader", Napi::Function::New(env, ResumeReader, "resumeReader"));
  exports.Set("closeReader", Napi::Function::New(env, CloseReader, "closeReader"));
  InitLoopState(env);
  return exports;
}

}  // namespace execvisor

static Napi::Object InitExecvisorSpawn(Napi::Env env, Napi::Object exports) {
  return execvisor::Init(env, exports);
}

NODE_API_MODULE(execvisor_spawn, InitExecvisorSpawn)
