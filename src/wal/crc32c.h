// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of WAL entries and
// checkpoint files. Uses the SSE4.2 `crc32` instruction when the CPU has it and a
// slicing-by-8 table otherwise; both give identical results. Pure functions, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace observex::wal::crc32c {

// Continues a checksum: Extend(Value(a), b) == Value(a + b). `init_crc` is a finished
// checksum (as returned by Value/Extend), not a raw register value.
uint32_t Extend(uint32_t init_crc, const void* data, size_t n);

inline uint32_t Value(const void* data, size_t n) { return Extend(0, data, n); }

namespace internal {
// Both implementations, exposed so tests can check each against known vectors.
uint32_t ExtendSoftware(uint32_t init_crc, const void* data, size_t n);
// Only valid when HardwareAvailable(); otherwise falls back to ExtendSoftware.
uint32_t ExtendHardware(uint32_t init_crc, const void* data, size_t n);
bool HardwareAvailable();
}  // namespace internal

}  // namespace observex::wal::crc32c
