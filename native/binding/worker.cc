#include "worker.h"

#include "js_callback.h"

namespace blockcopy::binding {

// Made and freed on the main thread: a task dropped unrun is destroyed there,
// a task run hands its Held over to its Item. Only when the env is gone is
// nothing freed (there is nothing left to free it in).
struct Worker::Held {
  Napi::FunctionReference callback;
  Napi::ObjectReference pin;

  void forget() {
    callback.SuppressDestruct();
    pin.SuppressDestruct();
  }
};

struct Worker::Item {
  Deliver deliver;
  HeldPtr held;    // the posted work's callback and pin, if any
  bool ends_work;  // the Deliver of posted work (not a notification on the way)
};

std::shared_ptr<Worker> Worker::Create(Napi::Env env, const char* name, Napi::Function events,
                                       std::function<void()> stop) {
  auto worker = std::make_shared<Worker>();
  Worker* self = worker.get();
  self->stop_ = std::move(stop);
  self->channel_ = Channel::New(env, events, name, 0, 1, self, finalize, new std::shared_ptr<Worker>(worker));
  self->channel_.Unref(env);  // idle: does not hold the process open
  // After the channel, so at teardown it runs first (hooks run in reverse).
  if (napi_add_env_cleanup_hook(env, on_env_cleanup, self) == napi_ok) self->cleanup_hook_active_ = true;
  self->thread_.start([self] { self->channel_.Release(); });  // the thread's last act
  return worker;
}

std::function<void()> Worker::run_and_deliver(Work work, HeldPtr held) {
  return [this, work = std::move(work), held = std::move(held)]() mutable {
    auto* item = new Item{work(), std::move(held), true};
    if (channel_.BlockingCall(item) != napi_ok) {  // the env is going
      item->held->forget();
      delete item;
    }
  };
}

void Worker::keep_alive(Napi::Env env, bool pending_added) {
  if (pending_added ? pending_++ == 0 : --pending_ == 0) {
    if (pending_added)
      channel_.Ref(env);
    else
      channel_.Unref(env);
  }
}

Worker::HeldPtr Worker::hold(Napi::Function callback, Napi::Object pin) {
  auto held = std::make_shared<Held>();
  if (!callback.IsEmpty()) held->callback = Napi::Persistent(callback);
  if (!pin.IsEmpty()) held->pin = Napi::Persistent(pin);
  return held;
}

void Worker::post(Napi::Env env, Napi::Function callback, Work work, Napi::Object pin) {
  if (closed_) NAPI_THROW_VOID(Napi::Error::New(env, "this object's file is already closed"));
  keep_alive(env, true);
  if (!thread_.post(run_and_deliver(std::move(work), hold(callback, pin)))) keep_alive(env, false);
}

bool Worker::notify(Deliver deliver) {
  auto* item = new Item{std::move(deliver), nullptr, false};
  if (channel_.NonBlockingCall(item) == napi_ok) return true;
  delete item;
  return false;
}

void Worker::close(Napi::Env env, Napi::Function callback, Work last) {
  if (closed_) return;
  closed_ = true;
  if (last) keep_alive(env, true);
  // Work dropped before it started will deliver nothing: it is no longer pending.
  const size_t dropped = thread_.finish(last ? run_and_deliver(std::move(last), hold(callback)) : std::function<void()>{});
  for (size_t i = 0; i < dropped; i++) keep_alive(env, false);
}

void Worker::call_js(Napi::Env env, Napi::Function events, Worker* self, Item* item) {
  std::unique_ptr<Item> owned(item);
  if (env == nullptr || !js_can_run(env)) {  // teardown: nothing is delivered, only what needs no env is freed
    if (item->held) item->held->forget();
    return;
  }
  if (item->ends_work) self->keep_alive(env, false);
  Napi::Function callback = item->held && !item->held->callback.IsEmpty() ? item->held->callback.Value() : events;
  if (item->deliver) call_into_js(env, [&] { item->deliver(env, callback); });
}

// Main thread, once the engine thread has released the channel as its last act.
void Worker::finalize(Napi::Env env, std::shared_ptr<Worker>* holder, Worker* self) {
  self->thread_.join();
  if (self->cleanup_hook_active_) {
    napi_remove_env_cleanup_hook(env, on_env_cleanup, self);
    self->cleanup_hook_active_ = false;
  }
  delete holder;
}

// Env teardown: stop the work in progress and wait for it, so that no write
// happens after the environment is gone.
void Worker::on_env_cleanup(void* arg) {
  auto* self = static_cast<Worker*>(arg);
  self->cleanup_hook_active_ = false;
  if (self->stop_) self->stop_();
  self->thread_.finish();
  self->thread_.join();
}

}  // namespace blockcopy::binding
