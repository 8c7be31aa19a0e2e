#include "native_copy.h"

#include "../engine/copy.h"
#include "convert.h"
#include "job_run.h"

namespace blockcopy::binding {

// One copy's state, shared by the JS object, its work on the engine thread
// and what that work delivers.
struct CopyRun : JobRun {
  CopyRequest request;

  explicit CopyRun(CopyRequest req) : JobRun(req.bandwidth), request(std::move(req)) {}
};

Napi::Function NativeCopy::Define(Napi::Env env) {
  return DefineClass(env, "NativeCopy",
                     {InstanceMethod<&NativeCopy::Progress>("progress"),
                      InstanceMethod<&NativeCopy::Cancel>("cancel"),
                      InstanceMethod<&NativeCopy::SetBandwidth>("setBandwidth")});
}

NativeCopy::NativeCopy(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeCopy>(info) {
  Napi::Env env = info.Env();
  run_ = std::make_shared<CopyRun>(request_from_js(info[0], info[1], info[2].As<Napi::Object>()));
  auto run = run_;
  worker_ = start_job(env, "blockcopy.copy", info[3].As<Napi::Function>(), run, [run]() -> Worker::Deliver {
    CopyOutcome outcome = run_copy(run->request, run->control, run.get());
    return [outcome](Napi::Env env, Napi::Function on_event) {
      on_event.Call({Napi::String::New(env, "end"), outcome_to_js(env, outcome)});
    };
  });
}

Napi::Value NativeCopy::Progress(const Napi::CallbackInfo& info) {
  return progress_to_js(info.Env(), run_->control.meter.snapshot());
}

Napi::Value NativeCopy::Cancel(const Napi::CallbackInfo& info) {
  run_->control.cancel.request();
  return info.Env().Undefined();
}

Napi::Value NativeCopy::SetBandwidth(const Napi::CallbackInfo& info) {
  run_->control.throttle.set_rate(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()));
  return info.Env().Undefined();
}

}  // namespace blockcopy::binding
