#pragma once
#include <napi.h>

namespace blockcopy::binding {

// copySync(src, dst, opts, onTick?): runs the copy on the calling thread;
// onTick(progress) is called at the report interval and returning false cancels.
Napi::Value CopySync(const Napi::CallbackInfo& info);

}  // namespace blockcopy::binding
