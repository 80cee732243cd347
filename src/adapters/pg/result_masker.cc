#include "adapters/pg/result_masker.h"

#include <algorithm>

namespace gh::adapters::pg {

namespace wire = gh::wire::pg;
using masking::Outcome;

namespace {

std::string_view as_text(Bytes b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

Bytes as_bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// The fields of an error or notice that can echo data: message, detail,
// hint, context, internal query.
bool maskable_field(char code) {
  return code == 'M' || code == 'D' || code == 'H' || code == 'W' || code == 'q';
}

}  // namespace

void ResultMasker::set_rules(std::shared_ptr<const masking::SessionMasker> rules) {
  rules_ = std::move(rules);
  plan_.clear();
  plan_needs_work_ = false;
}

std::vector<std::uint32_t> ResultMasker::tables_of(Bytes row_description) {
  std::vector<std::uint32_t> out;
  auto fields = wire::parse_row_description(row_description);
  if (!fields) return out;
  for (const auto& f : *fields)
    if (f.table_oid != 0 && std::find(out.begin(), out.end(), f.table_oid) == out.end())
      out.push_back(f.table_oid);
  return out;
}

void ResultMasker::expect_lineage(std::shared_ptr<const sql::Lineage> lineage) {
  lineage_ = std::move(lineage);
  lineage_expected_ = true;
}

void ResultMasker::expect_copy(masking::CopyFormat format,
                               std::vector<masking::ColumnSource> columns, bool unresolved) {
  copy_expected_ = true;
  copy_format_ = format;
  copy_columns_ = std::move(columns);
  copy_unresolved_ = unresolved;
}

masking::Counts ResultMasker::take_counts() {
  masking::Counts c = counts_;
  counts_.clear();
  return c;
}

ResultMasker::Action ResultMasker::on_server(std::uint8_t type, Bytes body,
                                             const SourceOf& source_of, wire::Buffer& out) {
  if (!active()) return Action::kForward;
  switch (type) {
    case 'T':
      return on_row_description(body, source_of);
    case 'D':
      return on_data_row(body, out);
    case 'E':
    case 'N':
      if (type == 'E') copy_out_ = copy_binary_ = false;
      return on_fields(type, body, out);
    case 'A': {
      auto n = wire::parse_notification(body);
      if (!n) return Action::kDrop;  // what cannot be read cannot be masked
      std::string channel, payload;
      bool c = rules_->mask_text(n->channel, channel, counts_) == Outcome::kRewritten;
      bool p = rules_->mask_text(n->payload, payload, counts_) == Outcome::kRewritten;
      if (!c && !p) return Action::kForward;
      out.clear();
      wire::encode_notification(out, {n->pid, c ? std::string_view(channel) : n->channel,
                                      p ? std::string_view(payload) : n->payload});
      return Action::kReplace;
    }
    case 'H': {
      auto format = wire::parse_copy_response(body);
      copy_out_ = true;
      copy_binary_ = !format || *format != 0;
      copy_withheld_ = 0;
      copy_rules_.clear();
      if (!copy_expected_) copy_format_ = {};
      if (copy_expected_ && (rules_->has_column_rules() || rules_->has_json_paths())) {
        const std::size_t n = body.size() >= 3 ? (std::size_t{body[1]} << 8) | body[2] : 0;
        if (copy_unresolved_) {
          copy_rules_.assign(n, rules_->first_column_rule());
        } else if (copy_columns_.size() == n) {
          for (const auto& c : copy_columns_) copy_rules_.push_back(rules_->column_rule_for(c));
          if (std::all_of(copy_rules_.begin(), copy_rules_.end(), [](int r) { return r < 0; }))
            copy_rules_.clear();
        } else if (!copy_columns_.empty()) {
          copy_rules_.assign(n, rules_->first_column_rule());  // not what was described
        }
      }
      copy_expected_ = false;
      return Action::kForward;
    }
    case 'd': {
      if (!copy_out_) return Action::kForward;
      if (copy_binary_) {
        ++copy_withheld_;
        return Action::kDrop;
      }
      // A COPY line in text or CSV: replacements never contain a delimiter,
      // quote, escape or newline, so the line keeps its fields.
      if (rules_->mask_copy_line(as_text(body), copy_format_, copy_rules_, scratch_, counts_) !=
          Outcome::kRewritten)
        return Action::kForward;
      out.clear();
      wire::encode_copy_data(out, as_bytes_of(scratch_));
      return Action::kReplace;
    }
    case 'C': {
      const bool binary = copy_out_ && copy_binary_;
      copy_out_ = copy_binary_ = false;
      plan_.clear();
      plan_needs_work_ = false;
      if (!binary) return Action::kForward;
      counts_.withheld += copy_withheld_;
      out.clear();
      wire::encode_error_response(
          out, {.severity = "ERROR",
                .sqlstate = "0A000",
                .message = "gatehouse: binary COPY output cannot be masked and was withheld",
                .hint = "Use COPY … TO STDOUT in text or CSV format."});
      return Action::kReplace;
    }
    default:
      return Action::kForward;
  }
}

ResultMasker::Action ResultMasker::on_row_description(Bytes body, const SourceOf& source_of) {
  plan_.clear();
  plan_needs_work_ = false;
  auto fields = wire::parse_row_description(body);
  if (!fields) {
    plan_needs_work_ = true;  // no plan: every row of it is withheld
    lineage_.reset();
    lineage_expected_ = false;
    return Action::kForward;
  }
  // Lineage matters to rules that name columns or JSON paths; content
  // detectors run on every value whatever it comes from.
  const bool lineage =
      lineage_expected_ && (rules_->has_column_rules() || rules_->has_json_paths());
  auto lineage_of = std::move(lineage_);
  lineage_expected_ = false;
  const bool aligned =
      lineage_of && lineage_of->aligned && lineage_of->columns.size() == fields->size();
  for (std::size_t i = 0; i < fields->size(); ++i) {
    const auto& f = (*fields)[i];
    masking::ColumnSource src;
    src.name = std::string(f.name);
    src.type_oid = f.type_oid;
    src.format = f.format;
    if (f.table_oid != 0 && f.attnum > 0) {
      auto s = source_of ? source_of(f.table_oid, f.attnum) : std::nullopt;
      if (s)
        src.source = std::move(*s);
      else
        src.unresolved = true;
    }
    if (lineage && aligned) {
      const auto& c = lineage_of->columns[i];
      src.derived = c.origins;
      src.direct = c.direct;
      if (c.opaque) src.unresolved = true;
    } else if (lineage && f.table_oid == 0) {
      // A computed column whose own lineage is not established: it may hold
      // anything the statement reads.
      if (lineage_of) {
        src.derived = lineage_of->everything;
        if (lineage_of->opaque) src.unresolved = true;
      } else {
        src.unresolved = true;
      }
    }
    auto p = rules_->plan(src);
    if (p.scan || p.column_rule >= 0) plan_needs_work_ = true;
    plan_.push_back(p);
  }
  return Action::kForward;
}

ResultMasker::Action ResultMasker::on_data_row(Bytes body, wire::Buffer& out) {
  if (!plan_needs_work_) return Action::kForward;
  if (!wire::parse_data_row(body, values_) || values_.size() != plan_.size()) {
    // Not what the description promised: nothing of it is sent.
    out.clear();
    for (auto& v : values_) v.reset();
    values_.resize(plan_.size());
    counts_.withheld += plan_.size();
    wire::encode_data_row(out, values_);
    return Action::kReplace;
  }
  if (masked_.size() < values_.size()) masked_.resize(values_.size());
  batch_.clear();
  bool changed = false;
  auto apply = [&](std::size_t i, Outcome r) {
    if (r == Outcome::kRewritten) {
      values_[i] = as_bytes_of(masked_[i]);
      changed = true;
    } else if (r == Outcome::kWithheld) {
      values_[i].reset();
      changed = true;
    }
  };
  for (std::size_t i = 0; i < values_.size(); ++i) {
    const auto& p = plan_[i];
    if (!values_[i] || (!p.scan && p.column_rule < 0)) continue;
    const std::string_view v = as_text(*values_[i]);
    // Plain text values of a row are scanned together, NUL-separated (text
    // cannot hold a NUL); JSON documents and the rest go one by one.
    const bool json_text =
        rules_->has_json_paths() && p.column_rule < 0 && masking::looks_like_json(v);
    if (p.kind == masking::ValueKind::kText && !json_text && rules_->has_scanner() &&
        v.find('\0') == std::string_view::npos) {
      batch_.push_back(i);
      continue;
    }
    apply(i, rules_->mask_value(p, v, masked_[i], counts_));
  }
  if (!batch_.empty()) {
    joined_.clear();
    starts_.clear();
    for (std::size_t i : batch_) {
      starts_.push_back(joined_.size());
      joined_.append(as_text(*values_[i]));
      joined_ += '\0';
    }
    found_.clear();
    rules_->scan(joined_, found_);
    bool crossing = false;
    std::size_t f = 0;
    spans_.resize(batch_.size());
    for (std::size_t k = 0; k < batch_.size() && !crossing; ++k) {
      const std::size_t begin = starts_[k], end = begin + values_[batch_[k]]->size();
      std::size_t first = f;
      while (f < found_.size() && found_[f].begin < end) {
        if (found_[f].begin < begin || found_[f].end > end) crossing = true;
        found_[f].begin -= begin;
        found_[f].end -= begin;
        ++f;
      }
      if (f < found_.size() && found_[f].begin <= end) crossing = true;  // on the separator
      spans_[k] = {first, f};
    }
    for (std::size_t k = 0; k < batch_.size(); ++k) {
      const std::size_t i = batch_[k];
      const std::string_view v = as_text(*values_[i]);
      if (crossing) {
        // A finding across two values: each is scanned on its own instead.
        apply(i, rules_->mask_value(plan_[i], v, masked_[i], counts_));
        continue;
      }
      const auto [first, last] = spans_[k];
      apply(i, rules_->rewrite(v, plan_[i].column_rule, found_.data() + first, last - first,
                               masked_[i], counts_));
    }
  }
  if (!changed) return Action::kForward;
  out.clear();
  wire::encode_data_row(out, values_);
  return Action::kReplace;
}

ResultMasker::Action ResultMasker::on_fields(std::uint8_t type, Bytes body, wire::Buffer& out) {
  auto f = wire::parse_error_fields(body);
  if (!f) {
    out.clear();
    wire::ErrorSpec e{
        .severity = type == 'E' ? "ERROR" : "NOTICE",
        .sqlstate = "XX000",
        .message = "gatehouse: a server message could not be masked and was withheld"};
    if (type == 'E')
      wire::encode_error_response(out, e);
    else
      wire::encode_notice_response(out, e);
    ++counts_.withheld;
    return Action::kReplace;
  }
  std::vector<std::string> masked(f->fields.size());
  bool changed = false;
  for (std::size_t i = 0; i < f->fields.size(); ++i) {
    auto& [code, value] = f->fields[i];
    if (!maskable_field(code)) continue;
    if (rules_->mask_text(value, masked[i], counts_) == Outcome::kRewritten) {
      value = masked[i];
      changed = true;
    }
  }
  if (!changed) return Action::kForward;
  out.clear();
  wire::encode_error_fields(out, static_cast<char>(type), f->fields);
  return Action::kReplace;
}

}  // namespace gh::adapters::pg
