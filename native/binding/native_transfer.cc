#include "native_transfer.h"

#include <cinttypes>
#include <cstdio>
#include <string>

#include "../engine/descriptor_io.h"
#include "../engine/frame_receiver.h"
#include "../engine/frame_sender.h"
#include "convert.h"

namespace blockcopy::binding {

namespace {

uint32_t ms(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : 0;
}

Napi::Object transfer_outcome_to_js(Napi::Env env, const TransferOutcome& outcome) {
  Napi::Object o = progress_to_js(env, outcome.progress);
  o.Set("ending", ending_name(outcome.ending));
  if (!outcome.status.ok()) o.Set("error", status_to_js(env, outcome.status));
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016" PRIx64, outcome.checksum);
  o.Set("checksum", hex);
  o.Set("name", Napi::String::New(env, outcome.name));
  o.Set("betweenFrames", outcome.between_frames);
  o.Set("resumeOffset", static_cast<double>(outcome.resume_offset));
  o.Set("zeroMethods", outcome.progress.zero_methods);
  return o;
}

Worker::Deliver deliver_end(TransferOutcome outcome) {
  return [outcome = std::move(outcome)](Napi::Env env, Napi::Function on_event) {
    on_event.Call({Napi::String::New(env, "end"), transfer_outcome_to_js(env, outcome)});
  };
}

}  // namespace

Napi::Function NativeTransfer::Define(Napi::Env env) {
  return DefineClass(env, "NativeTransfer",
                     {InstanceMethod<&NativeTransfer::Progress>("progress"), InstanceMethod<&NativeTransfer::Cancel>("cancel")});
}

NativeTransfer::NativeTransfer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeTransfer>(info) {
  Napi::Env env = info.Env();
  const std::string kind = info[0].As<Napi::String>().Utf8Value();
  const int fd = info[1].As<Napi::Number>().Int32Value();
  const Napi::Object extra = info[4].As<Napi::Object>();
  const Napi::Function on_event = info[5].As<Napi::Function>();
  run_ = std::make_shared<JobRun>();
  auto run = run_;
  if (kind == "send") {
    SendRequest req;
    req.fd = fd;
    req.target = target_from_js(info[2]);
    req.reader = reader_options_from_js(info[3].As<Napi::Object>());
    req.name = extra.Get("name").As<Napi::String>().Utf8Value();
    req.progress_interval_ms = ms(extra, "progressInterval");
    worker_ = start_job(env, "blockcopy.send", on_event, run,
                        [run, req]() { return deliver_end(run_send(req, run->control, run.get())); });
  } else {
    ReceiveRequest req;
    req.fd = fd;
    req.target = target_from_js(info[2]);
    req.writer = writer_options_from_js(info[3].As<Napi::Object>());
    req.progress_interval_ms = ms(extra, "progressInterval");
    req.idle_timeout_ms = ms(extra, "idleTimeout");
    req.trailing_grace_ms = ms(extra, "trailingGrace");
    worker_ = start_job(env, "blockcopy.recv", on_event, run,
                        [run, req]() { return deliver_end(run_receive(req, run->control, run.get())); });
  }
}

Napi::Value NativeTransfer::Progress(const Napi::CallbackInfo& info) {
  return progress_to_js(info.Env(), run_->control.meter.snapshot());
}

Napi::Value NativeTransfer::Cancel(const Napi::CallbackInfo& info) {
  run_->control.cancel.request();
  return info.Env().Undefined();
}

Napi::Value WriteNow(const Napi::CallbackInfo& info) {
  const int fd = info[0].As<Napi::Number>().Int32Value();
  auto bytes = info[1].As<Napi::Buffer<unsigned char>>();
  return Napi::Boolean::New(info.Env(), write_now(fd, bytes.Data(), bytes.Length()));
}

}  // namespace blockcopy::binding
