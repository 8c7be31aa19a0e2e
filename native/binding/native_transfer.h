#pragma once
#include <napi.h>

#include <memory>

#include "job_run.h"

namespace blockcopy::binding {

// new NativeTransfer('send', fd, target, readerOptions, { name, progressInterval }, onEvent)
// new NativeTransfer('receive', fd, target, writerOptions, { progressInterval, idleTimeout, trailingGrace }, onEvent)
// One image into or out of a descriptor, on an engine thread (frame_sender.h,
// frame_receiver.h). Like NativeCopy: onEvent('progress', p) at the report
// interval, then onEvent('end', { ending, error?, checksum, name, betweenFrames, ...progress }).
class NativeTransfer : public Napi::ObjectWrap<NativeTransfer> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit NativeTransfer(const Napi::CallbackInfo& info);

 private:
  Napi::Value Progress(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);

  std::shared_ptr<JobRun> run_;
  std::shared_ptr<Worker> worker_;
};

// writeNow(fd, bytes): true when all of them went out at once, without waiting (descriptor_io.h).
Napi::Value WriteNow(const Napi::CallbackInfo& info);

}  // namespace blockcopy::binding
