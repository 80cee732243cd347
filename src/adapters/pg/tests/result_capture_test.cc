// What the recording keeps of a result: columns, the first rows as sent,
// binary values as hex, nothing of a withheld result.
#include "adapters/pg/result_capture.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "adapters/pg/tests/pg_messages.h"

namespace gh::adapters::pg {
namespace {

using testing::data_row;
using testing::row_description;

TEST(ResultCapture, KeepsColumnsAndTheFirstRowsThenSaysItWasCut) {
  ResultCapture c(2);
  c.on_row_description(row_description({{"id", 0, 0, 23}, {"email"}}));
  for (const auto& r :
       {data_row({"1", "j****@*****.com"}), data_row({"2", std::nullopt}), data_row({"3", "x"})})
    c.on_data_row(r);
  auto j = nlohmann::json::parse(c.take());
  EXPECT_EQ(j["columns"], nlohmann::json::array({"id", "email"}));
  EXPECT_EQ(j["rows"], nlohmann::json::parse(R"([["1","j****@*****.com"],["2",null]])"));
  EXPECT_EQ(j["truncated"], true);
  // take() starts the next statement afresh.
  EXPECT_EQ(c.take(), "");
}

TEST(ResultCapture, BinaryValuesAreKeptAsHexAndAWithheldResultKeepsNoRows) {
  ResultCapture c(10);
  c.on_row_description(row_description({{"raw", 0, 0, 17, 1}}));
  c.on_data_row(data_row({std::string("\x01\xff", 2)}));
  auto j = nlohmann::json::parse(c.take());
  EXPECT_EQ(j["rows"][0][0], "\\x01ff");
  c.on_row_description(row_description({{"v"}}));
  c.on_data_row(data_row({"secret"}));
  c.withhold();
  c.on_data_row(data_row({"later"}));
  auto w = c.take();
  EXPECT_EQ(w.find("secret"), std::string::npos);
  EXPECT_EQ(w.find("later"), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(w)["withheld"], true);
}

TEST(ResultCapture, ASessionExemptFromMaskingHasNoRowsRecorded) {
  ResultCapture c(10);
  c.set_exempt({"pii"});
  c.on_row_description(row_description({{"email"}}));
  c.on_data_row(data_row({"jane.doe@example.com"}));
  auto out = c.take();
  EXPECT_EQ(out.find("jane.doe"), std::string::npos) << out;
  auto j = nlohmann::json::parse(out);
  EXPECT_TRUE(j["rows"].empty());
  EXPECT_NE(j["not_recorded"].get<std::string>().find("exempt from masking (pii)"),
            std::string::npos);
}

TEST(ResultCapture, MalformedMessagesAreSkippedNotTrusted) {
  ResultCapture c(10);
  const std::vector<std::uint8_t> junk = {0, 5, 0, 0};
  c.on_data_row(junk);
  c.on_row_description(junk);
  EXPECT_EQ(c.take(), "");
}

TEST(ResultCapture, InvalidUtf8IsReplacedNotThrownOn) {
  ResultCapture c(10);
  c.on_row_description(row_description({{"t"}}));
  c.on_data_row(data_row({std::string("a\xff\xfe", 3)}));
  auto j = nlohmann::json::parse(c.take(), nullptr, false);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["rows"].size(), 1u);
}

}  // namespace
}  // namespace gh::adapters::pg
