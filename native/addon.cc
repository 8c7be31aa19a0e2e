// Module registration: the functions and class the JS layer (lib/native.ts) calls.
#include <napi.h>

#include "binding/copy_sync.h"
#include "binding/extent_stream.h"
#include "binding/extents.h"
#include "binding/native_copy.h"
#include "binding/native_digest.h"
#include "binding/native_transfer.h"
#include "binding/progress_meter.h"
#include "engine/frame_format.h"

namespace {

// The stream format's numbers, stated in the engine (frame_format.h), for lib/stream/format.ts.
Napi::Object stream_format(Napi::Env env) {
  using namespace blockcopy::frames;
  Napi::Object o = Napi::Object::New(env);
  o.Set("magic", Napi::Buffer<unsigned char>::Copy(env, kMagic, sizeof kMagic));
  o.Set("version", kVersion);
  o.Set("prefaceBytes", static_cast<double>(kPrefaceBytes));
  o.Set("headerBytes", static_cast<double>(kHeaderBytes));
  o.Set("maxData", kMaxData);
  o.Set("maxName", kMaxName);
  o.Set("maxCode", kMaxCode);
  o.Set("maxMessage", kMaxMessage);
  return o;
}

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
  exports.Set("NativeTransfer", NativeTransfer::Define(env));
  exports.Set("NativeDigest", NativeDigest::Define(env));
  exports.Set("writeNow", Napi::Function::New<WriteNow>(env, "writeNow"));
  exports.Set("streamFormat", stream_format(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(blockcopy, Init)
