// What the recording keeps of a statement's result (`recording.results:
// masked`): its column names and its first rows exactly as the client got
// them, after masking. Sans-I/O: whole server messages in, JSON out.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "base/bytes.h"

namespace gh::adapters::pg {

class ResultCapture {
 public:
  explicit ResultCapture(std::size_t max_rows) : max_rows_(max_rows) {}

  void on_row_description(Bytes body);  // 'T'
  void on_data_row(Bytes body);         // 'D', as sent to the client
  // The result was withheld (a crossed row threshold): nothing of it is kept.
  void withhold();
  // The session sees values in clear that masking rules would mask (it is
  // exempt from them): its rows are not recorded, only why. Empty: recorded.
  void set_exempt(std::vector<std::string> rules) { exempt_ = std::move(rules); }
  bool empty() const { return columns_.empty() && rows_.empty() && !withheld_; }
  // {"columns": [...], "rows": [[text|null, ...]], "truncated": bool} (and
  // "withheld": true); empty when nothing was captured. Resets for the next statement.
  std::string take();

 private:
  std::size_t max_rows_;
  std::vector<std::string> columns_;
  std::vector<bool> binary_;  // per column: binary format (kept as \x hex)
  std::vector<std::vector<std::optional<std::string>>> rows_;
  std::vector<std::optional<Bytes>> values_;  // reused per row
  bool truncated_ = false;
  bool withheld_ = false;
  std::vector<std::string> exempt_;
};

}  // namespace gh::adapters::pg
