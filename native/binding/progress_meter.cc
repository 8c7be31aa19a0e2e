#include "progress_meter.h"

#include "convert.h"

namespace blockcopy::binding {

namespace {
uint64_t count_at(const Napi::CallbackInfo& info, size_t i) {
  return static_cast<uint64_t>(info[i].As<Napi::Number>().Int64Value());
}
}  // namespace

Napi::Function NativeMeter::Define(Napi::Env env) {
  return DefineClass(env, "NativeMeter",
                     {InstanceMethod<&NativeMeter::SetTotals>("setTotals"), InstanceMethod<&NativeMeter::Add>("add"),
                      InstanceMethod<&NativeMeter::Finish>("finish"),
                      InstanceMethod<&NativeMeter::Snapshot>("snapshot")});
}

Napi::Value NativeMeter::SetTotals(const Napi::CallbackInfo& info) {
  meter_.set_totals(count_at(info, 0), count_at(info, 1));
  return info.Env().Undefined();
}

Napi::Value NativeMeter::Add(const Napi::CallbackInfo& info) {
  meter_.add(count_at(info, 0), count_at(info, 1), count_at(info, 2));
  meter_.reach(count_at(info, 3));
  meter_.sample(ProgressMeter::Clock::now());
  return info.Env().Undefined();
}

Napi::Value NativeMeter::Finish(const Napi::CallbackInfo& info) {
  meter_.finish(ProgressMeter::Clock::now());
  return info.Env().Undefined();
}

Napi::Value NativeMeter::Snapshot(const Napi::CallbackInfo& info) {
  return progress_to_js(info.Env(), meter_.snapshot());
}

}  // namespace blockcopy::binding
