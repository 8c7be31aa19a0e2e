// The one way work leaves the main thread and comes back, for copies, extent
// queries and streams alike: a TaskThread of the engine's own runs posted
// work in order, and one thread-safe function brings each result (and any
// progress on the way) back to JS. This is where the thread-safe function,
// its finalizer and the env cleanup hook live.
//
// Lifetime: the owner (an ObjectWrap, or a call's own state) holds the Worker
// and close()s it; the thread's last act releases the thread-safe function,
// whose finalizer then joins the thread, which has already exited, so the
// main thread never waits on work. At env teardown (process.exit(), a worker
// thread terminated) the cleanup hook asks running work to stop and joins it,
// so nothing runs after the environment is gone.
#pragma once

#include <napi.h>

#include <functional>
#include <memory>

#include "../engine/task_thread.h"

namespace blockcopy::binding {

class Worker {
 public:
  // Main thread: hands a result to JS through `callback`, the one posted with
  // the work, else the worker's `events` function.
  using Deliver = std::function<void(Napi::Env, Napi::Function callback)>;
  // Engine thread: does the work, returns what to deliver.
  using Work = std::function<Deliver()>;

  // `events` (may be empty) receives what work and notify() deliver without a
  // callback of their own. `stop` asks work in progress to end early (a
  // copy's cancel); called at env teardown, on the main thread, before the join.
  static std::shared_ptr<Worker> Create(Napi::Env env, const char* name, Napi::Function events = {},
                                        std::function<void()> stop = {});

  // Main thread: runs `work` on the engine thread, then its Deliver on the main
  // thread with `callback` (if not empty). `pin` (if not empty) is kept from
  // being collected until then: memory the work uses, such as a write's
  // buffers. While work is pending the process stays alive; idle, it does not.
  void post(Napi::Env env, Napi::Function callback, Work work, Napi::Object pin = {});

  // Engine thread, from inside a Work: delivers to `events` now, without
  // waiting for the main thread. False when it could not be queued (teardown).
  bool notify(Deliver deliver);

  // Main thread, returns at once: no more work; what was posted and has not
  // started is dropped; `last` (closing a file, say) runs after the work in
  // progress, and its Deliver, with `callback`, is the last one.
  void close(Napi::Env env, Napi::Function callback = {}, Work last = {});

 private:
  struct Item;
  static void call_js(Napi::Env env, Napi::Function, Worker* self, Item* item);
  static void finalize(Napi::Env env, std::shared_ptr<Worker>* holder, Worker* self);
  static void on_env_cleanup(void* arg);
  using Channel = Napi::TypedThreadSafeFunction<Worker, Item, call_js>;

  struct Held;  // the JS values a piece of work holds
  using HeldPtr = std::shared_ptr<Held>;
  static HeldPtr hold(Napi::Function callback, Napi::Object pin = {});
  std::function<void()> run_and_deliver(Work work, HeldPtr held);
  void keep_alive(Napi::Env env, bool pending_added);

  Channel channel_;
  std::function<void()> stop_;
  size_t pending_ = 0;  // main thread: work posted whose Deliver has not run
  bool closed_ = false;
  bool cleanup_hook_active_ = false;
  TaskThread thread_;  // last: started once the rest exists, joined before it goes
};

}  // namespace blockcopy::binding
