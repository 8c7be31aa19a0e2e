// Conversions between JS values and engine structs. The JS layer has already
// validated every option, so these only read well-formed input.
#pragma once

#include <napi.h>

#include <vector>

#include "../engine/copy.h"
#include "../engine/extent_map.h"
#include "../engine/extent_reader.h"
#include "../engine/extent_writer.h"
#include "../engine/image_digest.h"
#include "../engine/request.h"

namespace blockcopy::binding {

Target target_from_js(const Napi::Value& value);
CopyRequest request_from_js(const Napi::Value& src, const Napi::Value& dst, const Napi::Object& opts);
// { offset, length?, sparse } and { offset, length, dstSize?, truncate, targetIsZero, overwrite, force, fsync }
ReaderOptions reader_options_from_js(const Napi::Object& opts);
WriterOptions writer_options_from_js(const Napi::Object& opts);
// { offset, length?, progressInterval, progressDelay }
DigestRequest digest_request_from_js(const Napi::Value& target, const Napi::Object& opts);

Napi::Object progress_to_js(Napi::Env env, const ProgressSnapshot& p);
// 'completed', 'cancelled' or 'failed': how every job's end event names its ending.
const char* ending_name(Ending e);
// { ending, error?, resumeOffset, backend, ...progress }: the JS layer builds
// the result or the CopyError / AbortError from it.
Napi::Object outcome_to_js(Napi::Env env, const CopyOutcome& outcome);
// { kind, errno, syscall, side, detail } for the JS layer's error classes.
Napi::Object status_to_js(Napi::Env env, const Status& status);
Napi::Array extents_to_js(Napi::Env env, const std::vector<Extent>& extents);

}  // namespace blockcopy::binding
