#include "adapters/pg/result_capture.h"

#include <nlohmann/json.hpp>

#include "base/bytes.h"
#include "wire/pg/protocol.h"

namespace gh::adapters::pg {

namespace wire = gh::wire::pg;

void ResultCapture::on_row_description(Bytes body) {
  auto fields = wire::parse_row_description(body);
  if (!fields) return;
  // A multi-statement Query: the first result's columns name what is kept.
  if (!columns_.empty()) return;
  for (const auto& f : *fields) {
    columns_.emplace_back(f.name);
    binary_.push_back(f.format == 1);
  }
}

void ResultCapture::on_data_row(Bytes body) {
  if (withheld_) return;
  if (!exempt_.empty()) {
    truncated_ = true;  // rows there were, none kept
    return;
  }
  if (rows_.size() >= max_rows_) {
    truncated_ = true;
    return;
  }
  if (!wire::parse_data_row(body, values_)) return;
  std::vector<std::optional<std::string>> row;
  row.reserve(values_.size());
  for (std::size_t i = 0; i < values_.size(); ++i) {
    if (!values_[i]) {
      row.emplace_back(std::nullopt);
      continue;
    }
    const Bytes v = *values_[i];
    if (i < binary_.size() && binary_[i]) {
      std::string hex = "\\x";
      append_hex(hex, v);
      row.emplace_back(std::move(hex));
    } else {
      row.emplace_back(std::string(reinterpret_cast<const char*>(v.data()), v.size()));
    }
  }
  rows_.push_back(std::move(row));
}

void ResultCapture::withhold() {
  rows_.clear();
  truncated_ = false;
  withheld_ = true;
}

std::string ResultCapture::take() {
  std::string out;
  if (!empty()) {
    nlohmann::json j;
    j["columns"] = columns_;
    auto rows = nlohmann::json::array();
    for (const auto& r : rows_) {
      auto row = nlohmann::json::array();
      for (const auto& v : r) row.push_back(v ? nlohmann::json(*v) : nlohmann::json(nullptr));
      rows.push_back(std::move(row));
    }
    j["rows"] = std::move(rows);
    j["truncated"] = truncated_;
    if (withheld_) j["withheld"] = true;
    if (!exempt_.empty()) {
      std::string names;
      for (const auto& r : exempt_) names += (names.empty() ? "" : ", ") + r;
      j["not_recorded"] = "the session is exempt from masking (" + names +
                          "): values it sees in clear are not recorded";
    }
    // Values are the server's bytes: invalid UTF-8 is replaced, never thrown on.
    out = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  columns_.clear();
  binary_.clear();
  rows_.clear();
  truncated_ = false;
  withheld_ = false;
  return out;
}

}  // namespace gh::adapters::pg
