// Built on every platform but Linux: the addon loads and says it cannot spawn, so the runtime
// falls back to the node backends (child_process, node-pty).
#include <napi.h>

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("supported", Napi::Boolean::New(env, false));
  exports.Set("unsupportedReason", Napi::String::New(env, "the native spawner is built for Linux only"));
  return exports;
}

}  // namespace

NODE_API_MODULE(execvisor_spawn, Init)
