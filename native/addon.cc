// Module registration: the functions and class the JS layer (lib/native.ts) calls.
#include <napi.h>

#include "binding/copy_sync.h"
#include "binding/extent_stream.h"
#include "binding/extents.h"
#include "binding/native_copy.h"
#include "binding/progress_meter.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  using namespace blockcopy::binding;
  exports.Set("copySync", Napi::Function::New<CopySync>(env, "copySync"));
  exports.Set("extentsSync", Napi::Function::New<ExtentsSync>(env, "extentsSync"));
  exports.Set("extents", Napi::Function::New<Extents>(env, "extents"));
  exports.Set("NativeCopy", NativeCopy::Define(env));
  exports.Set("NativeReader", NativeReader::Define(env));
  exports.Set("NativeWriter", NativeWriter::Define(env));
  exports.Set("NativeChecksum", NativeChecksum::Define(env));
  exports.Set("NativeMeter", NativeMeter::Define(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(blockcopy, Init)
