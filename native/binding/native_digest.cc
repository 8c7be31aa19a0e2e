#include "native_digest.h"

#include <algorithm>

#include "../engine/image_digest.h"
#include "convert.h"

namespace blockcopy::binding {

namespace {

Napi::Object digest_outcome_to_js(Napi::Env env, const DigestOutcome& outcome) {
  Napi::Object o = progress_to_js(env, outcome.progress);
  o.Set("ending", ending_name(outcome.ending));
  if (!outcome.status.ok()) o.Set("error", status_to_js(env, outcome.status));
  o.Set("algorithm", kDigestAlgorithm);
  o.Set("digest", to_hex(outcome.digest).data());
  o.Set("size", static_cast<double>(outcome.length));
  if (!outcome.block_digests.empty() || !outcome.block_sums.empty()) {
    auto digests = Napi::Buffer<unsigned char>::New(env, outcome.block_digests.size() * sizeof(Digest));
    for (size_t i = 0; i < outcome.block_digests.size(); i++)
      std::copy(outcome.block_digests[i].begin(), outcome.block_digests[i].end(), digests.Data() + i * sizeof(Digest));
    auto sums = Napi::Buffer<unsigned char>::New(env, outcome.block_sums.size() * 8);
    for (size_t i = 0; i < outcome.block_sums.size(); i++)
      for (int b = 0; b < 8; b++) sums.Data()[i * 8 + b] = static_cast<unsigned char>(outcome.block_sums[i] >> (8 * b));
    o.Set("blockDigests", digests);
    o.Set("blockSums", sums);
  }
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
