#include "stream_channel.h"

#include "js_callback.h"

namespace blockcopy::binding {

struct StreamChannel::Completion {
  // Made and freed on the main thread; leaked only if the env is already gone.
  Napi::FunctionReference* callback;
  Deliver deliver;
};

std::shared_ptr<StreamChannel> StreamChannel::Create(Napi::Env env, const char* name) {
  auto channel = std::make_shared<StreamChannel>();
  StreamChannel* self = channel.get();
  self->channel_ = Channel::New(env, name, 0, 1, self, finalize, new std::shared_ptr<StreamChannel>(channel));
  self->channel_.Unref(env);  // idle: does not hold the process open
  // After the channel, so at teardown it runs first (hooks run in reverse).
  if (napi_add_env_cleanup_hook(env, on_env_cleanup, self) == napi_ok) self->cleanup_hook_active_ = true;
  return channel;
}

void StreamChannel::post(Napi::Env env, Napi::Function callback, Work work) {
  if (closed_) NAPI_THROW_VOID(Napi::Error::New(env, "the stream's file is already closed"));
  auto* completion = new Completion{new Napi::FunctionReference(Napi::Persistent(callback)), nullptr};
  if (pending_++ == 0) channel_.Ref(env);
  const bool queued = thread_.post([this, completion, work = std::move(work)] {
    completion->deliver = work();
    if (channel_.BlockingCall(completion) != napi_ok) delete completion;  // env gone: callback leaks
  });
  if (!queued) {
    delete completion->callback;
    delete completion;
    if (--pending_ == 0) channel_.Unref(env);
  }
}

void StreamChannel::call_js(Napi::Env env, Napi::Function, StreamChannel* self, Completion* completion) {
  std::unique_ptr<Completion> owned(completion);
  if (env == nullptr) return;
  std::unique_ptr<Napi::FunctionReference> callback(completion->callback);
  if (--self->pending_ == 0 && !self->closed_) self->channel_.Unref(env);
  call_into_js(env, [&] { completion->deliver(env, callback->Value()); });
}

void StreamChannel::close() {
  if (closed_) return;
  closed_ = true;
  thread_.stop();
  channel_.Release();
}

void StreamChannel::finalize(Napi::Env env, std::shared_ptr<StreamChannel>* holder, StreamChannel* self) {
  self->thread_.stop();
  if (self->cleanup_hook_active_) {
    napi_remove_env_cleanup_hook(env, on_env_cleanup, self);
    self->cleanup_hook_active_ = false;
  }
  delete holder;
}

// Env teardown: no file work after the environment is gone.
void StreamChannel::on_env_cleanup(void* arg) {
  auto* self = static_cast<StreamChannel*>(arg);
  self->cleanup_hook_active_ = false;
  self->thread_.stop();
}

}  // namespace blockcopy::binding
