// The result masker on server messages as the server frames them: a
// RowDescription plans the result, DataRows are rewritten with correct
// lengths, COPY lines, errors and notifications are masked, binary COPY is
// withheld, and malformed messages never pass raw.
#include "adapters/pg/result_masker.h"

#include <gtest/gtest.h>

#include "adapters/pg/tests/pg_messages.h"
#include "base/bytes.h"

namespace gh::adapters::pg {
namespace {

namespace wire = gh::wire::pg;

masking::Rule pii() {
  masking::Rule r;
  r.name = "pii";
  r.columns = {"public.users.ssn"};
  r.detectors = masking::all_detectors();
  return r;
}

using testing::body_of;
using testing::data_row;
using testing::Field;
using testing::row_description;

std::vector<std::optional<std::string>> values_of(const wire::Buffer& message) {
  std::vector<std::optional<Bytes>> v;
  const auto body = body_of(message);
  EXPECT_TRUE(wire::parse_data_row(body, v));
  std::vector<std::optional<std::string>> out;
  for (auto& b : v)
    out.push_back(b ? std::optional<std::string>(std::string(b->begin(), b->end())) : std::nullopt);
  return out;
}

class ResultMaskerTest : public ::testing::Test {
 protected:
  ResultMaskerTest() : policy_({pii()}, std::vector<std::uint8_t>(32, 1)) {
    std::string error;
    model::Principal p;
    p.subject = "agent";
    masker_.set_rules(policy_.for_session(p, "app", error));
  }
  ResultMasker::Action send(std::uint8_t type, const std::vector<std::uint8_t>& body) {
    return masker_.on_server(type, body, source_of_, out_);
  }
  masking::MaskingPolicy policy_;
  ResultMasker masker_;
  wire::Buffer out_;
  ResultMasker::SourceOf source_of_ = [](std::uint32_t oid, std::int16_t att) {
    if (oid == 16384 && att == 2) return std::optional<std::string>("public.users.ssn");
    if (oid == 16384 && att == 1) return std::optional<std::string>("public.users.id");
    return std::optional<std::string>();
  };
};

using A = ResultMasker::Action;

TEST_F(ResultMaskerTest, AliasedSourceColumnIsMaskedAndTheRowLengthsStayRight) {
  ASSERT_EQ(send('T', row_description({{"id", 16384, 1, 25}, {"x", 16384, 2, 25}})), A::kForward);
  ASSERT_EQ(send('D', data_row({"7", "078051120"})), A::kReplace);
  auto v = values_of(out_);  // parses only when every length is right
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0], "7");
  EXPECT_NE(v[1], "078051120");
  auto counts = masker_.take_counts();
  ASSERT_EQ(counts.by_rule.size(), 1u);
  EXPECT_EQ(counts.by_rule[0], 1u);
  // A clean row of the same result passes as it is.
  EXPECT_EQ(send('D', data_row({"8", std::nullopt})), A::kForward);
}

TEST_F(ResultMaskerTest, ValuesScannedTogetherAreMaskedAsEachAloneWouldBe) {
  std::vector<Field> fields = {{"a", 0, 0, 25}, {"ssn", 16384, 2, 25}, {"c", 0, 0, 1043},
                               {"d", 0, 0, 25}, {"e", 0, 0, 25},       {"p", 0, 0, 25},
                               {"j", 0, 0, 114}};
  std::vector<std::optional<std::string>> row = {"mail jane@example.com now",
                                                 "078-05-1120",
                                                 "4111 1111 1111 1111",
                                                 "plain words",
                                                 std::nullopt,
                                                 "+44 20 7946 0958",
                                                 R"({"k": "bob@example.org"})"};
  row.push_back("12");
  fields.push_back({"n", 0, 0, 23});
  send('T', row_description(fields));
  ASSERT_EQ(send('D', data_row(row)), A::kReplace);
  auto batched = values_of(out_);
  ASSERT_EQ(batched.size(), row.size());
  auto rules = masker_.rules();
  for (std::size_t i = 0; i < row.size(); ++i) {
    SCOPED_TRACE(i);
    if (!row[i]) {
      EXPECT_FALSE(batched[i]);
      continue;
    }
    masking::ColumnSource src{"", fields[i].name, fields[i].type, 0};
    if (fields[i].table) src.source = *source_of_(fields[i].table, fields[i].att);
    masking::Counts c;
    std::string alone;
    auto r = rules->mask_value(rules->plan(src), *row[i], alone, c);
    ASSERT_EQ(batched[i].has_value(), r != masking::Outcome::kWithheld);
    if (batched[i]) {
      EXPECT_EQ(*batched[i], r == masking::Outcome::kRewritten ? alone : *row[i]);
    }
  }
  EXPECT_EQ(batched[3], "plain words");
}

TEST_F(ResultMaskerTest, UnknownSourceOfATableColumnIsMaskedWhole) {
  send('T', row_description({{"anything", 99999, 3, 25}}));
  ASSERT_EQ(send('D', data_row({"plain words"})), A::kReplace);
  EXPECT_NE(values_of(out_)[0], "plain words");
}

TEST_F(ResultMaskerTest, ContentDetectorsApplyToExpressions) {
  send('T', row_description({{"upper", 0, 0, 25}, {"n", 0, 0, 23}}));
  ASSERT_EQ(send('D', data_row({"MAIL JANE@EXAMPLE.COM", "42"})), A::kReplace);
  auto v = values_of(out_);
  EXPECT_EQ(v[0]->find("JANE@EXAMPLE.COM"), std::string::npos);
  EXPECT_EQ(v[1], "42");
}

TEST_F(ResultMaskerTest, RowNotMatchingItsDescriptionIsWithheld) {
  send('T', row_description({{"a", 0, 0, 25}, {"b", 0, 0, 25}}));
  ASSERT_EQ(send('D', data_row({"jane@example.com"})), A::kReplace);
  auto v = values_of(out_);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_FALSE(v[0]);
  EXPECT_FALSE(v[1]);
}

TEST_F(ResultMaskerTest, CopyLinesAreMaskedAndBinaryCopyIsWithheldWithAnError) {
  std::vector<std::uint8_t> text_copy = {0, 0, 2, 0, 0, 0, 0};  // text, 2 columns
  EXPECT_EQ(send('H', text_copy), A::kForward);
  std::string line = "1\tjane@example.com\n";
  ASSERT_EQ(send('d', {line.begin(), line.end()}), A::kReplace);
  std::string masked(out_.begin() + wire::Header::kSize, out_.end());
  EXPECT_EQ(masked.find("jane@example.com"), std::string::npos);
  EXPECT_TRUE(masked.starts_with("1\t"));
  EXPECT_TRUE(masked.ends_with("\n"));
  std::string tag = "COPY 1";
  tag += '\0';
  EXPECT_EQ(send('C', {tag.begin(), tag.end()}), A::kForward);

  std::vector<std::uint8_t> binary_copy = {1, 0, 1, 0, 1};
  EXPECT_EQ(send('H', binary_copy), A::kForward);
  EXPECT_EQ(send('d', {'P', 'G', 'C', 'O', 'P', 'Y'}), A::kDrop);
  ASSERT_EQ(send('C', {tag.begin(), tag.end()}), A::kReplace);
  EXPECT_EQ(out_[0], 'E');
  const auto copy_error = body_of(out_);
  auto f = wire::parse_error_fields(copy_error);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->get('C'), "0A000");
  EXPECT_GT(masker_.take_counts().withheld, 0u);
}

TEST_F(ResultMaskerTest, ErrorFieldsAndNotificationsAreMasked) {
  wire::Buffer err;
  wire::encode_error_response(err, {.sqlstate = "23505",
                                    .message = "duplicate key value",
                                    .detail = "Key (email)=(jane@example.com) already exists."});
  ASSERT_EQ(send('E', body_of(err)), A::kReplace);
  const auto masked_error = body_of(out_);
  auto f = wire::parse_error_fields(masked_error);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->get('C'), "23505");
  EXPECT_EQ(std::string(f->get('D')).find("jane@example.com"), std::string::npos);
  EXPECT_NE(std::string(f->get('D')).find("already exists"), std::string::npos);

  wire::Buffer n;
  wire::encode_notification(n, {42, "leads", "new jane@example.com"});
  ASSERT_EQ(send('A', body_of(n)), A::kReplace);
  std::string payload(out_.begin(), out_.end());
  EXPECT_EQ(payload.find("jane@example.com"), std::string::npos);
  // What cannot be read is not passed on.
  EXPECT_EQ(send('A', {0, 0}), A::kDrop);
  ASSERT_EQ(send('E', {'M', 'x'}), A::kReplace);
  EXPECT_EQ(out_[0], 'E');
}

TEST_F(ResultMaskerTest, NothingChangesWithoutRules) {
  ResultMasker none;
  wire::Buffer out;
  auto row = data_row({"jane@example.com"});
  EXPECT_FALSE(none.active());
  EXPECT_EQ(none.on_server('D', row, {}, out), A::kForward);
}

}  // namespace
}  // namespace gh::adapters::pg

namespace gh::adapters::pg {
namespace {

TEST_F(ResultMaskerTest, ComputedColumnsFollowTheirLineage) {
  auto lineage = std::make_shared<sql::Lineage>();
  lineage->aligned = true;
  lineage->columns.push_back({{{"public.users.ssn", false, {}}}, false, false});
  lineage->columns.push_back({{{"public.users.id", false, {}}}, false, false});
  masker_.expect_lineage(lineage);
  send('T', row_description({{"substr", 0, 0, 25}, {"n", 0, 0, 25}}));
  ASSERT_EQ(send('D', data_row({"078-05", "7"})), A::kReplace);
  auto v = values_of(out_);
  EXPECT_NE(v[0], "078-05");
  EXPECT_EQ(v[1], "7");
}

TEST_F(ResultMaskerTest, ComputedColumnsOfAnUnknownStatementAreMaskedWhole) {
  masker_.expect_lineage(nullptr);
  send('T', row_description({{"substr", 0, 0, 25}, {"id", 16384, 1, 23}}));
  ASSERT_EQ(send('D', data_row({"078-05", "7"})), A::kReplace);
  auto v = values_of(out_);
  EXPECT_NE(v[0], "078-05");
  EXPECT_EQ(v[1], "7");
}

TEST_F(ResultMaskerTest, UnalignedLineageMasksComputedColumnsByWhatTheStatementReads) {
  auto lineage = std::make_shared<sql::Lineage>();
  lineage->aligned = false;
  lineage->everything = {{"public.users.ssn", false, {}}, {"public.users.id", false, {}}};
  masker_.expect_lineage(lineage);
  send('T', row_description({{"g", 0, 0, 25}, {"id", 16384, 1, 23}}));
  ASSERT_EQ(send('D', data_row({"078-05", "7"})), A::kReplace);
  auto v = values_of(out_);
  EXPECT_NE(v[0], "078-05");
  EXPECT_EQ(v[1], "7");
  // A statement that reads nothing masked keeps its computed values.
  auto clean = std::make_shared<sql::Lineage>();
  clean->everything = {{"public.users.id", false, {}}};
  masker_.expect_lineage(clean);
  send('T', row_description({{"g", 0, 0, 25}}));
  EXPECT_EQ(send('D', data_row({"plain"})), A::kForward);
}

}  // namespace
}  // namespace gh::adapters::pg
