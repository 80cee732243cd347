#include "base/log.h"

#include <spdlog/sinks/stdout_sinks.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>

namespace gh::log {
namespace {

// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no overlong
// forms, no surrogates, nothing past U+10FFFF), or 0 when there is none.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = at(i);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the second byte's range
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size() || at(i + 1) < lo || at(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if ((at(i + k) & 0xC0) != 0x80) return 0;
  return n;
}

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Appends `s` with control characters escaped (JSON: all of them; text: all
// but newline and tab) and each byte of invalid UTF-8 replaced by U+FFFD.
template <class Out>
void append_escaped(Out& out, std::string_view s, bool json) {
  auto put = [&](std::string_view v) { out.append(v.data(), v.data() + v.size()); };
  std::size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) {
      const std::size_t n = utf8_length(s, i);
      if (n == 0) {
        put(json ? std::string_view("\\ufffd") : kReplacement);
        ++i;
      } else {
        put(s.substr(i, n));
        i += n;
      }
      continue;
    }
    ++i;
    if (json && c == '"') {
      put("\\\"");
    } else if (json && c == '\\') {
      put("\\\\");
    } else if (c == '\n') {
      put(json ? "\\n" : "\n");
    } else if (c == '\t') {
      put(json ? "\\t" : "\t");
    } else if (json && c == '\r') {
      put("\\r");
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, json ? "\\u%04x" : "\\x%02x", static_cast<unsigned>(u));
      put(buf);
    } else {
      put(std::string_view(&c, 1));
    }
  }
}

std::string_view level_name(spdlog::level::level_enum level) {
  const auto name = spdlog::level::to_string_view(level);
  return std::string_view(name.data(), name.size());
}

// The two line formats share the timestamp: RFC 3339 UTC with milliseconds,
// formatted once per second.
class LineFormatter : public spdlog::formatter {
 public:
  explicit LineFormatter(std::string replica) : replica_(std::move(replica)) {}

 protected:
  void append_time(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
    using namespace std::chrono;
    const auto since = msg.time.time_since_epoch();
    const auto secs = duration_cast<seconds>(since);
    if (secs.count() != cached_second_) {
      cached_second_ = secs.count();
      const std::time_t t = static_cast<std::time_t>(secs.count());
      std::tm tm{};
      gmtime_r(&t, &tm);
      char buf[24];
      cached_len_ = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
      std::copy(buf, buf + cached_len_, cached_);
    }
    dest.append(cached_, cached_ + cached_len_);
    char ms[8];
    const int n =
        std::snprintf(ms, sizeof ms, ".%03dZ",
                      static_cast<int>(duration_cast<milliseconds>(since - secs).count()));
    dest.append(ms, ms + n);
  }
  static void put(spdlog::memory_buf_t& dest, std::string_view v) {
    dest.append(v.data(), v.data() + v.size());
  }

  std::string replica_;

 private:
  std::int64_t cached_second_ = -1;
  char cached_[24] = {};
  std::size_t cached_len_ = 0;
};

class JsonLines final : public LineFormatter {
 public:
  explicit JsonLines(std::string replica) : LineFormatter(std::move(replica)) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    put(dest, R"({"ts":")");
    append_time(msg, dest);
    put(dest, R"(","level":")");
    put(dest, level_name(msg.level));
    put(dest, R"(","logger":")");
    append_escaped(dest, std::string_view(msg.logger_name.data(), msg.logger_name.size()), true);
    put(dest, R"(","thread":)");
    put(dest, std::to_string(msg.thread_id));
    put(dest, R"(,"replica":")");
    append_escaped(dest, replica_, true);
    put(dest, R"(","msg":")");
    append_escaped(dest, std::string_view(msg.payload.data(), msg.payload.size()), true);
    put(dest, "\"}\n");
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonLines>(replica_);
  }
};

class TextLines final : public LineFormatter {
 public:
  explicit TextLines(std::string replica) : LineFormatter(std::move(replica)) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    append_time(msg, dest);
    put(dest, " ");
    put(dest, level_name(msg.level));
    put(dest, " [");
    append_escaped(dest, replica_, false);
    put(dest, "] ");
    append_escaped(dest, std::string_view(msg.payload.data(), msg.payload.size()), false);
    put(dest, "\n");
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<TextLines>(replica_);
  }
};

}  // namespace

std::unique_ptr<spdlog::formatter> make_formatter(Format format, std::string_view replica_id) {
  if (format == Format::kText) return std::make_unique<TextLines>(std::string(replica_id));
  return std::make_unique<JsonLines>(std::string(replica_id));
}

void init(std::string_view level, std::string_view replica_id, Format format) {
  auto logger = spdlog::stderr_logger_mt("gatehouse");
  logger->set_formatter(make_formatter(format, replica_id));
  logger->set_level(spdlog::level::from_str(std::string(level)));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  append_escaped(out, s, true);
  return out;
}

}  // namespace gh::log
