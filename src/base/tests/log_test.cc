// Log lines: JSON lines stay one valid JSON object per line whatever a
// message holds (quotes, newlines, control characters, invalid UTF-8); text
// lines escape what could forge or garble a line on a terminal.
#include "base/log.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

namespace gh::log {
namespace {

using Json = nlohmann::json;

std::string format_line(Format format, std::string_view message,
                        spdlog::level::level_enum level = spdlog::level::info,
                        std::string_view replica = "gw-1") {
  auto formatter = make_formatter(format, replica);
  spdlog::details::log_msg msg("gatehouse", level,
                               spdlog::string_view_t(message.data(), message.size()));
  spdlog::memory_buf_t buf;
  formatter->format(msg, buf);
  return std::string(buf.data(), buf.size());
}

Json parse_line(const std::string& line) {
  EXPECT_TRUE(line.ends_with("\n"));
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "more than one line: " << line;
  return Json::parse(line);  // throws on invalid JSON or invalid UTF-8
}

TEST(JsonLines, EveryLineIsOneObjectWithTheFields) {
  const Json j = parse_line(format_line(Format::kJson, "session s-1 started", spdlog::level::warn));
  EXPECT_TRUE(std::regex_match(j.at("ts").get<std::string>(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
      << j.at("ts");
  EXPECT_EQ(j.at("level"), "warning");
  EXPECT_EQ(j.at("logger"), "gatehouse");
  EXPECT_TRUE(j.at("thread").is_number_unsigned());
  EXPECT_EQ(j.at("replica"), "gw-1");
  EXPECT_EQ(j.at("msg"), "session s-1 started");
}

TEST(JsonLines, QuotesBackslashesNewlinesAndControlCharactersRoundTrip) {
  const std::string message =
      "a \"quoted\" \\path\\ line one\nline two\r\n\ttab \x01\x1b[31mred\x7f end";
  const Json j = parse_line(format_line(Format::kJson, message));
  EXPECT_EQ(j.at("msg"), message);
}

TEST(JsonLines, InvalidUtf8BecomesReplacementCharacters) {
  const std::string good = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80";  // é € 😀
  EXPECT_EQ(parse_line(format_line(Format::kJson, good)).at("msg"), good);
  struct Case {
    std::string in, out;
  } cases[] = {
      {"\xFF", "\xEF\xBF\xBD"},                                  // never valid
      {"a\xC3", "a\xEF\xBF\xBD"},                                // truncated at the end
      {"\xC3(", "\xEF\xBF\xBD("},                                // bad continuation
      {"\xC0\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD"},                  // overlong '/'
      {"\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},  // a surrogate
      {"\xF4\x90\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},  // > U+10FFFF
      {"\xE2\x82", "\xEF\xBF\xBD\xEF\xBF\xBD"},  // a three-byte sequence cut short
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(json_escape(c.in));
    const Json j = parse_line(format_line(Format::kJson, "x" + c.in + "y"));
    EXPECT_EQ(j.at("msg"), "x" + c.out + "y");
  }
}

TEST(JsonLines, TheReplicaIsEscapedToo) {
  const Json j = parse_line(format_line(Format::kJson, "m", spdlog::level::info, "gw \"%v\"\n"));
  EXPECT_EQ(j.at("replica"), "gw \"%v\"\n");
}

TEST(JsonEscape, EscapesWhatJsonRequires) {
  EXPECT_EQ(json_escape("plain"), "plain");
  EXPECT_EQ(json_escape("\"\\\n\r\t"), "\\\"\\\\\\n\\r\\t");
  EXPECT_EQ(json_escape(std::string("\x00\x1f", 2)), "\\u0000\\u001f");
  EXPECT_EQ(json_escape("\xFF"), "\\ufffd");
}

TEST(TextLines, ReadableAndCannotBeForgedWithControlCharacters) {
  const std::string line =
      format_line(Format::kText, "reload refused:\n  a.yaml:3: bad\x1b[2J\xFF", spdlog::level::err);
  EXPECT_TRUE(std::regex_search(
      line, std::regex(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z error \[gw-1\] )")))
      << line;
  EXPECT_TRUE(line.ends_with("reload refused:\n  a.yaml:3: bad\\x1b[2J\xEF\xBF\xBD\n")) << line;
}

}  // namespace
}  // namespace gh::log
