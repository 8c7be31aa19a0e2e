#pragma once
#include <napi.h>

#include <memory>

#include "job_run.h"

namespace blockcopy::binding {

// new NativeDigest(target, { offset, length?, progressInterval, progressDelay }, onEvent)
// checksum() on an engine thread (image_digest.h): onEvent('progress', p) at
// the report interval, then onEvent('end', { ending, error?, algorithm, digest, size, ...progress }).
class NativeDigest : public Napi::ObjectWrap<NativeDigest> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit NativeDigest(const Napi::CallbackInfo& info);

 private:
  Napi::Value Progress(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);

  std::shared_ptr<JobRun> run_;
  std::shared_ptr<Worker> worker_;
};

}  // namespace blockcopy::binding
