#pragma once
#include <napi.h>

#include <memory>

#include "../engine/checksum.h"
#include "../engine/extent_reader.h"
#include "../engine/extent_writer.h"
#include "worker.h"

namespace blockcopy::binding {

// new NativeReader(target, { offset, length?, sparse, piece }); open(cb), read(maxItems, cb), checksum(), close(cb).
// Callbacks get (error | null, value). Items: { type: 'data', offset, data } | { type: 'hole', offset, length }.
// The file work runs on the object's engine thread (worker.h), in the order asked.
class NativeReader : public Napi::ObjectWrap<NativeReader> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit NativeReader(const Napi::CallbackInfo& info);
  ~NativeReader() override;

 private:
  Napi::Value Open(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value Checksum(const Napi::CallbackInfo& info);
  Napi::Value ResumeFrom(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  Target target_;
  ReaderOptions options_;
  std::shared_ptr<ExtentReader> reader_;  // used only on the worker's thread once open
  std::shared_ptr<bool> reading_ = std::make_shared<bool>(false);  // JS thread only: a read is posted and not yet delivered
  std::shared_ptr<Worker> worker_;
};

// new NativeWriter(target, { offset, length, dstSize?, truncate, targetIsZero, overwrite, force, fsync });
// open(cb), write(items, cb), finish(cb) -> { bytesWritten, bytesSkipped, checksum }, close(abandon, cb).
class NativeWriter : public Napi::ObjectWrap<NativeWriter> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit NativeWriter(const Napi::CallbackInfo& info);
  ~NativeWriter() override;

 private:
  Napi::Value Open(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value Finish(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  Target target_;
  WriterOptions options_;
  std::shared_ptr<ExtentWriter> writer_;
  std::shared_ptr<Worker> worker_;
};

// new NativeChecksum(); update(offset, buffer); value() -> 16 hex digits.
class NativeChecksum : public Napi::ObjectWrap<NativeChecksum> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit NativeChecksum(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeChecksum>(info) {}

 private:
  Napi::Value Update(const Napi::CallbackInfo& info);
  Napi::Value Value(const Napi::CallbackInfo& info);
  ImageChecksum sum_;
};

}  // namespace blockcopy::binding
