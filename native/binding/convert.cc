#include "convert.h"

namespace blockcopy::binding {

namespace {

uint64_t u64(const Napi::Object& o, const char* key, uint64_t fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? static_cast<uint64_t>(v.As<Napi::Number>().Int64Value()) : fallback;
}

std::optional<uint64_t> optional_u64(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) return std::nullopt;
  return static_cast<uint64_t>(v.As<Napi::Number>().Int64Value());
}

bool flag(const Napi::Object& o, const char* key, bool fallback) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : fallback;
}

std::string text(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}

SparseMode sparse_mode(const std::string& s) {
  if (s == "always") return SparseMode::Always;
  if (s == "never") return SparseMode::Never;
  return SparseMode::Auto;
}

BackendChoice backend_choice(const std::string& s) {
  if (s == "io_uring") return BackendChoice::IoUring;
  if (s == "pread") return BackendChoice::Pread;
  if (s == "copy_file_range") return BackendChoice::CopyFileRange;
  return BackendChoice::Auto;
}

ReflinkMode reflink_mode(const std::string& s) {
  if (s == "always") return ReflinkMode::Always;
  if (s == "never") return ReflinkMode::Never;
  return ReflinkMode::Auto;
}

SyncMode sync_mode(const std::string& s) {
  if (s == "data") return SyncMode::Data;
  if (s == "full") return SyncMode::Full;
  return SyncMode::None;
}

const char* ending_name(Ending e) {
  switch (e) {
    case Ending::Completed: return "completed";
    case Ending::Cancelled: return "cancelled";
    case Ending::Failed: return "failed";
  }
  return "failed";
}

const char* kind_name(ErrorKind k) {
  switch (k) {
    case ErrorKind::System: return "system";
    case ErrorKind::InvalidArg: return "invalid";
    case ErrorKind::OutOfRange: return "range";
    case ErrorKind::None: return "none";
  }
  return "none";
}

void set_progress(Napi::Env env, Napi::Object& o, const ProgressSnapshot& p) {
  auto num = [&](const char* k, double v) { o.Set(k, Napi::Number::New(env, v)); };
  num("bytesDone", static_cast<double>(p.bytes_done));
  num("bytesTotal", static_cast<double>(p.bytes_total));
  num("bytesWritten", static_cast<double>(p.bytes_written));
  num("bytesSkipped", static_cast<double>(p.bytes_skipped));
  num("position", static_cast<double>(p.position));
  num("length", static_cast<double>(p.length));
  num("rate", p.rate);
  if (p.eta_seconds < 0)
    o.Set("etaSeconds", env.Null());
  else
    num("etaSeconds", p.eta_seconds);
  num("elapsedMs", static_cast<double>(p.elapsed_ms));
}

}  // namespace

Target target_from_js(const Napi::Value& value) {
  Target t;
  if (value.IsNumber())
    t.fd = value.As<Napi::Number>().Int32Value();
  else
    t.path = value.As<Napi::String>().Utf8Value();
  return t;
}

CopyRequest request_from_js(const Napi::Value& src, const Napi::Value& dst, const Napi::Object& opts) {
  CopyRequest r;
  r.src = target_from_js(src);
  r.dst = target_from_js(dst);
  r.src_offset = u64(opts, "srcOffset", 0);
  r.dst_offset = u64(opts, "dstOffset", 0);
  r.length = optional_u64(opts, "length");
  r.dst_size = optional_u64(opts, "dstSize");
  r.sparse = sparse_mode(text(opts, "sparse"));
  r.fsync = sync_mode(text(opts, "fsync"));
  r.backend = backend_choice(text(opts, "backend"));
  r.reflink = reflink_mode(text(opts, "reflink"));
  r.direct = flag(opts, "direct", false);
  r.block_size = static_cast<uint32_t>(u64(opts, "blockSize", r.block_size));
  r.queue_depth = static_cast<uint32_t>(u64(opts, "queueDepth", r.queue_depth));
  r.truncate = flag(opts, "truncate", false);
  r.target_is_zero = flag(opts, "targetIsZero", false);
  r.overwrite = flag(opts, "overwrite", true);
  r.force = flag(opts, "force", false);
  r.bandwidth = u64(opts, "bandwidth", 0);
  r.progress_interval_ms = static_cast<uint32_t>(u64(opts, "progressInterval", 250));
  r.progress_delay_ms = static_cast<uint32_t>(u64(opts, "progressDelay", 0));
  return r;
}

ReaderOptions reader_options_from_js(const Napi::Object& opts) {
  ReaderOptions r;
  r.offset = u64(opts, "offset", 0);
  r.length = optional_u64(opts, "length");
  r.sparse = sparse_mode(text(opts, "sparse"));
  return r;
}

WriterOptions writer_options_from_js(const Napi::Object& opts) {
  WriterOptions w;
  w.offset = u64(opts, "offset", 0);
  w.length = u64(opts, "length", 0);
  w.dst_size = optional_u64(opts, "dstSize");
  w.truncate = flag(opts, "truncate", false);
  w.target_is_zero = flag(opts, "targetIsZero", false);
  w.overwrite = flag(opts, "overwrite", true);
  w.force = flag(opts, "force", false);
  w.fsync = sync_mode(text(opts, "fsync"));
  return w;
}

Napi::Object progress_to_js(Napi::Env env, const ProgressSnapshot& p) {
  Napi::Object o = Napi::Object::New(env);
  set_progress(env, o, p);
  return o;
}

Napi::Object status_to_js(Napi::Env env, const Status& status) {
  Napi::Object e = Napi::Object::New(env);
  e.Set("kind", kind_name(status.kind));
  e.Set("errno", Napi::Number::New(env, status.err));
  e.Set("syscall", status.syscall);
  e.Set("side", status.side == Side::Source        ? Napi::Value(Napi::String::New(env, "source"))
                : status.side == Side::Destination ? Napi::Value(Napi::String::New(env, "destination"))
                                                   : env.Null());
  e.Set("detail", status.detail);
  return e;
}

Napi::Object outcome_to_js(Napi::Env env, const CopyOutcome& outcome) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("ending", ending_name(outcome.ending));
  if (!outcome.status.ok()) o.Set("error", status_to_js(env, outcome.status));
  o.Set("resumeOffset", Napi::Number::New(env, static_cast<double>(outcome.resume_offset)));
  o.Set("backend", outcome.backend);
  set_progress(env, o, outcome.progress);
  return o;
}

Napi::Array extents_to_js(Napi::Env env, const std::vector<Extent>& extents) {
  Napi::Array out = Napi::Array::New(env, extents.size());
  for (size_t i = 0; i < extents.size(); i++) {
    Napi::Object e = Napi::Object::New(env);
    e.Set("offset", Napi::Number::New(env, static_cast<double>(extents[i].offset)));
    e.Set("length", Napi::Number::New(env, static_cast<double>(extents[i].length)));
    e.Set("type", extents[i].data ? "data" : "hole");
    out.Set(static_cast<uint32_t>(i), e);
  }
  return out;
}

}  // namespace blockcopy::binding
