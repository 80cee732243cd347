#include "audit/spool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <utility>

namespace nlohmann {
// Parameters may be NULL.
template <typename T>
struct adl_serializer<std::optional<T>> {
  static void to_json(json& j, const std::optional<T>& v) {
    if (v)
      j = *v;
    else
      j = nullptr;
  }
  static void from_json(const json& j, std::optional<T>& v) {
    if (j.is_null())
      v.reset();
    else
      v = j.get<T>();
  }
};
}  // namespace nlohmann

namespace gh::model {
// Field lists of the events, for the spool only (the audit trail's own
// encoding is the canonical record, audit/chain.h). A missing member reads as
// its default, so a spool written before a field existed still reads.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(SessionStart, session_id, at_us, replica, subject,
                                                groups, issuer, token_hash, client_addr, tls,
                                                listener, connection, protocol, user_label,
                                                application_name)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(CopyOut, table, columns, csv, delimiter, quote)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(StatementDecision, kind, cls, tables, functions,
                                                decision, rule, policy_version, approval_id,
                                                copy_outs)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(MaskCount, rule, values)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(StatementEvent, session_id, seq, at_us, duration_us,
                                                text, protocol_path, rows, outcome, command_tag,
                                                error_code, error_message, decision, masked,
                                                withheld, result, params)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(StatementIntent, session_id, seq, at_us, text,
                                                protocol_path, decision)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(SessionEnd, session_id, at_us, reason,
                                                bytes_from_client, bytes_to_client, statements)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ConnectionRefused, at_us, replica, client_addr,
                                                listener, connection, subject, token_hash, sqlstate,
                                                reason)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(PolicyEvent, at_us, replica, version, action,
                                                outcome, detail, source)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ApprovalEvent, at_us, replica, request_id, event,
                                                status, rule, kind, requester, actor, detail,
                                                connection, session_id, statement, text_hash,
                                                params_hash, policy_version)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TokenEvent, at_us, replica, action, actor, subject,
                                                groups, connections, expires_at, token_hash, kid)
}  // namespace gh::model

namespace gh::audit {

namespace {

// The event's type by name, so that reordering the variant cannot misread a spool.
constexpr const char* kTypes[] = {"session_start", "statement", "session_end", "refused",
                                  "policy",        "approval",  "token",       "intent"};
static_assert(std::size(kTypes) == std::variant_size_v<model::AuditEvent>);

template <std::size_t I = 0>
Expected<model::AuditEvent> from(std::size_t index, const nlohmann::json& j) {
  if constexpr (I < std::variant_size_v<model::AuditEvent>) {
    if (index == I)
      return model::AuditEvent(std::in_place_index<I>,
                               j.get<std::variant_alternative_t<I, model::AuditEvent>>());
    return from<I + 1>(index, j);
  } else {
    return unexpected(std::string("unknown event type"));
  }
}

std::string sys_error(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

}  // namespace

std::string spool_record(const model::AuditEvent& event) {
  nlohmann::json j;
  j["type"] = kTypes[event.index()];
  std::visit([&](const auto& e) { j["event"] = e; }, event);
  // CBOR keeps a string's bytes as they are, UTF-8 or not (JSON text could not).
  const std::vector<std::uint8_t> cbor = nlohmann::json::to_cbor(j);
  std::string out(4 + cbor.size(), '\0');
  const auto n = static_cast<std::uint32_t>(cbor.size());
  for (int i = 0; i < 4; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>(n >> (8 * i));
  std::memcpy(out.data() + 4, cbor.data(), cbor.size());
  return out;
}

Expected<model::AuditEvent> parse_spool_record(std::string_view body) {
  auto j = nlohmann::json::from_cbor(body.begin(), body.end(), true, false);
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string() || !j.contains("event"))
    return unexpected(std::string("not a spool record"));
  const std::string type = j["type"].get<std::string>();
  for (std::size_t i = 0; i < std::size(kTypes); ++i) {
    if (type != kTypes[i]) continue;
    try {
      return from(i, j["event"]);
    } catch (const nlohmann::json::exception& e) {
      return unexpected(std::string("bad ") + type + " event: " + e.what());
    }
  }
  return unexpected("unknown event type " + type);
}

Expected<Spool> Spool::open(std::string path, std::uint64_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return unexpected(sys_error("audit spool: open", path));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const std::string e = sys_error("audit spool: stat", path);
    ::close(fd);
    return unexpected(e);
  }
  return Spool(std::move(path), fd, static_cast<std::uint64_t>(st.st_size), max_bytes);
}

Spool::Spool(std::string path, int fd, std::uint64_t bytes, std::uint64_t max_bytes)
    : path_(std::move(path)), fd_(fd), bytes_(bytes), max_bytes_(max_bytes) {}

Spool::Spool(Spool&& o) noexcept
    : path_(std::move(o.path_)),
      fd_(std::exchange(o.fd_, -1)),
      bytes_(o.bytes_),
      max_bytes_(o.max_bytes_) {}

Spool& Spool::operator=(Spool&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(o.path_);
    fd_ = std::exchange(o.fd_, -1);
    bytes_ = o.bytes_;
    max_bytes_ = o.max_bytes_;
  }
  return *this;
}

Spool::~Spool() {
  if (fd_ >= 0) ::close(fd_);
}

Status<> Spool::append(std::span<const model::AuditEvent> events, bool durable) {
  std::string out;
  for (const auto& e : events) out += spool_record(e);
  if (bytes_ + out.size() > max_bytes_)
    return unexpected("audit spool " + path_ + " is full (" + std::to_string(bytes_) + " of " +
                      std::to_string(max_bytes_) + " bytes)");
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::write(fd_, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string e = sys_error("audit spool: write", path_);
      // All or none: what went in of this batch is cut off again.
      if (::ftruncate(fd_, static_cast<off_t>(bytes_)) != 0) {
      }
      return unexpected(e);
    }
    done += static_cast<std::size_t>(n);
  }
  if (durable && ::fdatasync(fd_) != 0) {
    const std::string e = sys_error("audit spool: sync", path_);
    if (::ftruncate(fd_, static_cast<off_t>(bytes_)) != 0) {
    }
    return unexpected(e);
  }
  bytes_ += out.size();
  return Ok{};
}

Expected<std::vector<model::AuditEvent>> Spool::read_all() const {
  std::ifstream in(path_, std::ios::binary);
  if (!in) return unexpected(sys_error("audit spool: read", path_));
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<model::AuditEvent> out;
  std::size_t at = 0;
  while (data.size() - at >= 4) {
    std::uint32_t n = 0;
    for (int i = 0; i < 4; ++i)
      n |= static_cast<std::uint32_t>(
               static_cast<unsigned char>(data[at + static_cast<std::size_t>(i)]))
           << (8 * i);
    // A record cut short by a crash was never acknowledged (appends are
    // synced before they count): the spool ends before it.
    if (data.size() - at - 4 < n) break;
    auto e = parse_spool_record(std::string_view(data).substr(at + 4, n));
    if (!e)
      return unexpected("audit spool " + path_ + " at byte " + std::to_string(at) + ": " +
                        e.error());
    out.push_back(std::move(*e));
    at += 4 + n;
  }
  return out;
}

Status<> Spool::clear() {
  if (::ftruncate(fd_, 0) != 0 || ::fdatasync(fd_) != 0)
    return unexpected(sys_error("audit spool: truncate", path_));
  bytes_ = 0;
  return Ok{};
}

Status<> Spool::replace(std::span<const model::AuditEvent> events) {
  if (events.empty()) return clear();
  std::string out;
  for (const auto& e : events) out += spool_record(e);
  const std::string tmp = path_ + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return unexpected(sys_error("audit spool: open", tmp));
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::write(fd, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  if (done < out.size() || ::fdatasync(fd) != 0) {
    const std::string e = sys_error("audit spool: write", tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return unexpected(e);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    const std::string e = sys_error("audit spool: rename", tmp);
    ::unlink(tmp.c_str());
    return unexpected(e);
  }
  const int now = ::open(path_.c_str(), O_RDWR | O_APPEND | O_CLOEXEC);
  if (now < 0) return unexpected(sys_error("audit spool: open", path_));
  if (fd_ >= 0) ::close(fd_);
  fd_ = now;
  bytes_ = out.size();
  return Ok{};
}

}  // namespace gh::audit
