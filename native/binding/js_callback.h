// Calling into JS from a thread-safe function's callback. By default Node-API
// only warns (DEP0168) about an exception thrown there and drops it; here it
// reaches the process as an uncaught exception, as a throwing listener's does
// in any other Node callback.
#pragma once

#include <napi.h>

namespace blockcopy::binding {

// False while the environment is going away (a worker thread being
// terminated): a thread-safe function may still be called then, but every
// call into JS fails, and node-addon-api turns the failure into a fatal
// error, not an exception. napi_coerce_to_bool runs Node-API's "may run JS"
// check and nothing else.
inline bool js_can_run(napi_env env) {
  napi_value undefined;
  napi_value result;
  return napi_get_undefined(env, &undefined) == napi_ok && napi_coerce_to_bool(env, undefined, &result) == napi_ok;
}

template <typename Call>
void call_into_js(Napi::Env env, Call call) {
  try {
    call();
  } catch (const Napi::Error& error) {
    // Unless the environment is going away: then nobody is left to tell.
    if (js_can_run(env)) napi_fatal_exception(env, error.Value());
  }
}

}  // namespace blockcopy::binding
