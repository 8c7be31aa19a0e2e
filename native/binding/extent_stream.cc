#include "extent_stream.h"

#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <vector>

#include "../engine/frame_format.h"
#include "convert.h"

namespace blockcopy::binding {

namespace {

using Deliver = Worker::Deliver;

Deliver deliver_error(const Status& status) {
  return [status](Napi::Env env, Napi::Function callback) { callback.Call({status_to_js(env, status)}); };
}

Deliver deliver_value(std::function<Napi::Value(Napi::Env)> make) {
  return [make = std::move(make)](Napi::Env env, Napi::Function callback) { callback.Call({env.Null(), make(env)}); };
}

// Data is copied into memory V8 owns. A Buffer over our own memory would be
// freed by its own Node cleanup hook when a worker thread is terminated, and
// such hooks can run before ours, while a write stream's engine thread is
// still writing that Buffer's bytes (AddressSanitizer saw it: a piped read
// into write stream). V8's memory lives until the isolate goes, after every
// cleanup hook, so a write in progress always reads what it was given.
Napi::Array items_to_js(Napi::Env env, const std::vector<StreamItem>& items) {
  Napi::Array array = Napi::Array::New(env, items.size());
  for (size_t i = 0; i < items.size(); i++) {
    const StreamItem& item = items[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("type", item.data ? "data" : item.same ? "same" : "hole");
    o.Set("offset", static_cast<double>(item.offset));
    if (item.data) {
      o.Set("data", Napi::Buffer<unsigned char>::Copy(env, item.bytes, item.length));
    } else {
      o.Set("length", static_cast<double>(item.length));
    }
    array[i] = o;
  }
  return array;
}

// 16 hex digits, the way the END frame's checksum is shown.
Napi::String checksum_to_js(Napi::Env env, uint64_t sum) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(sum));
  return Napi::String::New(env, hex);
}

}  // namespace

// ---- NativeReader -------------------------------------------------------------

Napi::Function NativeReader::Define(Napi::Env env) {
  return DefineClass(env, "NativeReader",
                     {InstanceMethod<&NativeReader::Open>("open"), InstanceMethod<&NativeReader::Read>("read"),
                      InstanceMethod<&NativeReader::Checksum>("checksum"), InstanceMethod<&NativeReader::ResumeFrom>("resumeFrom"),
                      InstanceMethod<&NativeReader::Close>("close")});
}

NativeReader::NativeReader(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<NativeReader>(info),
      target_(target_from_js(info[0])),
      options_(reader_options_from_js(info[1].As<Napi::Object>())),
      reader_(std::make_shared<ExtentReader>()),
      worker_(Worker::Create(info.Env(), "blockcopy.read")) {}

NativeReader::~NativeReader() { worker_->close(Env()); }

Napi::Value NativeReader::Open(const Napi::CallbackInfo& info) {
  auto reader = reader_;
  worker_->post(info.Env(), info[0].As<Napi::Function>(), [reader, target = target_, options = options_]() -> Deliver {
    Status s = reader->open(target, options);
    if (!s.ok()) return deliver_error(s);
    const double length = static_cast<double>(reader->length());
    const double data = static_cast<double>(reader->data_bound());
    return deliver_value([length, data](Napi::Env env) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("length", length);
      o.Set("dataBytes", data);
      return o;
    });
  });
  return info.Env().Undefined();
}

// One read at a time: the items' bytes live in the reader's batch buffer,
// which the next read refills. The delivery holds the reader, so a close()
// that follows cannot free that buffer before the bytes are copied.
Napi::Value NativeReader::Read(const Napi::CallbackInfo& info) {
  if (*reading_) {
    Napi::Error::New(info.Env(), "NativeReader.read() called while a read is in progress").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  *reading_ = true;
  auto reader = reader_;
  const size_t max = static_cast<size_t>(info[0].As<Napi::Number>().Uint32Value());
  worker_->post(info.Env(), info[1].As<Napi::Function>(), [reader, max, reading = reading_]() -> Deliver {
    auto items = std::make_shared<std::vector<StreamItem>>();
    Status s = reader->next(max, items.get());
    if (!s.ok()) {
      return [s, reading](Napi::Env env, Napi::Function callback) {
        *reading = false;
        callback.Call({status_to_js(env, s)});
      };
    }
    return [items, reader, reading](Napi::Env env, Napi::Function callback) {
      *reading = false;
      callback.Call({env.Null(), items_to_js(env, *items)});
    };
  });
  return info.Env().Undefined();
}

// resumeFrom(digests, cb): the receiver's block digests (32 bytes each), before the first read.
// Posted like a read, so it runs after open() and before any read that follows it.
Napi::Value NativeReader::ResumeFrom(const Napi::CallbackInfo& info) {
  auto bytes = info[0].As<Napi::Buffer<unsigned char>>();
  std::vector<Digest> theirs(bytes.Length() / sizeof(Digest));
  for (size_t i = 0; i < theirs.size(); i++) std::copy_n(bytes.Data() + i * sizeof(Digest), sizeof(Digest), theirs[i].begin());
  auto reader = reader_;
  worker_->post(info.Env(), info[1].As<Napi::Function>(), [reader, theirs = std::move(theirs)]() mutable -> Deliver {
    Status s = reader->resume_from(std::move(theirs));
    if (!s.ok()) return deliver_error(s);
    return deliver_value([](Napi::Env env) { return env.Undefined(); });
  });
  return info.Env().Undefined();
}

// Read only after the last read's callback (and before close): the engine thread is idle then.
Napi::Value NativeReader::Checksum(const Napi::CallbackInfo& info) {
  return checksum_to_js(info.Env(), reader_ ? reader_->checksum() : 0);
}

// close(cb): reads not started are dropped; the file closes on the engine
// thread after the read in progress, and cb follows. Never waits here.
Napi::Value NativeReader::Close(const Napi::CallbackInfo& info) {
  Napi::Function callback = info[0].IsFunction() ? info[0].As<Napi::Function>() : Napi::Function();
  worker_->close(info.Env(), callback, [reader = std::move(reader_)]() mutable -> Deliver {
    reader.reset();  // the last holder: its descriptor closes here
    return [](Napi::Env env, Napi::Function callback) {
      if (!callback.IsEmpty()) callback.Call({env.Null()});
    };
  });
  return info.Env().Undefined();
}

// ---- NativeWriter -------------------------------------------------------------

Napi::Function NativeWriter::Define(Napi::Env env) {
  return DefineClass(env, "NativeWriter",
                     {InstanceMethod<&NativeWriter::Open>("open"), InstanceMethod<&NativeWriter::Write>("write"),
                      InstanceMethod<&NativeWriter::Finish>("finish"), InstanceMethod<&NativeWriter::Close>("close")});
}

NativeWriter::NativeWriter(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<NativeWriter>(info),
      target_(target_from_js(info[0])),
      options_(writer_options_from_js(info[1].As<Napi::Object>())),
      writer_(std::make_shared<ExtentWriter>()),
      worker_(Worker::Create(info.Env(), "blockcopy.write")) {}

NativeWriter::~NativeWriter() { worker_->close(Env()); }

Napi::Value NativeWriter::Open(const Napi::CallbackInfo& info) {
  auto writer = writer_;
  worker_->post(info.Env(), info[0].As<Napi::Function>(), [writer, target = target_, options = options_]() -> Deliver {
    Status s = writer->open(target, options);
    if (!s.ok()) return deliver_error(s);
    return deliver_value([](Napi::Env env) { return env.Undefined(); });
  });
  return info.Env().Undefined();
}

// The JS layer has checked every item; the array is kept alive (and so its
// buffers) until the engine thread is done with them.
Napi::Value NativeWriter::Write(const Napi::CallbackInfo& info) {
  Napi::Array items = info[0].As<Napi::Array>();
  std::vector<ImagePiece> pieces;
  pieces.reserve(items.Length());
  for (uint32_t i = 0; i < items.Length(); i++) {
    Napi::Object item = items.Get(i).As<Napi::Object>();
    const uint64_t offset = static_cast<uint64_t>(item.Get("offset").As<Napi::Number>().Int64Value());
    Napi::Value data = item.Get("data");
    if (data.IsBuffer()) {
      auto buffer = data.As<Napi::Buffer<unsigned char>>();
      pieces.push_back({true, offset, buffer.Length(), buffer.Data()});
    } else {
      pieces.push_back({false, offset, static_cast<uint64_t>(item.Get("length").As<Napi::Number>().Int64Value()), nullptr});
    }
  }
  auto writer = writer_;
  worker_->post(
      info.Env(), info[1].As<Napi::Function>(),
      [writer, pieces = std::move(pieces)]() -> Deliver {
        Status s = writer->apply(pieces);
        return [s](Napi::Env env, Napi::Function callback) {
          callback.Call({s.ok() ? env.Null() : status_to_js(env, s)});
        };
      },
      items);  // its buffers stay alive until the write is done
  return info.Env().Undefined();
}

// finish(kept, cb): `kept` holds (block index, stream checksum share) pairs,
// two u64 each, of the blocks a resuming receiver kept instead of writing.
Napi::Value NativeWriter::Finish(const Napi::CallbackInfo& info) {
  auto writer = writer_;
  auto bytes = info[0].As<Napi::Buffer<unsigned char>>();
  std::vector<KeptBlock> kept(bytes.Length() / 16);
  for (size_t i = 0; i < kept.size(); i++) {
    kept[i].block = frames::get_u64(bytes.Data() + 16 * i);
    kept[i].sum = frames::get_u64(bytes.Data() + 16 * i + 8);
  }
  worker_->post(info.Env(), info[1].As<Napi::Function>(), [writer, kept = std::move(kept)]() -> Deliver {
    writer->kept(kept);
    Status s = writer->finish();
    if (!s.ok()) return deliver_error(s);
    const double written = static_cast<double>(writer->bytes_written());
    const double skipped = static_cast<double>(writer->bytes_skipped());
    const Zeroing zeroing = writer->zeroing();
    const uint64_t sum = writer->checksum();
    return deliver_value([written, skipped, zeroing, sum](Napi::Env env) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("bytesWritten", written);
      o.Set("bytesZeroed", static_cast<double>(zeroing.bytes));
      o.Set("zeroMethods", zeroing.methods);
      o.Set("bytesSkipped", skipped);
      o.Set("checksum", checksum_to_js(env, sum));
      return o;
    });
  });
  return info.Env().Undefined();
}

// close(abandon, cb): writes not started are dropped; after the one in
// progress the file closes on the engine thread (and, with abandon, a file
// this writer created and never wrote is removed), then cb. Never waits here
// on a join or a flush.
Napi::Value NativeWriter::Close(const Napi::CallbackInfo& info) {
  const bool abandon = info[0].ToBoolean().Value();
  Napi::Function callback = info[1].IsFunction() ? info[1].As<Napi::Function>() : Napi::Function();
  worker_->close(info.Env(), callback, [writer = std::move(writer_), abandon]() mutable -> Deliver {
    if (abandon && !writer->changed_anything()) writer->abandon();
    writer.reset();  // the last holder: its descriptor closes here
    return [](Napi::Env env, Napi::Function callback) {
      if (!callback.IsEmpty()) callback.Call({env.Null()});
    };
  });
  return info.Env().Undefined();
}

// ---- NativeChecksum -----------------------------------------------------------

Napi::Function NativeChecksum::Define(Napi::Env env) {
  return DefineClass(env, "NativeChecksum",
                     {InstanceMethod<&NativeChecksum::Update>("update"), InstanceMethod<&NativeChecksum::Value>("value")});
}

Napi::Value NativeChecksum::Update(const Napi::CallbackInfo& info) {
  const uint64_t offset = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  auto data = info[1].As<Napi::Uint8Array>();
  sum_.update(offset, data.Data(), data.ByteLength());
  return info.Env().Undefined();
}

Napi::Value NativeChecksum::Value(const Napi::CallbackInfo& info) { return checksum_to_js(info.Env(), sum_.value()); }

}  // namespace blockcopy::binding
