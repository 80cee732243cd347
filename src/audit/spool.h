// The audit spool: where the recorder puts records while its store cannot
// take them, in order, and from where it moves them into the store once the
// store works again. A local append-only file of records (a 4-byte little-
// endian length, then the event as CBOR, which keeps every string's bytes),
// bounded in size; what is in it survives a crash of the gateway and is
// moved on at the next start.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/expected.h"
#include "model/audit_event.h"

namespace gh::audit {

// One event as a spool record (length and CBOR), and a record's CBOR back.
std::string spool_record(const model::AuditEvent& event);
Expected<model::AuditEvent> parse_spool_record(std::string_view cbor);

class Spool {
 public:
  // Opens (creating) the spool file; `max_bytes` bounds it.
  static Expected<Spool> open(std::string path, std::uint64_t max_bytes);
  Spool(Spool&&) noexcept;
  Spool& operator=(Spool&&) noexcept;
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;
  ~Spool();

  // Appends the events, all or none (a failed append is cut off again).
  // `durable`: fsync before returning. Fails when they would not fit.
  Status<> append(std::span<const model::AuditEvent> events, bool durable);
  // Every event in it, in order. A last record cut short by a crash (never
  // acknowledged: appends are synced before they count) is skipped.
  Expected<std::vector<model::AuditEvent>> read_all() const;
  // Empties it (after its events reached the store).
  Status<> clear();
  // Holds `events` instead of what it held (after the ones before them
  // reached the store): written beside it, synced, then renamed over it, so
  // a crash leaves either the old contents or the new.
  Status<> replace(std::span<const model::AuditEvent> events);

  std::uint64_t bytes() const { return bytes_; }
  std::uint64_t max_bytes() const { return max_bytes_; }
  bool empty() const { return bytes_ == 0; }
  const std::string& path() const { return path_; }

 private:
  Spool(std::string path, int fd, std::uint64_t bytes, std::uint64_t max_bytes);
  std::string path_;
  int fd_ = -1;
  std::uint64_t bytes_ = 0;
  std::uint64_t max_bytes_ = 0;
};

}  // namespace gh::audit
