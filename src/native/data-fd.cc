// sealedData: bytes a child reads from an inherited descriptor (a launch spec, a seccomp program)
// without anything reaching the disk: a memfd, written, sealed against any change, rewound.
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "native.h"

#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U
#endif
#ifndef MFD_ALLOW_SEALING
#define MFD_ALLOW_SEALING 0x0002U
#endif

namespace execvisor {

// sealedData(bytes: Uint8Array) -> fd (close-on-exec, read-only content, offset 0)
Napi::Value SealedData(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  bool is_typed = false;
  if (info.Length() != 1 || napi_is_typedarray(env, info[0], &is_typed) != napi_ok || !is_typed) {
    ThrowUsage(env, "sealedData(bytes): expected a Uint8Array");
    return Napi::Value();
  }
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, info[0], &type, &length, &data, nullptr, nullptr) != napi_ok ||
      type != napi_uint8_array) {
    ThrowUsage(env, "sealedData(bytes): expected a Uint8Array");
    return Napi::Value();
  }
  Fd fd(memfd_create("execvisor-data", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (fd.get() < 0) {
    ThrowSystemError(env, "memfd_create", errno);
    return Napi::Value();
  }
  const char* bytes = static_cast<const char*>(data);
  size_t done = 0;
  while (done < length) {
    ssize_t written = write(fd.get(), bytes + done, length - done);
    if (written < 0) {
      if (errno == EINTR) continue;
      ThrowSystemError(env, "write memfd", errno);
      return Napi::Value();
    }
    done += static_cast<size_t>(written);
  }
  if (fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
    ThrowSystemError(env, "fcntl(F_ADD_SEALS)", errno);
    return Napi::Value();
  }
  if (lseek(fd.get(), 0, SEEK_SET) != 0) {
    ThrowSystemError(env, "lseek", errno);
    return Napi::Value();
  }
  napi_value result;
  if (napi_create_int32(env, fd.get(), &result) != napi_ok) {
    ThrowSystemError(env, "sealedData", ENOMEM);  // `fd` closes with its owner
    return Napi::Value();
  }
  fd.release();
  return Napi::Value(env, result);
}

}  // namespace execvisor
