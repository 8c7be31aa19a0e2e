#pragma once
#include <napi.h>

namespace blockcopy::binding {

// extentsSync(target, offset, length?) -> { extents } | { error }
Napi::Value ExtentsSync(const Napi::CallbackInfo& info);
// extents(target, offset, length?) -> Promise<{ extents } | { error }>, mapped on an engine thread
Napi::Value Extents(const Napi::CallbackInfo& info);

}  // namespace blockcopy::binding
