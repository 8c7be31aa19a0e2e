#include "extents.h"

#include <optional>
#include <vector>

#include "../engine/engine_thread.h"
#include "../engine/source.h"
#include "convert.h"

namespace blockcopy::binding {

namespace {

struct Query {
  Target target;
  uint64_t offset = 0;
  std::optional<uint64_t> length;
  Status status;
  std::vector<Extent> extents;

  void run() { status = extents_of(target, offset, length, &extents); }

  Napi::Object answer(Napi::Env env) const {
    Napi::Object o = Napi::Object::New(env);
    if (status.ok())
      o.Set("extents", extents_to_js(env, extents));
    else
      o.Set("error", status_to_js(env, status));
    return o;
  }
};

Query query_from_js(const Napi::CallbackInfo& info) {
  Query q;
  q.target = target_from_js(info[0]);
  q.offset = static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value());
  if (info[2].IsNumber()) q.length = static_cast<uint64_t>(info[2].As<Napi::Number>().Int64Value());
  return q;
}

struct AsyncQuery {
  Query query;
  Napi::Promise::Deferred deferred;
  EngineThread thread;
};

void settle(Napi::Env env, Napi::Function, AsyncQuery* async, void*) {
  if (env == nullptr) return;
  async->deferred.Resolve(async->query.answer(env));
}

void finalize(Napi::Env, void*, AsyncQuery* async) {
  async->thread.join();
  delete async;
}

using Channel = Napi::TypedThreadSafeFunction<AsyncQuery, void, settle>;

}  // namespace

Napi::Value ExtentsSync(const Napi::CallbackInfo& info) {
  Query q = query_from_js(info);
  q.run();
  return q.answer(info.Env());
}

Napi::Value Extents(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* async = new AsyncQuery{query_from_js(info), Napi::Promise::Deferred::New(env), {}};
  Napi::Promise promise = async->deferred.Promise();
  Channel channel = Channel::New(env, "blockcopy.extents", 0, 1, async, finalize, static_cast<void*>(nullptr));
  async->thread.start([async, channel]() mutable {
    async->query.run();
    channel.BlockingCall();
    channel.Release();
  });
  return promise;
}

}  // namespace blockcopy::binding
