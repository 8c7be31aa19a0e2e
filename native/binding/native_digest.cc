#include "native_digest.h"

#include "../engine/image_digest.h"
#include "convert.h"

namespace blockcopy::binding {

namespace {

Napi::Object digest_outcome_to_js(Napi::Env env, const DigestOutcome& outcome) {
  Napi::Object o = progress_to_js(env, outcome.progress);
  o.Set("ending", outcome.ending == Ending::Completed ? "completed" : outcome.ending == Ending::Cancelled ? "cancelled" : "failed");
  if (!outcome.status.ok()) o.Set("error", status_to_js(env, outcome.status));
  o.Set("algorithm", kDigestAlgorithm);
  o.Set("digest", to_hex(outcome.digest).data());
  o.Set("size", static_cast<double>(outcome.length));
  return o;
}

}  // namespace

Napi::Function NativeDigest::Define(Napi::Env env) {
  return DefineClass(env, "NativeDigest",
                     {InstanceMethod<&NativeDigest::Progress>("progress"), InstanceMethod<&NativeDigest::Cancel>("cancel")});
}

NativeDigest::NativeDigest(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeDigest>(info) {
  DigestRequest req = digest_request_from_js(info[0], info[1].As<Napi::Object>());
  run_ = std::make_shared<JobRun>();
  auto run = run_;
  worker_ = start_job(info.Env(), "blockcopy.checksum", info[2].As<Napi::Function>(), run, [run, req]() -> Worker::Deliver {
    DigestOutcome outcome = run_digest(req, run->control, run.get());
    return [outcome](Napi::Env env, Napi::Function on_event) {
      on_event.Call({Napi::String::New(env, "end"), digest_outcome_to_js(env, outcome)});
    };
  });
}

Napi::Value NativeDigest::Progress(const Napi::CallbackInfo& info) {
  return progress_to_js(info.Env(), run_->control.meter.snapshot());
}

Napi::Value NativeDigest::Cancel(const Napi::CallbackInfo& info) {
  run_->control.cancel.request();
  return info.Env().Undefined();
}

}  // namespace blockcopy::binding
