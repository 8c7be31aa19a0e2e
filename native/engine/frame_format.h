// The stream format (docs/stream-format.md) as the engine's own sender and
// receiver write and read it on a descriptor. The binding hands these numbers
// to lib/stream/format.ts, so the limits are stated here once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace blockcopy::frames {

constexpr unsigned char kMagic[8] = {'B', 'L', 'K', 'C', 'O', 'P', 'Y', '\n'};
constexpr uint32_t kVersion = 1;
constexpr size_t kPrefaceBytes = 16;
constexpr size_t kHeaderBytes = 12;
constexpr uint32_t kMaxData = 256 * 1024;  // the largest DATA payload after its offset
constexpr uint32_t kMaxName = 1024;
constexpr uint32_t kMaxCode = 64;
constexpr uint32_t kMaxMessage = 4096;
constexpr uint8_t kReply = 1;   // header flag: the frame answers a transfer its recipient sent
constexpr uint8_t kResume = 2;  // BEGIN's flag: answer with DIGESTS of what you hold; SAME frames may follow
constexpr uint32_t kDigestBytes = 32;  // one block's digest in a DIGESTS frame

enum Type : uint8_t { Begin = 1, Data = 2, Hole = 3, End = 4, Error = 5, Ok = 6, Digests = 7, Same = 8 };

// The largest payload a frame of `type` may declare; 0 for a type that does not exist.
constexpr uint32_t max_payload(uint8_t type) {
  switch (type) {
    case Begin: return 18 + kMaxName;
    case Data: return 8 + kMaxData;
    case Hole: return 16;
    case End: return 16;
    case Error: return 4 + kMaxCode + kMaxMessage;
    case Ok: return 8;
    case Digests: return 8 + kMaxData;  // the first block's index, then up to 8192 digests
    case Same: return 16;
    default: return 0;
  }
}

// The biggest frame there is, header included: a receive buffer holds at least one.
constexpr size_t kMaxFrame = kHeaderBytes + 8 + kMaxData;

inline void put_u16(unsigned char* p, uint16_t v) {
  for (int i = 0; i < 2; i++) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
inline void put_u32(unsigned char* p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
inline void put_u64(unsigned char* p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
inline uint16_t get_u16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
inline uint32_t get_u32(const unsigned char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = v << 8 | p[i];
  return v;
}
inline uint64_t get_u64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

inline void put_preface(unsigned char* p) {
  std::memcpy(p, kMagic, sizeof kMagic);
  put_u32(p + 8, kVersion);
  put_u32(p + 12, 0);  // flags: none defined
}

inline void put_header(unsigned char* p, Type type, uint32_t id, uint32_t payload, uint8_t flags = 0) {
  put_u32(p, payload);
  p[4] = type;
  p[5] = flags;
  p[6] = p[7] = 0;  // reserved
  put_u32(p + 8, id);
}

}  // namespace blockcopy::frames
