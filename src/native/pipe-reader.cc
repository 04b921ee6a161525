// readPipe: a child's output pipe read in this thread's loop, everything the pipe holds in one read.
//
// Node's streams read a pipe 64 KiB at a time, one JS callback (and, here, one message to the main
// thread) per read; a writer faster than that keeps both threads waking for every few kilobytes.
// This reader asks the pipe how much it holds (FIONREAD) and takes all of it at once (up to the
// caller's limit, 1 MiB at most) into one uninitialised, transferable Buffer, so a busy stream costs
// two system calls (FIONREAD and the read) and one callback per wake, however much arrived. A pipe found full (its writer
// blocked on us) is enlarged once, to 1 MiB, so a fast writer blocks less often; an unprivileged
// server past its pipe-size allowance (fs.pipe-user-pages-soft) keeps the default size, which only
// costs speed.
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>

#include "loop-state.h"
#include "native.h"

namespace execvisor {

namespace {

constexpr int kEnlargedPipeBytes = 1 << 20;
constexpr int kMaxReadBytes = 1 << 20;
// Smaller reads than this (a small retention or flow-control window) gain nothing from a big pipe.
constexpr int kEnlargeFromReadBytes = 256 << 10;

class PipeReader : public LoopHandle {
 public:
  PipeReader(LoopState* state, int fd, int32_t id, int max_read)
      : LoopHandle(state), fd_(fd), id_(id), max_read_(max_read) {}
  ~PipeReader() override { state()->readers.erase(id_); }

  void Own() {
    owned_fd_ = fd_;
    int size = fcntl(fd_, F_GETPIPE_SZ);
    pipe_bytes_ = size > 0 ? size : 65536;
  }

  void Teardown() override { Close(); }

  int Pause() {
    if (closing() || paused_) return 0;
    paused_ = true;
    return uv_poll_stop(poll());
  }

  int Resume() {
    if (closing() || !paused_) return 0;
    paused_ = false;
    return uv_poll_start(poll(), UV_READABLE, OnReadable);
  }

  static void OnReadable(uv_poll_t* poll, int status, int /*events*/) {
    PipeReader* self = static_cast<PipeReader*>(poll->data);
    if (self->closing()) return;
    napi_env env = self->state()->env;
    if (status < 0) {
      self->Finish(env, -status);
      return;
    }
    int available = 0;
    if (ioctl(self->fd_, FIONREAD, &available) != 0) available = 0;
    // Readable with nothing held: end of file (or data that arrived since; a 1-byte read tells).
    size_t want = available > 0 ? static_cast<size_t>(std::min(available, self->max_read_)) : 1;
    if (available >= self->pipe_bytes_ && self->pipe_bytes_ < kEnlargedPipeBytes &&
        self->max_read_ >= kEnlargeFromReadBytes) {
      int size = fcntl(self->fd_, F_SETPIPE_SZ, kEnlargedPipeBytes);
      // Refused (the user's pipe allowance is used up): stay as it is, and do not ask again.
      self->pipe_bytes_ = size > 0 ? size : kEnlargedPipeBytes;
    }
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) return;
    void* data = nullptr;
    napi_value buffer;
    if (napi_create_buffer(env, want, &data, &buffer) != napi_ok) {
      napi_close_handle_scope(env, scope);
      self->Finish(env, ENOMEM);
      return;
    }
    ssize_t got = read(self->fd_, data, want);
    if (got < 0) {
      int error = errno;
      napi_close_handle_scope(env, scope);
      if (error == EAGAIN || error == EINTR) return;
      self->Finish(env, error);
      return;
    }
    if (got == 0) {
      napi_close_handle_scope(env, scope);
      self->Finish(env, 0);
      return;
    }
    napi_value args[2];
    if (napi_create_int32(env, static_cast<int32_t>(got), &args[1]) == napi_ok) {
      args[0] = buffer;
      self->Call(2, args);
    }
    napi_close_handle_scope(env, scope);
  }

 private:
  // End of file (error 0) or a read error: report it once and close (which closes the descriptor).
  void Finish(napi_env env, int error) {
    Close();
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) return;
    napi_value args[2];
    if (napi_get_null(env, &args[0]) == napi_ok && napi_create_int32(env, error, &args[1]) == napi_ok) {
      Call(2, args);
    }
    napi_close_handle_scope(env, scope);
  }

  int fd_;
  int32_t id_;
  int max_read_;
  int pipe_bytes_ = 65536;
  bool paused_ = false;
};

bool GetInt(napi_env env, napi_value value, int32_t* out) {
  napi_valuetype type;
  return napi_typeof(env, value, &type) == napi_ok && type == napi_number &&
         napi_get_value_int32(env, value, out) == napi_ok;
}

PipeReader* Find(napi_env env, const Napi::CallbackInfo& info, const char* usage) {
  int32_t id = 0;
  LoopState* state = GetLoopState(env);
  if (info.Length() != 1 || !GetInt(env, info[0], &id) || state == nullptr) {
    ThrowUsage(env, usage);
    return nullptr;
  }
  auto found = state->readers.find(id);
  return found == state->readers.end() ? nullptr : static_cast<PipeReader*>(found->second);
}

}  // namespace

// readPipe(fd, maxReadBytes, callback(buffer, length) | callback(null, errno)) -> id. Reads at most
// maxReadBytes at a time until end of file (callback(null, 0)) or an error (callback(null, errno)),
// then closes the descriptor, which it owns from the call on (on failure it stays the caller's).
// `buffer` may be longer than `length`.
Napi::Value ReadPipe(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  int32_t fd = -1, max_read = 0;
  napi_valuetype type;
  if (info.Length() != 3 || !GetInt(env, info[0], &fd) || fd < 0 || !GetInt(env, info[1], &max_read) ||
      max_read < 1 || max_read > kMaxReadBytes || napi_typeof(env, info[2], &type) != napi_ok ||
      type != napi_function) {
    ThrowUsage(env, "readPipe(fd, maxReadBytes, callback): maxReadBytes from 1 to 1 MiB");
    return Napi::Value();
  }
  LoopState* state = GetLoopState(env);
  if (state == nullptr || state->tearing_down) {
    ThrowSystemError(env, "readPipe: this thread is stopping", ESHUTDOWN);
    return Napi::Value();
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    ThrowSystemError(env, "fcntl(O_NONBLOCK)", errno);
    return Napi::Value();
  }
  int32_t id = state->next_reader_id++;
  if (state->next_reader_id == INT32_MAX) state->next_reader_id = 1;
  PipeReader* reader = new PipeReader(state, fd, id, max_read);
  int rc = uv_poll_init(state->loop, reader->poll(), fd);
  if (rc != 0) {
    delete reader;
    ThrowSystemError(env, "uv_poll_init", -rc);
    return Napi::Value();
  }
  state->handles.insert(reader);
  state->readers[id] = reader;
  if (!reader->Bind(info[2], "execvisor:pipe") ||
      (rc = uv_poll_start(reader->poll(), UV_READABLE, PipeReader::OnReadable)) != 0) {
    reader->Close();
    ThrowSystemError(env, "readPipe", rc != 0 ? -rc : ENOMEM);
    return Napi::Value();
  }
  reader->Own();
  napi_value result;
  if (napi_create_int32(env, id, &result) != napi_ok) {
    // JavaScript would hold no id for a running reader: stop it (it owns the descriptor).
    reader->Close();
    ThrowSystemError(env, "readPipe", ENOMEM);
    return Napi::Value();
  }
  return Napi::Value(env, result);
}

// pauseReader(id), resumeReader(id), closeReader(id): no-ops for a reader that has finished.
Napi::Value PauseReader(const Napi::CallbackInfo& info) {
  PipeReader* reader = Find(info.Env(), info, "pauseReader(id)");
  int rc = reader == nullptr ? 0 : reader->Pause();
  if (rc != 0) ThrowSystemError(info.Env(), "uv_poll_stop", -rc);
  return info.Env().Undefined();
}

Napi::Value ResumeReader(const Napi::CallbackInfo& info) {
  PipeReader* reader = Find(info.Env(), info, "resumeReader(id)");
  int rc = reader == nullptr ? 0 : reader->Resume();
  if (rc != 0) ThrowSystemError(info.Env(), "uv_poll_start", -rc);
  return info.Env().Undefined();
}

Napi::Value CloseReader(const Napi::CallbackInfo& info) {
  PipeReader* reader = Find(info.Env(), info, "closeReader(id)");
  if (reader != nullptr) reader->Close();
  return info.Env().Undefined();
}

}  // namespace execvisor
