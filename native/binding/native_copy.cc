#include "native_copy.h"

#include <atomic>

#include "../engine/copy.h"
#include "convert.h"

namespace blockcopy::binding {

// One copy's state, shared by the JS object, its work on the engine thread
// and what that work delivers. Freed on the main thread: the Worker's stop
// function holds it until the Worker goes, in its finalizer.
struct CopyRun : ProgressSink {
  CopyRequest request;
  CopyControl control;
  Worker* worker = nullptr;  // outlives the work that reports through it
  std::atomic<bool> report_queued{false};

  explicit CopyRun(CopyRequest req) : request(std::move(req)), control(request.bandwidth) {}

  // Copy thread: at most one progress event waits in the queue at a time, and
  // it reads the live counters when it runs, so a busy event loop sees the
  // latest figures rather than a backlog of old ones.
  bool report(const ProgressSnapshot&) override {
    if (report_queued.exchange(true)) return true;
    const bool queued = worker->notify([this](Napi::Env env, Napi::Function on_event) {
      report_queued = false;
      on_event.Call({Napi::String::New(env, "progress"), progress_to_js(env, control.meter.snapshot())});
    });
    if (!queued) report_queued = false;
    return true;
  }
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
  // At teardown the copy is cancelled, then joined: no write after the env is gone.
  worker_ = Worker::Create(env, "blockcopy.copy", info[3].As<Napi::Function>(), [run] { run->control.cancel.request(); });
  run->worker = worker_.get();
  // The copy is the worker's one and last piece of work: the thread ends after it.
  worker_->close(env, {}, [run]() -> Worker::Deliver {
    CopyOutcome outcome = run_copy(run->request, run->control, run.get());
    return [run, outcome](Napi::Env env, Napi::Function on_event) {
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
