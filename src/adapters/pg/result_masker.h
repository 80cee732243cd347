// Masks what the server sends back before the client sees it: DataRow values
// (text and binary), CopyData lines of COPY … TO STDOUT, the text fields of
// ErrorResponse and NoticeResponse, and NotificationResponse payloads. The
// plan for a result is made at its RowDescription from each column's source
// (table OID and attribute number, resolved through the relation catalog),
// output name, type and format. A value that cannot be masked is withheld
// (sent as NULL); binary COPY output, which cannot be rewritten, is withheld
// whole and ends in an error. Sans-I/O: whole messages in, replacements out.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "masking/rules.h"
#include "sql/lineage.h"
#include "wire/pg/protocol.h"

namespace gh::adapters::pg {

class ResultMasker {
 public:
  // "schema.table.column" of a table column; nullopt when unknown.
  using SourceOf =
      std::function<std::optional<std::string>(std::uint32_t table_oid, std::int16_t attnum)>;

  void set_rules(std::shared_ptr<const masking::SessionMasker> rules);
  bool active() const { return rules_ && rules_->active(); }
  const masking::SessionMasker* rules() const { return rules_.get(); }

  // The table OIDs of a RowDescription (to look up before on_server sees it).
  static std::vector<std::uint32_t> tables_of(Bytes row_description);

  // Before the next RowDescription: the lineage of the statement it describes
  // (null when the gateway cannot tell which statement that is: its computed
  // columns are then masked whole by the first column rule, fail closed).
  // Without this call a description is planned from its columns alone.
  void expect_lineage(std::shared_ptr<const sql::Lineage> lineage);

  // Before the next CopyOutResponse: how its lines are written and the source
  // of each column (empty when unknown, e.g. COPY (query)); `unresolved`: a
  // table was named but its columns could not be looked up (fail closed).
  void expect_copy(masking::CopyFormat format, std::vector<masking::ColumnSource> columns,
                   bool unresolved);

  enum class Action { kForward, kReplace, kDrop };
  // One whole server message. kReplace: `out` holds the message to send
  // instead (header included); kDrop: send nothing for it.
  Action on_server(std::uint8_t type, Bytes body, const SourceOf& source_of, wire::pg::Buffer& out);

  // What was masked since the last call (attached to the statement it belongs to).
  masking::Counts take_counts();
  bool has_counts() const { return counts_.any(); }

 private:
  Action on_row_description(Bytes body, const SourceOf& source_of);
  Action on_data_row(Bytes body, wire::pg::Buffer& out);
  Action on_fields(std::uint8_t type, Bytes body, wire::pg::Buffer& out);

  std::shared_ptr<const masking::SessionMasker> rules_;
  std::shared_ptr<const sql::Lineage> lineage_;
  bool lineage_expected_ = false;  // expect_lineage() was called for the next description
  std::vector<masking::ColumnPlan> plan_;
  bool plan_needs_work_ = false;
  bool copy_out_ = false;
  bool copy_binary_ = false;
  std::uint64_t copy_withheld_ = 0;  // CopyData messages of a binary COPY held back
  masking::CopyFormat copy_format_;
  std::vector<int> copy_rules_;  // per field: the rule masking it whole, or -1
  bool copy_expected_ = false;
  std::vector<masking::ColumnSource> copy_columns_;
  bool copy_unresolved_ = false;
  masking::Counts counts_;
  // Reused per row.
  std::vector<std::optional<Bytes>> values_;
  std::vector<std::string> masked_;
  std::string scratch_;
  // Reused per row: the values scanned together, their text, where each starts.
  std::vector<std::size_t> batch_;
  std::string joined_;
  std::vector<std::size_t> starts_;
  std::vector<masking::Finding> found_;
  std::vector<std::pair<std::size_t, std::size_t>> spans_;
};

}  // namespace gh::adapters::pg
