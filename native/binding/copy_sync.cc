#include "copy_sync.h"

#include <optional>

#include "../engine/copy.h"
#include "convert.h"

namespace blockcopy::binding {

namespace {

// Calls JS on the copy's own thread (this one). A throwing callback stops the
// copy; its exception is rethrown once the engine has cleaned up.
class CallbackSink : public ProgressSink {
 public:
  CallbackSink(Napi::Env env, Napi::Function fn) : env_(env), fn_(fn) {}

  bool report(const ProgressSnapshot& snapshot) override {
    Napi::HandleScope scope(env_);
    try {
      Napi::Value answer = fn_.Call({progress_to_js(env_, snapshot)});
      return !(answer.IsBoolean() && !answer.As<Napi::Boolean>().Value());
    } catch (const Napi::Error& e) {
      error_ = e;
      return false;
    }
  }

  const std::optional<Napi::Error>& error() const { return error_; }

 private:
  Napi::Env env_;
  Napi::Function fn_;
  std::optional<Napi::Error> error_;
};

}  // namespace

Napi::Value CopySync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CopyRequest request = request_from_js(info[0], info[1], info[2].As<Napi::Object>());
  CopyControl control(request.bandwidth);
  std::optional<CallbackSink> sink;
  if (info[3].IsFunction()) sink.emplace(env, info[3].As<Napi::Function>());
  CopyOutcome outcome = run_copy(request, control, sink ? &*sink : nullptr);
  if (sink && sink->error()) throw *sink->error();
  return outcome_to_js(env, outcome);
}

}  // namespace blockcopy::binding
