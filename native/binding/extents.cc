#include "extents.h"

#include <optional>
#include <vector>

#include "../engine/source.h"
#include "convert.h"
#include "worker.h"

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

}  // namespace

Napi::Value ExtentsSync(const Napi::CallbackInfo& info) {
  Query q = query_from_js(info);
  q.run();
  return q.answer(info.Env());
}

Napi::Value Extents(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto deferred = Napi::Promise::Deferred::New(env);
  auto worker = Worker::Create(env, "blockcopy.extents");
  // The query is the worker's one and last piece of work: the thread ends after it.
  worker->close(env, {}, [query = query_from_js(info), deferred]() mutable -> Worker::Deliver {
    query.run();
    return [query, deferred](Napi::Env env, Napi::Function) { deferred.Resolve(query.answer(env)); };
  });
  return deferred.Promise();
}

}  // namespace blockcopy::binding
