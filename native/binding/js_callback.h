// Calling into JS from a thread-safe function's callback. By default Node-API
// only warns (DEP0168) about an exception thrown there and drops it; here it
// reaches the process as an uncaught exception, as a throwing listener's does
// in any other Node callback.
#pragma once

#include <napi.h>

namespace blockcopy::binding {

template <typename Call>
void call_into_js(Napi::Env env, Call call) {
  try {
    call();
  } catch (const Napi::Error& error) {
    napi_fatal_exception(env, error.Value());
  }
}

}  // namespace blockcopy::binding
