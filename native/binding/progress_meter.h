#pragma once
#include <napi.h>

#include "../engine/progress.h"

namespace blockcopy::binding {

// new NativeMeter(): the engine's progress meter (rate, settled ETA) for a
// job whose bytes move through JS, a stream transfer, so that transfers and
// copies report progress by one rule. Main thread only.
class NativeMeter : public Napi::ObjectWrap<NativeMeter> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit NativeMeter(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeMeter>(info) {}

 private:
  Napi::Value SetTotals(const Napi::CallbackInfo& info);  // (bytesTotal, length)
  Napi::Value Add(const Napi::CallbackInfo& info);        // (done, written, skipped, position)
  Napi::Value Finish(const Napi::CallbackInfo& info);
  Napi::Value Snapshot(const Napi::CallbackInfo& info);

  ProgressMeter meter_;
};

}  // namespace blockcopy::binding
