#pragma once
#include <napi.h>

#include <memory>

#include "worker.h"

namespace blockcopy::binding {

struct CopyRun;

// new NativeCopy(src, dst, opts, onEvent): an asynchronous copy on an engine
// thread (worker.h). onEvent('progress', progress) comes at the report
// interval, then onEvent('end', outcome) exactly once. While the copy runs it
// keeps the process alive; afterwards it holds nothing. lib/job.ts's CopyJob
// is the user's face of it.
class NativeCopy : public Napi::ObjectWrap<NativeCopy> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit NativeCopy(const Napi::CallbackInfo& info);

 private:
  Napi::Value Progress(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value SetBandwidth(const Napi::CallbackInfo& info);

  std::shared_ptr<CopyRun> run_;
  std::shared_ptr<Worker> worker_;
};

}  // namespace blockcopy::binding
