// The numbers of the NBD protocol (the NBD project's doc/proto.md) that the
// client in nbd_connection/nbd_export speaks: fixed newstyle negotiation,
// OPT_GO, structured replies, base:allocation block status.
#pragma once

#include <endian.h>

#include <cstdint>
#include <cstring>
#include <string>

namespace blockcopy::nbd {

constexpr uint64_t kMagic = 0x4e42444d41474943ull;       // "NBDMAGIC"
constexpr uint64_t kOptMagic = 0x49484156454f5054ull;    // "IHAVEOPT"
constexpr uint64_t kReplyMagic = 0x0003e889045565a9ull;  // option replies
constexpr uint32_t kRequestMagic = 0x25609513;
constexpr uint32_t kSimpleReplyMagic = 0x67446698;
constexpr uint32_t kStructuredReplyMagic = 0x668e33ef;

// Handshake flags (server) and client flags.
constexpr uint16_t kFlagFixedNewstyle = 1 << 0;
constexpr uint16_t kFlagNoZeroes = 1 << 1;

// Options.
constexpr uint32_t kOptAbort = 2;
constexpr uint32_t kOptGo = 7;
constexpr uint32_t kOptStructuredReply = 8;
constexpr uint32_t kOptSetMetaContext = 10;

// Option replies; errors have the top bit set.
constexpr uint32_t kRepAck = 1;
constexpr uint32_t kRepInfo = 3;
constexpr uint32_t kRepMetaContext = 4;
constexpr uint32_t kRepErrorBit = 1u << 31;
constexpr uint32_t kRepErrUnsup = kRepErrorBit | 1;
constexpr uint32_t kRepErrPolicy = kRepErrorBit | 2;
constexpr uint32_t kRepErrTlsReqd = kRepErrorBit | 5;
constexpr uint32_t kRepErrUnknown = kRepErrorBit | 6;

constexpr uint16_t kInfoExport = 0;
constexpr uint16_t kInfoBlockSize = 3;

// Transmission flags.
constexpr uint16_t kTxHasFlags = 1 << 0;
constexpr uint16_t kTxReadOnly = 1 << 1;
constexpr uint16_t kTxSendFlush = 1 << 2;
constexpr uint16_t kTxSendWriteZeroes = 1 << 6;
constexpr uint16_t kTxCanMultiConn = 1 << 8;
constexpr uint16_t kTxSendFastZero = 1 << 11;

// Commands and their flags.
enum Command : uint16_t { kCmdRead = 0, kCmdWrite = 1, kCmdDisconnect = 2, kCmdFlush = 3, kCmdWriteZeroes = 6, kCmdBlockStatus = 7 };
constexpr uint16_t kCmdFlagFastZero = 1 << 4;

// Structured reply chunks.
constexpr uint16_t kReplyFlagDone = 1;
constexpr uint16_t kChunkNone = 0;
constexpr uint16_t kChunkOffsetData = 1;
constexpr uint16_t kChunkOffsetHole = 2;
constexpr uint16_t kChunkBlockStatus = 5;
constexpr uint16_t kChunkErrorBit = 1 << 15;
constexpr uint16_t kChunkErrorOffset = kChunkErrorBit | 2;

// base:allocation states.
constexpr uint32_t kStateHole = 1;
constexpr uint32_t kStateZero = 2;

constexpr const char* kBaseAllocation = "base:allocation";
// A server that says nothing of its block sizes takes payloads up to this.
constexpr uint32_t kDefaultMaxPayload = 32u << 20;

// The wire is big-endian: fields appended to a message, and read from a buffer.
inline void put16(std::string* s, uint16_t v) { v = htobe16(v); s->append(reinterpret_cast<char*>(&v), 2); }
inline void put32(std::string* s, uint32_t v) { v = htobe32(v); s->append(reinterpret_cast<char*>(&v), 4); }
inline void put64(std::string* s, uint64_t v) { v = htobe64(v); s->append(reinterpret_cast<char*>(&v), 8); }
inline uint16_t get16(const char* p) { uint16_t v; std::memcpy(&v, p, 2); return be16toh(v); }
inline uint32_t get32(const char* p) { uint32_t v; std::memcpy(&v, p, 4); return be32toh(v); }
inline uint64_t get64(const char* p) { uint64_t v; std::memcpy(&v, p, 8); return be64toh(v); }

}  // namespace blockcopy::nbd
