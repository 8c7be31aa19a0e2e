#include "convert.h"

namespace blockcopy::binding {

namespace {

// The JS layer (lib/options.ts) has checked every field and filled in every
// default, so these read what is there and never fall back to a value of their own.
uint64_t number(const Napi::Object& o, const char* key) {
  return static_cast<uint64_t>(o.Get(key).As<Napi::Number>().Int64Value());
}

std::optional<uint64_t> optional_number(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) return std::nullopt;
  return static_cast<uint64_t>(v.As<Napi::Number>().Int64Value());
}

bool flag(const Napi::Object& o, const char* key) { return o.Get(key).As<Napi::Boolean>().Value(); }

// A mode arrives as its index in its list in lib/types.ts; the enum follows that order.
template <typename Mode>
Mode mode(const Napi::Object& o, const char* key) {
  return static_cast<Mode>(number(o, key));
}

const char* kind_name(ErrorKind k) {
  switch (k) {
    case ErrorKind::System: return "system";
    case ErrorKind::InvalidArg: return "invalid";
    case ErrorKind::OutOfRange: return "range";
    case ErrorKind::Coded: return "coded";
    case ErrorKind::Remote: return "remote";
    case ErrorKind::None: return "none";
  }
  return "none";
}

void set_progress(Napi::Env env, Napi::Object& o, const ProgressSnapshot& p) {
  auto num = [&](const char* k, double v) { o.Set(k, Napi::Number::New(env, v)); };
  num("bytesDone", static_cast<double>(p.bytes_done));
  num("bytesTotal", static_cast<double>(p.bytes_total));
  num("bytesWritten", static_cast<double>(p.bytes_written));
  num("bytesZeroed", static_cast<double>(p.bytes_zeroed));
  num("bytesSkipped", static_cast<double>(p.bytes_skipped));
  num("position", static_cast<double>(p.position));
  num("length", static_cast<double>(p.length));
  num("rate", p.rate);
  if (p.eta_seconds < 0)
    o.Set("etaSeconds", env.Null());
  else
    num("etaSeconds", p.eta_seconds);
  num("elapsedMs", static_cast<double>(p.elapsed_ms));
  if (p.verifying) {
    o.Set("phase", "verify");
    num("bytesVerified", static_cast<double>(p.bytes_verified));
  }
}

}  // namespace

// A path, a descriptor, or { path, format, connections, nbdTimeout, compress } for an
// image file qemu-nbd serves, or { nbd: { socket | host, port, export },
// connections, nbdTimeout }.
Target target_from_js(const Napi::Value& value) {
  Target t;
  if (value.IsNumber()) {
    t.fd = value.As<Napi::Number>().Int32Value();
    return t;
  }
  if (value.IsString()) {
    t.path = value.As<Napi::String>().Utf8Value();
    return t;
  }
  const Napi::Object o = value.As<Napi::Object>();
  t.connections = o.Get("connections").As<Napi::Number>().Uint32Value();
  t.nbd_timeout_ms = o.Get("nbdTimeout").As<Napi::Number>().Uint32Value();
  if (o.Has("path")) {
    t.path = o.Get("path").As<Napi::String>().Utf8Value();
    t.format = o.Get("format").As<Napi::String>().Utf8Value();
    t.compress = o.Get("compress").As<Napi::Boolean>().Value();
    return t;
  }
  const Napi::Object a = o.Get("nbd").As<Napi::Object>();
  NbdAddress address;
  if (a.Has("socket")) address.socket = a.Get("socket").As<Napi::String>().Utf8Value();
  if (a.Has("host")) address.host = a.Get("host").As<Napi::String>().Utf8Value();
  if (a.Has("port")) address.port = static_cast<uint16_t>(a.Get("port").As<Napi::Number>().Uint32Value());
  address.export_name = a.Get("export").As<Napi::String>().Utf8Value();
  t.nbd = address;
  t.path = o.Get("uri").As<Napi::String>().Utf8Value();
  return t;
}

CopyRequest request_from_js(const Napi::Value& src, const Napi::Value& dst, const Napi::Object& opts) {
  CopyRequest r;
  r.src = target_from_js(src);
  r.dst = target_from_js(dst);
  r.src_offset = number(opts, "srcOffset");
  r.dst_offset = number(opts, "dstOffset");
  r.length = optional_number(opts, "length");
  r.dst_size = optional_number(opts, "dstSize");
  r.sparse = mode<SparseMode>(opts, "sparse");
  r.fsync = mode<SyncMode>(opts, "fsync");
  r.backend = mode<BackendChoice>(opts, "backend");
  r.reflink = mode<ReflinkMode>(opts, "reflink");
  r.direct = flag(opts, "direct");
  r.block_size = static_cast<uint32_t>(number(opts, "blockSize"));
  r.queue_depth = static_cast<uint32_t>(number(opts, "queueDepth"));
  r.truncate = flag(opts, "truncate");
  r.target_is_zero = flag(opts, "targetIsZero");
  r.overwrite = flag(opts, "overwrite");
  r.force = flag(opts, "force");
  r.bandwidth = number(opts, "bandwidth");
  r.progress_interval_ms = static_cast<uint32_t>(number(opts, "progressInterval"));
  r.progress_delay_ms = static_cast<uint32_t>(number(opts, "progressDelay"));
  r.verify = flag(opts, "verify");
  return r;
}

ReaderOptions reader_options_from_js(const Napi::Object& opts) {
  ReaderOptions r;
  r.offset = number(opts, "offset");
  r.length = optional_number(opts, "length");
  r.sparse = mode<SparseMode>(opts, "sparse");
  r.piece = static_cast<uint32_t>(number(opts, "piece"));
  return r;
}

DigestRequest digest_request_from_js(const Napi::Value& target, const Napi::Object& opts) {
  DigestRequest r;
  r.target = target_from_js(target);
  r.offset = number(opts, "offset");
  r.length = optional_number(opts, "length");
  r.progress_interval_ms = static_cast<uint32_t>(number(opts, "progressInterval"));
  r.progress_delay_ms = static_cast<uint32_t>(number(opts, "progressDelay"));
  r.blocks = opts.Has("blocks") && flag(opts, "blocks");
  return r;
}

WriterOptions writer_options_from_js(const Napi::Object& opts) {
  WriterOptions w;
  w.how.overwrite = flag(opts, "overwrite");
  w.how.force = flag(opts, "force");
  w.how.create_mode = 0666;
  w.range.offset = number(opts, "offset");
  w.range.length = number(opts, "length");
  w.range.new_size = optional_number(opts, "dstSize");
  w.range.truncate = flag(opts, "truncate");
  w.range.target_is_zero = flag(opts, "targetIsZero");
  w.fsync = mode<SyncMode>(opts, "fsync");
  w.verify = flag(opts, "verify");
  return w;
}

const char* ending_name(Ending e) {
  switch (e) {
    case Ending::Completed: return "completed";
    case Ending::Cancelled: return "cancelled";
    case Ending::Failed: return "failed";
  }
  return "failed";
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
  if (status.kind == ErrorKind::Coded || status.kind == ErrorKind::Remote) e.Set("code", status.code);
  return e;
}

Napi::Object outcome_to_js(Napi::Env env, const CopyOutcome& outcome) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("ending", ending_name(outcome.ending));
  if (!outcome.status.ok()) o.Set("error", status_to_js(env, outcome.status));
  o.Set("resumeOffset", Napi::Number::New(env, static_cast<double>(outcome.resume_offset)));
  o.Set("backend", outcome.backend);
  set_progress(env, o, outcome.progress);
  o.Set("zeroMethods", outcome.progress.zero_methods);  // a bit per ZERO_METHODS entry (lib/types.ts)
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
