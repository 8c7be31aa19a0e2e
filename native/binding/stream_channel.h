// Runs a stream's file work on an engine thread of its own and brings each
// result back to a JS callback on the main thread (a TypedThreadSafeFunction).
// Shared by the extent reader and writer objects.
#pragma once

#include <napi.h>

#include <functional>
#include <memory>

#include "../engine/task_thread.h"

namespace blockcopy::binding {

class StreamChannel {
 public:
  // Main thread: called with the JS callback to hand it the result.
  using Deliver = std::function<void(Napi::Env, Napi::Function)>;
  using Work = std::function<Deliver()>;

  static std::shared_ptr<StreamChannel> Create(Napi::Env env, const char* name);

  // Main thread: runs `work` on the engine thread, then calls what it returns
  // with `callback`. While work is pending the channel keeps the process alive.
  void post(Napi::Env env, Napi::Function callback, Work work);
  // Main thread: waits for the task in progress, drops the rest, lets go.
  void close();

 private:
  struct Completion;
  static void call_js(Napi::Env env, Napi::Function, StreamChannel* channel, Completion* completion);
  static void finalize(Napi::Env env, std::shared_ptr<StreamChannel>* holder, StreamChannel* channel);
  static void on_env_cleanup(void* arg);
  using Channel = Napi::TypedThreadSafeFunction<StreamChannel, Completion, call_js>;

  TaskThread thread_;
  Channel channel_;
  size_t pending_ = 0;  // main thread only
  bool closed_ = false;
  bool cleanup_hook_active_ = false;
};

}  // namespace blockcopy::binding
