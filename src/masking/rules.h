// Masking rules (config.md `masking`) and their application to the values a
// session sends back. A rule masks by the *source* column (schema.table.column
// from the result's description, so an alias does not dodge it) and by the
// output column's name, by content (detectors run on every text value whatever
// its column, so an expression does not dodge them) and by JSON path inside
// json/jsonb values. Anything that cannot be masked is withheld, never passed
// raw. Works on decoded values: no protocol, no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/expected.h"
#include "masking/detectors.h"
#include "masking/styles.h"
#include "model/lineage.h"
#include "model/principal.h"

namespace gh::masking {

// A JSONPath subset: `$`, `.name`, `['name']`, `.*`, `[n]`, `[*]`, and
// recursive descent `..name` / `..*`.
struct JsonPath {
  struct Step {
    enum Kind { kKey, kIndex, kAny, kDescendKey, kDescendAny } kind = kKey;
    std::string key;
    std::size_t index = 0;
  };
  std::string text;
  std::vector<Step> steps;
};
Expected<JsonPath, std::string> parse_json_path(std::string_view text);
// Whether a text starts (after whitespace) like a JSON object or array.
bool looks_like_json(std::string_view text);

struct Rule {
  std::string name;
  std::vector<std::string> connections{"*"};  // connection-name globs
  std::vector<std::string> columns;           // source schema.table.column globs
  DetectorSet detectors;
  Style style = Style::kPartial;
  std::vector<JsonPath> json_paths;
  std::vector<std::string> except_groups;
};

// How a value of a result column is encoded, from its type OID and format.
enum class ValueKind : std::uint8_t {
  kText,          // text format of any type, or a binary text-like type
  kJson,          // json (text or binary) / jsonb in text format
  kJsonbBinary,   // jsonb binary: version byte 1, then the text
  kNumberBinary,  // int8 / numeric binary: decoded to check its digits
  kInetBinary,    // inet / cidr binary
  kByteaText,     // bytea in text format (hex): decoded to look inside
  kOpaqueBinary,  // binary of a type the gateway cannot rewrite: withheld if anything applies
  kSkip,          // fixed-width types that cannot carry text (int4, bool, timestamp, uuid…)
};
ValueKind value_kind(std::uint32_t type_oid, std::int16_t format);

// One column of a result as the server describes it.
struct ColumnSource {
  std::string source;  // "schema.table.column"; empty for an expression
  std::string name;    // the output column name
  std::uint32_t type_oid = 0;
  std::int16_t format = 0;
  // A table column whose source could not be resolved, or a value computed
  // by something statement analysis cannot see into: fail closed, masked
  // whole by the first rule that names columns.
  bool unresolved = false;
  // Lineage: the table columns the value is computed from (through views,
  // expressions, functions, JSON operators). A value computed from a column a
  // rule names is masked whole in that rule's style; a value computed from a
  // JSON document is masked whole unless its constant path is outside every
  // rule path. `direct`: a plain column reference (its JSON is masked inside).
  std::vector<model::Origin> derived;
  bool direct = false;
};

// Whether a value extracted at `path` of a document can hold nothing the
// rule path reaches — JSON values the client gets are masked by the rules
// again from their own root, so only what that cannot catch counts.
bool outside_json_path(const JsonPath& rule, const std::vector<std::string>& path);

// What happens to every value of one result column.
struct ColumnPlan {
  ValueKind kind = ValueKind::kText;
  int column_rule = -1;  // index of the session rule masking the whole value; -1: none
  bool scan = true;      // content detectors / JSON paths apply
  // A number, date, boolean… masked whole: no style can keep its shape, so it
  // is redacted ([MASKED]) whatever the rule's style.
  bool redact = false;
};

// How COPY … TO STDOUT writes its lines.
struct CopyFormat {
  bool known = false;  // false: guessed from the line (a tab means text format)
  bool csv = false;
  char delimiter = '\t';
  char quote = '"';
};

// Per statement: how many values each rule masked, and how many were withheld.
struct Counts {
  std::vector<std::uint64_t> by_rule;  // indexed like SessionMasker::rules()
  std::uint64_t withheld = 0;
  bool any() const;
  void add(const Counts& other);
  void clear();
};

enum class Outcome : std::uint8_t { kUnchanged, kRewritten, kWithheld };

class MaskingPolicy;

// The rules that apply to one session (its connection, its principal minus
// exempt groups), with their scanner. Made per session and used from that
// session's thread only (it keeps scratch space between calls).
class SessionMasker {
 public:
  bool active() const { return !rules_.empty(); }
  const std::vector<const Rule*>& rules() const { return rules_; }
  bool has_column_rules() const { return has_column_rules_; }

  ColumnPlan plan(const ColumnSource& column) const;
  // Masks one value of a column. On kRewritten `out` holds the replacement
  // (in the value's own encoding); on kWithheld the value must not be sent.
  Outcome mask_value(const ColumnPlan& plan, std::string_view value, std::string& out,
                     Counts& counts) const;
  // Content detectors over free text (error fields, notification payloads,
  // COPY lines, recorded statement text). Findings are replaced in place;
  // replacements never contain tabs, newlines, quotes, commas or backslashes.
  Outcome mask_text(std::string_view text, std::string& out, Counts& counts) const;
  // A line of COPY … TO STDOUT output (text or CSV): fields of columns a rule
  // names (`field_rules`: a rule index per field, -1 for none; empty when the
  // columns are unknown) masked whole, JSON paths inside fields that hold JSON
  // documents, then content detectors over the line.
  Outcome mask_copy_line(std::string_view line, const CopyFormat& format,
                         const std::vector<int>& field_rules, std::string& out,
                         Counts& counts) const;
  // For callers that scan several values at once (a whole row): the raw
  // findings of a text, and the rewrite of one value from its own findings
  // (offsets relative to the value). `column_rule` >= 0 masks it whole.
  void scan(std::string_view text, std::vector<Finding>& out) const;
  bool has_scanner() const { return scanner_ != nullptr; }
  bool has_json_paths() const { return has_json_paths_; }
  Outcome rewrite(std::string_view value, int column_rule, const Finding* found, std::size_t n,
                  std::string& out, Counts& counts) const;
  // The rule that masks a column of this source whole, or -1.
  int column_rule_for(const ColumnSource& column) const { return plan(column).column_rule; }
  // The first rule that names columns (what masks unresolved columns), or -1.
  int first_column_rule() const;
  // The rule that masks a value computed from these columns whole, or -1
  // (what a result column whose lineage is not established may hold).
  int rule_for_derived(const std::vector<model::Origin>& origins) const;

 private:
  friend class MaskingPolicy;
  // `typed`: the value is json/jsonb (unparseable means withheld); otherwise a
  // text that may hold JSON (unparseable means it is treated as plain text).
  Outcome mask_json(const ColumnPlan& plan, std::string_view json, std::string& out, Counts& counts,
                    bool typed = true) const;
  void mask_whole_value(int rule, std::string_view value, std::string& out) const;
  // The first rule whose `columns` name one of these, or -1.
  int column_rule_of(const std::vector<model::Origin>& origins) const;
  void mask_whole_found(int rule, std::string_view value, const Finding* found, std::size_t n,
                        std::string& out) const;

  std::vector<const Rule*> rules_;
  std::vector<int> owner_;  // detector → index of the first rule listing it
  std::shared_ptr<const Scanner> scanner_;
  std::vector<std::uint8_t> key_;
  bool has_column_rules_ = false;
  bool has_json_paths_ = false;
  mutable std::vector<Finding> found_;  // scratch, reused per value
};

// The masking section in force: the rules and a cache of compiled scanners
// (one per set of detectors that sessions need). Thread-safe.
class MaskingPolicy {
 public:
  MaskingPolicy(std::vector<Rule> rules, std::vector<std::uint8_t> hash_key);
  const std::vector<Rule>& rules() const { return rules_; }
  // The rules for a session; `error` is set when a scanner cannot be built
  // (the session must then be refused: masking fails closed).
  std::shared_ptr<const SessionMasker> for_session(const model::Principal& who,
                                                   std::string_view connection,
                                                   std::string& error) const;
  // The rules that apply on `connection` but that `who` is exempt from
  // (`except_groups`): what such a session sees in clear.
  std::vector<std::string> exempted(const model::Principal& who, std::string_view connection) const;

 private:
  std::vector<Rule> rules_;
  std::vector<std::uint8_t> key_;
  mutable std::mutex mu_;
  mutable std::map<unsigned long, std::shared_ptr<const Scanner>> scanners_;
};

}  // namespace gh::masking
