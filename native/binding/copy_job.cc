#include "copy_job.h"

#include <atomic>

#include "../engine/job.h"
#include "convert.h"
#include "js_callback.h"

namespace blockcopy::binding {

namespace {

// What the copy thread hands to JS. A progress event carries nothing: the JS
// side reads the live counters when it runs, so a busy event loop sees the
// latest figures rather than a backlog of old ones.
struct JobEvent {
  bool end = false;
  CopyOutcome outcome;
};

void deliver(Napi::Env env, Napi::Function callback, AsyncCopy* copy, JobEvent* event);

using EventChannel = Napi::TypedThreadSafeFunction<AsyncCopy, JobEvent, deliver>;

}  // namespace

// Shared by the JS object, the channel's finalizer and the env cleanup hook;
// the copy thread only borrows it, so it is never destroyed there.
class AsyncCopy : public ProgressSink {
 public:
  explicit AsyncCopy(CopyRequest request) : thread(std::move(request)) {}

  CopyThread thread;
  EventChannel channel;
  std::atomic<bool> report_queued{false};
  bool cleanup_hook_active = false;

  // Copy thread: at most one progress event waits in the queue at a time.
  bool report(const ProgressSnapshot&) override {
    if (report_queued.exchange(true)) return true;
    auto* event = new JobEvent();
    if (channel.NonBlockingCall(event) != napi_ok) {
      delete event;
      report_queued = false;
    }
    return true;
  }

  // Copy thread, last act: the end event, then let go of the channel.
  void end(const CopyOutcome& outcome) {
    auto* event = new JobEvent{true, outcome};
    if (channel.BlockingCall(event) != napi_ok) delete event;  // env is gone
    channel.Release();
  }

  // Env teardown (worker exit, process exit): stop the copy and wait for it,
  // so no write happens after the environment is gone.
  static void on_env_cleanup(void* arg) {
    auto* self = static_cast<AsyncCopy*>(arg);
    self->cleanup_hook_active = false;
    self->thread.control().cancel();
    self->thread.join();
  }
};

namespace {

void deliver(Napi::Env env, Napi::Function callback, AsyncCopy* copy, JobEvent* event) {
  std::unique_ptr<JobEvent> owned(event);
  if (env == nullptr || callback.IsEmpty()) return;  // teardown: only free the event
  if (!event->end) {
    copy->report_queued = false;
    call_into_js(env, [&] {
      callback.Call({Napi::String::New(env, "progress"), progress_to_js(env, copy->thread.control().meter.snapshot())});
    });
    return;
  }
  call_into_js(env, [&] { callback.Call({Napi::String::New(env, "end"), outcome_to_js(env, event->outcome)}); });
}

// Main thread, after the copy thread released the channel (or at teardown).
void finalize_channel(Napi::Env env, std::shared_ptr<AsyncCopy>* holder, AsyncCopy* copy) {
  copy->thread.join();
  if (copy->cleanup_hook_active) {
    napi_remove_env_cleanup_hook(env, AsyncCopy::on_env_cleanup, copy);
    copy->cleanup_hook_active = false;
  }
  delete holder;
}

}  // namespace

Napi::Function NativeJob::Define(Napi::Env env) {
  return DefineClass(env, "NativeJob",
                     {InstanceMethod<&NativeJob::Progress>("progress"),
                      InstanceMethod<&NativeJob::Cancel>("cancel"),
                      InstanceMethod<&NativeJob::SetBandwidth>("setBandwidth")});
}

NativeJob::NativeJob(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeJob>(info) {
  Napi::Env env = info.Env();
  copy_ = std::make_shared<AsyncCopy>(request_from_js(info[0], info[1], info[2].As<Napi::Object>()));
  AsyncCopy* copy = copy_.get();
  copy->channel = EventChannel::New(env, info[3].As<Napi::Function>(), "blockcopy.copy", 0, 1, copy,
                                    finalize_channel, new std::shared_ptr<AsyncCopy>(copy_));
  // Registered after the channel, so at teardown it runs first (hooks run in
  // reverse): the thread is stopped while the channel can still take its end event.
  NAPI_THROW_IF_FAILED_VOID(env, napi_add_env_cleanup_hook(env, AsyncCopy::on_env_cleanup, copy));
  copy->cleanup_hook_active = true;
  copy->thread.start(copy, [copy](const CopyOutcome& outcome) { copy->end(outcome); });
}

Napi::Value NativeJob::Progress(const Napi::CallbackInfo& info) {
  return progress_to_js(info.Env(), copy_->thread.control().meter.snapshot());
}

Napi::Value NativeJob::Cancel(const Napi::CallbackInfo& info) {
  copy_->thread.control().cancel();
  return info.Env().Undefined();
}

Napi::Value NativeJob::SetBandwidth(const Napi::CallbackInfo& info) {
  copy_->thread.control().throttle.set_rate(
      static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()));
  return info.Env().Undefined();
}

}  // namespace blockcopy::binding
