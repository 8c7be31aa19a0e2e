// Errors travel through the engine as values; the binding turns them into JS errors.
#pragma once

#include <string>

namespace blockcopy {

enum class ErrorKind {
  None,
  System,      // a failed system call: errno + syscall + which file
  InvalidArg,  // becomes ERR_INVALID_ARG_VALUE
  OutOfRange,  // becomes ERR_OUT_OF_RANGE
  Coded,       // a code of its own and a message: a broken stream, a bad checksum
  Remote,      // what the other end of a stream reported in an ERROR frame: its code, its message
};

// Which of the two files a system error belongs to, so the JS error can name its path.
enum class Side { None, Source, Destination };

struct Status {
  ErrorKind kind = ErrorKind::None;
  int err = 0;
  const char* syscall = "";
  Side side = Side::None;
  std::string detail;  // when set, replaces strerror's text in the message
  std::string code;    // Coded and Remote: 'ERR_BLOCKCOPY_STREAM', or what a peer sent

  bool ok() const { return kind == ErrorKind::None; }

  static Status Ok() { return {}; }
  static Status Sys(int err, const char* syscall, Side side, std::string detail = {}) {
    Status s;
    s.kind = ErrorKind::System;
    s.err = err;
    s.syscall = syscall;
    s.side = side;
    s.detail = std::move(detail);
    return s;
  }
  static Status Invalid(std::string message) { return Argument(ErrorKind::InvalidArg, std::move(message)); }
  static Status OutOfRange(std::string message) { return Argument(ErrorKind::OutOfRange, std::move(message)); }
  static Status Coded(std::string code, std::string message) { return WithCode(ErrorKind::Coded, std::move(code), std::move(message)); }
  static Status Remote(std::string code, std::string message) { return WithCode(ErrorKind::Remote, std::move(code), std::move(message)); }

 private:
  static Status WithCode(ErrorKind kind, std::string code, std::string message) {
    Status s = Argument(kind, std::move(message));
    s.code = std::move(code);
    return s;
  }
  static Status Argument(ErrorKind kind, std::string message) {
    Status s;
    s.kind = kind;
    s.detail = std::move(message);
    return s;
  }
};

}  // namespace blockcopy
