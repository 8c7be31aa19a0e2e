#pragma once
#include <napi.h>

#include <memory>

namespace blockcopy::binding {

class AsyncCopy;

// new Job(src, dst, opts, onEvent): starts an asynchronous copy on its own
// thread. onEvent('progress', progress) arrives at the report interval, then
// onEvent('end', outcome) exactly once. While the copy runs it keeps the
// process alive; afterwards it holds nothing.
class NativeJob : public Napi::ObjectWrap<NativeJob> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit NativeJob(const Napi::CallbackInfo& info);

 private:
  Napi::Value Progress(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value SetBandwidth(const Napi::CallbackInfo& info);

  std::shared_ptr<AsyncCopy> copy_;
};

}  // namespace blockcopy::binding
