#include "masking/rules.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "base/bytes.h"
#include "base/glob.h"

namespace gh::masking {

namespace {

using Json = nlohmann::ordered_json;

// Deeper JSON is withheld: walking it would risk the stack for no real document.
constexpr int kMaxJsonDepth = 512;

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::uint16_t be16(const unsigned char* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

// int8 binary → decimal text.
bool int8_text(std::string_view v, std::string& out) {
  if (v.size() != 8) return false;
  std::uint64_t u = 0;
  for (unsigned char c : v) u = (u << 8) | c;
  out = std::to_string(static_cast<std::int64_t>(u));
  return true;
}

// numeric binary (ndigits, weight, sign, dscale, base-10000 digits) → its
// digits; the decimal point is left out, which is all the detectors need.
// https://github.com/postgres/postgres/blob/REL_15_STABLE/src/backend/utils/adt/numeric.c
// (numeric_send)
bool numeric_text(std::string_view v, std::string& out) {
  if (v.size() < 8) return false;
  auto* p = reinterpret_cast<const unsigned char*>(v.data());
  std::uint16_t ndigits = be16(p);
  if (v.size() != 8u + 2u * ndigits) return false;
  out.clear();
  for (std::uint16_t i = 0; i < ndigits; ++i) {
    std::uint16_t d = be16(p + 8 + 2 * i);
    if (d > 9999) return false;
    char buf[5];
    std::snprintf(buf, sizeof buf, i == 0 ? "%u" : "%04u", static_cast<unsigned>(d));
    out += buf;
  }
  return true;
}

// inet/cidr binary (family, bits, is_cidr, length, address) → text.
bool inet_text(std::string_view v, std::string& out) {
  if (v.size() < 4) return false;
  auto* p = reinterpret_cast<const unsigned char*>(v.data());
  int family = p[0] == 2 ? AF_INET : p[0] == 3 ? AF_INET6 : -1;
  std::size_t len = p[3];
  if (family < 0 || v.size() != 4 + len || len != (family == AF_INET ? 4u : 16u)) return false;
  char buf[INET6_ADDRSTRLEN];
  if (!inet_ntop(family, p + 4, buf, sizeof buf)) return false;
  out = buf;
  return true;
}

// The deepest nesting of a JSON text (outside strings); stops counting past the limit.
int json_depth(std::string_view s) {
  int depth = 0, deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
      if (deepest > kMaxJsonDepth) return deepest;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return deepest;
}

bool in_skip_set(std::uint32_t oid) {
  switch (oid) {
    case 16:    // bool
    case 21:    // int2
    case 23:    // int4
    case 26:    // oid
    case 700:   // float4
    case 701:   // float8
    case 1082:  // date
    case 1083:  // time
    case 1114:  // timestamp
    case 1184:  // timestamptz
    case 1186:  // interval
    case 1266:  // timetz
    case 2950:  // uuid
      return true;
    default:
      return false;
  }
}

bool text_like(std::uint32_t oid) {
  switch (oid) {
    case 18:    // "char"
    case 19:    // name
    case 25:    // text
    case 142:   // xml
    case 705:   // unknown
    case 1042:  // bpchar
    case 1043:  // varchar
      return true;
    default:
      return false;
  }
}

// COPY text format escapes: https://www.postgresql.org/docs/15/sql-copy.html
std::string copy_text_unescape(std::string_view f) {
  std::string out;
  for (std::size_t i = 0; i < f.size(); ++i) {
    if (f[i] != '\\' || i + 1 == f.size()) {
      out += f[i];
      continue;
    }
    char c = f[++i];
    switch (c) {
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'v':
        out += '\v';
        break;
      default:
        out += c;
        break;
    }
  }
  return out;
}

std::string copy_text_escape(std::string_view f) {
  std::string out;
  for (char c : f) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += c;
        break;
    }
  }
  return out;
}

// The last dot-separated part of a column glob: what an output name is matched with.
std::string_view last_part(std::string_view glob) {
  auto dot = glob.rfind('.');
  return dot == std::string_view::npos ? glob : glob.substr(dot + 1);
}

}  // namespace

bool looks_like_json(std::string_view v) {
  auto at = v.find_first_not_of(" \t\r\n");
  return at != std::string_view::npos && (v[at] == '{' || v[at] == '[');
}

Expected<JsonPath, std::string> parse_json_path(std::string_view text) {
  JsonPath path;
  path.text = std::string(text);
  if (text.empty() || text[0] != '$') return unexpected(std::string("a JSON path starts with $"));
  std::size_t i = 1;
  auto name_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' ||
           static_cast<unsigned char>(c) >= 0x80;
  };
  while (i < text.size()) {
    JsonPath::Step step;
    bool descend = false;
    if (text.compare(i, 2, "..") == 0) {
      descend = true;
      i += 2;
    } else if (text[i] == '.') {
      ++i;
    } else if (text[i] != '[') {
      return unexpected("unexpected '" + std::string(1, text[i]) + "' in JSON path");
    }
    if (i < text.size() && text[i] == '*') {
      step.kind = descend ? JsonPath::Step::kDescendAny : JsonPath::Step::kAny;
      ++i;
    } else if (i < text.size() && text[i] == '[') {
      auto close = text.find(']', i);
      if (close == std::string_view::npos)
        return unexpected(std::string("unclosed [ in JSON path"));
      std::string_view inner = text.substr(i + 1, close - i - 1);
      i = close + 1;
      if (inner == "*") {
        step.kind = descend ? JsonPath::Step::kDescendAny : JsonPath::Step::kAny;
      } else if (inner.size() >= 2 && (inner.front() == '\'' || inner.front() == '"') &&
                 inner.back() == inner.front()) {
        step.kind = descend ? JsonPath::Step::kDescendKey : JsonPath::Step::kKey;
        step.key = std::string(inner.substr(1, inner.size() - 2));
      } else if (!inner.empty() && inner.size() <= 9 &&
                 std::all_of(inner.begin(), inner.end(),
                             [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
        if (descend) return unexpected(std::string("..[n] is not supported in JSON paths"));
        step.kind = JsonPath::Step::kIndex;
        step.index = std::stoul(std::string(inner));
      } else {
        return unexpected("unsupported selector [" + std::string(inner) + "] in JSON path");
      }
    } else {
      std::size_t start = i;
      while (i < text.size() && name_char(text[i])) ++i;
      if (i == start) return unexpected(std::string("a JSON path step needs a name"));
      step.kind = descend ? JsonPath::Step::kDescendKey : JsonPath::Step::kKey;
      step.key = std::string(text.substr(start, i - start));
    }
    path.steps.push_back(std::move(step));
  }
  if (path.steps.empty()) return unexpected(std::string("a JSON path must select below $"));
  return path;
}

ValueKind value_kind(std::uint32_t type_oid, std::int16_t format) {
  if (in_skip_set(type_oid)) return ValueKind::kSkip;
  if (type_oid == 114) return ValueKind::kJson;  // json: binary is the text
  if (type_oid == 3802) return format == 0 ? ValueKind::kJson : ValueKind::kJsonbBinary;
  if (type_oid == 17 && format == 0) return ValueKind::kByteaText;
  if (format == 0) return ValueKind::kText;
  if (text_like(type_oid) || type_oid == 17) return ValueKind::kText;  // binary = the bytes
  if (type_oid == 20 || type_oid == 1700) return ValueKind::kNumberBinary;
  if (type_oid == 869 || type_oid == 650) return ValueKind::kInetBinary;
  return ValueKind::kOpaqueBinary;
}

bool Counts::any() const {
  if (withheld) return true;
  for (auto n : by_rule)
    if (n) return true;
  return false;
}

void Counts::add(const Counts& other) {
  if (by_rule.size() < other.by_rule.size()) by_rule.resize(other.by_rule.size());
  for (std::size_t i = 0; i < other.by_rule.size(); ++i) by_rule[i] += other.by_rule[i];
  withheld += other.withheld;
}

void Counts::clear() {
  std::fill(by_rule.begin(), by_rule.end(), 0);
  withheld = 0;
}

namespace {

void count(Counts& c, int rule, std::size_t rules) {
  if (rule < 0) return;
  if (c.by_rule.size() < rules) c.by_rule.resize(rules);
  ++c.by_rule[static_cast<std::size_t>(rule)];
}

}  // namespace

bool outside_json_path(const JsonPath& rule, const std::vector<std::string>& path) {
  using K = JsonPath::Step::Kind;
  const auto& steps = rule.steps;
  const bool descends = std::any_of(steps.begin(), steps.end(), [](const JsonPath::Step& s) {
    return s.kind == K::kDescendKey || s.kind == K::kDescendAny;
  });
  if (descends) {
    // `$..key` alone reaches the same keys from any root: only a key on the
    // way down to the value can escape it. Anything else may reach inside.
    if (steps.size() == 1 && steps[0].kind == K::kDescendKey)
      return std::find(path.begin(), path.end(), steps[0].key) == path.end();
    return false;
  }
  // Anchored: outside when the two part ways at a step; when one is a prefix
  // of the other the value is inside what the rule masks, or holds it.
  for (std::size_t i = 0; i < steps.size() && i < path.size(); ++i) {
    const auto& s = steps[i];
    const std::string& k = path[i];
    if (s.kind == K::kKey && s.key != k) return true;
    if (s.kind == K::kIndex) {
      if (k.starts_with('-')) continue;  // counted from the end: any element
      if (k.empty() || k.find_first_not_of("0123456789") != std::string::npos) return true;
      if (k.size() > 18 || std::stoull(k) != s.index) return true;
    }
  }
  return false;
}

ColumnPlan SessionMasker::plan(const ColumnSource& column) const {
  ColumnPlan p;
  p.kind = value_kind(column.type_oid, column.format);
  if (has_column_rules_) {
    const std::string source = lower(column.source);
    const std::string name = lower(column.name);
    for (std::size_t r = 0; r < rules_.size() && p.column_rule < 0; ++r) {
      if (column.unresolved && !rules_[r]->columns.empty()) {
        p.column_rule = static_cast<int>(r);
        break;
      }
      for (const auto& glob : rules_[r]->columns) {  // lowercased by MaskingPolicy
        if ((!source.empty() && glob_match(glob, source)) ||
            (!name.empty() && glob_match(last_part(glob), name))) {
          p.column_rule = static_cast<int>(r);
          break;
        }
      }
    }
  }
  if (p.column_rule < 0 && !column.derived.empty()) {
    if (column.direct) {
      // A plain reference (through a view, say): masked as the column it is.
      if (has_column_rules_) p.column_rule = column_rule_of(column.derived);
    } else {
      p.column_rule = rule_for_derived(column.derived);
    }
  }
  if (p.column_rule >= 0 && p.kind == ValueKind::kSkip) {
    p.kind = column.format == 0 ? ValueKind::kText : ValueKind::kOpaqueBinary;
    p.redact = true;
  }
  // int8 and numeric are scanned like text (a card number fits in them), but
  // masked whole they are numbers too: no style keeps their shape.
  if (p.column_rule >= 0 && (column.type_oid == 20 || column.type_oid == 1700)) p.redact = true;
  const bool json = p.kind == ValueKind::kJson || p.kind == ValueKind::kJsonbBinary;
  p.scan = p.kind != ValueKind::kSkip && (scanner_ != nullptr || (json && has_json_paths_));
  return p;
}

int SessionMasker::column_rule_of(const std::vector<model::Origin>& origins) const {
  std::vector<std::string> sources;
  sources.reserve(origins.size());
  for (const auto& o : origins) sources.push_back(lower(o.source));
  for (std::size_t r = 0; r < rules_.size(); ++r)
    for (const auto& glob : rules_[r]->columns)
      for (const auto& source : sources)
        if (glob_match(glob, source)) return static_cast<int>(r);
  return -1;
}

int SessionMasker::rule_for_derived(const std::vector<model::Origin>& origins) const {
  if (has_column_rules_)
    if (int r = column_rule_of(origins); r >= 0) return r;
  if (!has_json_paths_) return -1;
  for (const auto& o : origins) {
    if (!o.json) continue;
    for (std::size_t r = 0; r < rules_.size(); ++r)
      for (const auto& jp : rules_[r]->json_paths)
        if (!o.path || !outside_json_path(jp, *o.path)) return static_cast<int>(r);
  }
  return -1;
}

int SessionMasker::first_column_rule() const {
  for (std::size_t r = 0; r < rules_.size(); ++r)
    if (!rules_[r]->columns.empty()) return static_cast<int>(r);
  return -1;
}

void SessionMasker::mask_whole_value(int rule, std::string_view value, std::string& out) const {
  found_.clear();
  if (scanner_) scanner_->scan(value, found_);
  mask_whole_found(rule, value, found_.data(), found_.size(), out);
}

void SessionMasker::mask_whole_found(int rule, std::string_view value, const Finding* found,
                                     std::size_t n, std::string& out) const {
  const Style style = rules_[static_cast<std::size_t>(rule)]->style;
  // A value that is one recognisable thing keeps that thing's shape.
  if (n == 1 && found[0].begin == 0 && found[0].end == value.size())
    mask_found(found[0].detector, style, value, key_, out);
  else
    mask_whole(style, value, key_, out);
}

void SessionMasker::scan(std::string_view text, std::vector<Finding>& out) const {
  if (scanner_) scanner_->scan(text, out);
}

Outcome SessionMasker::rewrite(std::string_view value, int column_rule, const Finding* found,
                               std::size_t n, std::string& out, Counts& counts) const {
  out.clear();
  if (column_rule >= 0) {
    mask_whole_found(column_rule, value, found, n, out);
    count(counts, column_rule, rules_.size());
    return Outcome::kRewritten;
  }
  if (n == 0) return Outcome::kUnchanged;
  std::size_t at = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const Finding& f = found[i];
    out.append(value.substr(at, f.begin - at));
    const int rule = owner_[static_cast<std::size_t>(f.detector)];
    mask_found(f.detector, rules_[static_cast<std::size_t>(rule)]->style,
               value.substr(f.begin, f.end - f.begin), key_, out);
    count(counts, rule, rules_.size());
    at = f.end;
  }
  out.append(value.substr(at));
  return Outcome::kRewritten;
}

Outcome SessionMasker::mask_text(std::string_view text, std::string& out, Counts& counts) const {
  if (!scanner_ || text.empty()) return Outcome::kUnchanged;
  std::vector<Finding>& found = found_;
  found.clear();
  scanner_->scan(text, found);
  return rewrite(text, -1, found.data(), found.size(), out, counts);
}

Outcome SessionMasker::mask_copy_line(std::string_view line, const CopyFormat& format,
                                      const std::vector<int>& field_rules, std::string& out,
                                      Counts& counts) const {
  std::string rebuilt;
  bool changed = false;
  const bool by_field = !field_rules.empty();
  if (by_field || (has_json_paths_ && line.find('{') != std::string_view::npos)) {
    const bool newline = line.ends_with('\n');
    if (newline) line.remove_suffix(1);
    // Fields: tab-separated in text format, comma-separated (quoted when they
    // hold quotes, delimiters or newlines) in CSV.
    char delim = format.delimiter;
    bool csv = format.csv;
    if (!format.known) {
      csv = line.find('\t') == std::string_view::npos;
      delim = csv ? ',' : '\t';
    }
    const char quote = csv ? format.quote : 0;
    struct Field {
      std::size_t begin, end;  // raw bytes in the line
      std::string value;       // unescaped
      bool quoted;
    };
    std::vector<Field> fields;
    for (std::size_t i = 0;;) {
      Field f{i, i, {}, csv && i < line.size() && line[i] == quote};
      if (f.quoted) {
        std::size_t j = i + 1;
        while (j < line.size()) {
          if (line[j] == quote) {
            if (j + 1 < line.size() && line[j + 1] == quote) {
              f.value += quote;
              j += 2;
              continue;
            }
            break;
          }
          f.value += line[j++];
        }
        f.end = std::min(j + 1, line.size());
      } else {
        f.end = line.find(delim, i);
        if (f.end == std::string_view::npos) f.end = line.size();
        f.value = csv ? std::string(line.substr(i, f.end - i))
                      : copy_text_unescape(line.substr(i, f.end - i));
      }
      fields.push_back(std::move(f));
      if (fields.back().end >= line.size()) break;
      i = fields.back().end + 1;
    }
    // A line that does not split into the expected fields is masked whole by
    // the column rule (fail closed).
    int whole_rule = -1;
    if (by_field && fields.size() != field_rules.size())
      for (int r : field_rules)
        if (r >= 0 && whole_rule < 0) whole_rule = r;
    ColumnPlan plan;
    std::string masked;
    std::size_t at = 0;
    for (std::size_t k = 0; k < fields.size(); ++k) {
      const Field& f = fields[k];
      std::string_view raw = line.substr(f.begin, f.end - f.begin);
      const bool null = csv ? (!f.quoted && raw.empty()) : raw == "\\N";
      const int rule = whole_rule >= 0                      ? whole_rule
                       : by_field && k < field_rules.size() ? field_rules[k]
                                                            : -1;
      bool rewritten = false;
      if (!null && rule >= 0) {
        masked.clear();
        mask_whole_value(rule, f.value, masked);
        count(counts, rule, rules_.size());
        rewritten = true;
      } else if (!null && looks_like_json(f.value)) {
        rewritten =
            mask_json(plan, f.value, masked, counts, /*typed=*/false) == Outcome::kRewritten;
      }
      rebuilt.append(line.substr(at, f.begin - at));
      if (!rewritten) {
        rebuilt.append(raw);
      } else if (csv) {
        // Replacements hold no delimiter or newline; quotes only from JSON.
        const bool q = f.quoted || masked.find(quote) != std::string::npos;
        if (q) rebuilt += quote;
        for (char c : masked) {
          if (c == quote) rebuilt += quote;
          rebuilt += c;
        }
        if (q) rebuilt += quote;
      } else {
        rebuilt += copy_text_escape(masked);
      }
      changed = changed || rewritten;
      at = f.end;
    }
    rebuilt.append(line.substr(at));
    if (newline) {
      rebuilt += '\n';
      line = std::string_view(line.data(), line.size() + 1);
    }
  }
  std::string_view current = changed ? std::string_view(rebuilt) : line;
  if (mask_text(current, out, counts) == Outcome::kRewritten) return Outcome::kRewritten;
  if (!changed) return Outcome::kUnchanged;
  out = std::move(rebuilt);
  return Outcome::kRewritten;
}

namespace {

struct PathState {
  int rule;
  const JsonPath* path;
  std::size_t step;
};

// States after stepping into a member `key` (or element `index`).
void advance(const std::vector<PathState>& in, const std::string* key, std::size_t index,
             std::vector<PathState>& out) {
  using S = JsonPath::Step;
  for (const auto& st : in) {
    if (st.step >= st.path->steps.size()) continue;
    const S& s = st.path->steps[st.step];
    switch (s.kind) {
      case S::kKey:
        if (key && *key == s.key) out.push_back({st.rule, st.path, st.step + 1});
        break;
      case S::kIndex:
        if (!key && index == s.index) out.push_back({st.rule, st.path, st.step + 1});
        break;
      case S::kAny:
        out.push_back({st.rule, st.path, st.step + 1});
        break;
      case S::kDescendKey:
        out.push_back(st);
        if (key && *key == s.key) out.push_back({st.rule, st.path, st.step + 1});
        break;
      case S::kDescendAny:
        out.push_back(st);
        out.push_back({st.rule, st.path, st.step + 1});
        break;
    }
  }
}

}  // namespace

Outcome SessionMasker::mask_json(const ColumnPlan& plan, std::string_view json, std::string& out,
                                 Counts& counts, bool typed) const {
  if (plan.column_rule >= 0) {
    std::string masked;
    mask_whole_value(plan.column_rule, json, masked);
    out = Json(masked).dump();
    count(counts, plan.column_rule, rules_.size());
    return Outcome::kRewritten;
  }
  // Nothing to find in plain text with no escapes and no paths: the common case.
  if (!has_json_paths_ && json.find('\\') == std::string_view::npos &&
      (!scanner_ || !scanner_->any(json)))
    return Outcome::kUnchanged;
  if (json_depth(json) > kMaxJsonDepth) {
    ++counts.withheld;
    return Outcome::kWithheld;
  }
  Json doc = Json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    if (!typed) return mask_text(json, out, counts);
    ++counts.withheld;
    return Outcome::kWithheld;
  }
  std::vector<PathState> root;
  for (std::size_t r = 0; r < rules_.size(); ++r)
    for (const auto& p : rules_[r]->json_paths) root.push_back({static_cast<int>(r), &p, 0});

  bool changed = false;
  std::string scratch;
  auto text_masked = [&](const std::string& s, std::string& into) {
    return mask_text(s, into, counts) == Outcome::kRewritten;
  };
  // Depth is bounded by json_depth() above.
  auto walk = [&](auto& self, Json& node, const std::vector<PathState>& states) -> void {
    for (const auto& st : states) {
      if (st.step == st.path->steps.size()) {
        std::string masked;
        if (node.is_string())
          mask_whole_value(st.rule, node.get_ref<const std::string&>(), masked);
        else
          mask_whole(rules_[static_cast<std::size_t>(st.rule)]->style, node.dump(), key_, masked);
        node = masked;
        count(counts, st.rule, rules_.size());
        changed = true;
        return;
      }
    }
    if (node.is_string()) {
      if (text_masked(node.get_ref<const std::string&>(), scratch)) {
        node = scratch;
        changed = true;
      }
    } else if (node.is_number()) {
      if (text_masked(node.dump(), scratch)) {
        node = scratch;
        changed = true;
      }
    } else if (node.is_array()) {
      std::vector<PathState> next;
      for (std::size_t i = 0; i < node.size(); ++i) {
        next.clear();
        advance(states, nullptr, i, next);
        self(self, node[i], next);
      }
    } else if (node.is_object()) {
      // Keys are data too (json_object_agg(email, …)): they are masked like values.
      std::vector<std::pair<std::size_t, std::string>> renames;
      std::vector<PathState> next;
      std::size_t i = 0;
      for (auto it = node.begin(); it != node.end(); ++it, ++i) {
        next.clear();
        const std::string k = it.key();
        advance(states, &k, 0, next);
        self(self, it.value(), next);
        if (text_masked(k, scratch)) renames.emplace_back(i, scratch);
      }
      if (!renames.empty()) {
        Json fresh = Json::object();
        std::size_t r = 0;
        i = 0;
        for (auto it = node.begin(); it != node.end(); ++it, ++i) {
          std::string k = it.key();
          if (r < renames.size() && renames[r].first == i) k = std::move(renames[r++].second);
          fresh[k] = std::move(it.value());
        }
        node = std::move(fresh);
        changed = true;
      }
    }
  };
  walk(walk, doc, root);
  if (!changed) return Outcome::kUnchanged;
  out = doc.dump(-1, ' ', false, Json::error_handler_t::replace);
  return Outcome::kRewritten;
}

Outcome SessionMasker::mask_value(const ColumnPlan& plan, std::string_view value, std::string& out,
                                  Counts& counts) const {
  auto withhold = [&] {
    ++counts.withheld;
    count(counts, plan.column_rule, rules_.size());
    return Outcome::kWithheld;
  };
  // A number or address in binary cannot hold a masked text: withheld when
  // its digits are sensitive.
  auto check_decoded = [&](bool decoded, const std::string& text) {
    if (!decoded || plan.column_rule >= 0) return withhold();
    if (scanner_ && scanner_->any(text)) return withhold();
    return Outcome::kUnchanged;
  };
  std::string decoded;
  switch (plan.kind) {
    case ValueKind::kSkip:
      return Outcome::kUnchanged;
    case ValueKind::kText:
      if (plan.column_rule >= 0) {
        out.clear();
        if (plan.redact)
          mask_whole(Style::kRedact, value, key_, out);
        else
          mask_whole_value(plan.column_rule, value, out);
        count(counts, plan.column_rule, rules_.size());
        return Outcome::kRewritten;
      }
      // JSON kept as text (a cast, row_to_json(…)::text) still gets its paths.
      if (has_json_paths_ && looks_like_json(value))
        return mask_json(plan, value, out, counts, /*typed=*/false);
      return mask_text(value, out, counts);
    case ValueKind::kJson:
      return mask_json(plan, value, out, counts);
    case ValueKind::kJsonbBinary: {
      if (value.empty() || value[0] != 1) return withhold();
      auto r = mask_json(plan, value.substr(1), decoded, counts);
      if (r == Outcome::kRewritten) out = std::string(1, '\1') + decoded;
      return r;
    }
    case ValueKind::kNumberBinary: {
      bool ok = value.size() == 8 && int8_text(value, decoded);
      if (!ok) ok = numeric_text(value, decoded);
      return check_decoded(ok, decoded);
    }
    case ValueKind::kInetBinary:
      return check_decoded(inet_text(value, decoded), decoded);
    case ValueKind::kByteaText: {
      if (!value.starts_with("\\x") || value.size() % 2 != 0) {
        // bytea_output = escape: the text is looked at as it is.
        if (plan.column_rule >= 0) return withhold();
        return mask_text(value, out, counts);
      }
      for (std::size_t i = 2; i + 1 < value.size(); i += 2) {
        int hi = hex_digit(value[i]), lo = hex_digit(value[i + 1]);
        if (hi < 0 || lo < 0) return withhold();
        decoded += static_cast<char>(hi * 16 + lo);
      }
      std::string masked;
      if (plan.column_rule >= 0) {
        mask_whole_value(plan.column_rule, decoded, masked);
        count(counts, plan.column_rule, rules_.size());
      } else if (mask_text(decoded, masked, counts) != Outcome::kRewritten) {
        return Outcome::kUnchanged;
      }
      out = "\\x";
      append_hex(out, as_bytes(masked));
      return Outcome::kRewritten;
    }
    case ValueKind::kOpaqueBinary:
      if (plan.column_rule >= 0) return withhold();
      if (scanner_ && scanner_->any(value)) return withhold();
      return Outcome::kUnchanged;
  }
  return withhold();
}

MaskingPolicy::MaskingPolicy(std::vector<Rule> rules, std::vector<std::uint8_t> hash_key)
    : rules_(std::move(rules)), key_(std::move(hash_key)) {
  // Column globs match case-insensitively: lowered once here, sources per result.
  for (auto& r : rules_)
    for (auto& g : r.columns) g = lower(g);
  // The set a session usually needs (every rule applies) is compiled now,
  // where the policy is loaded, not on a session's I/O thread.
  DetectorSet all;
  for (const auto& r : rules_) all |= r.detectors;
  if (all.any()) {
    auto built = Scanner::build(all);
    if (built) scanners_[all.to_ulong()] = std::shared_ptr<const Scanner>(std::move(built.value()));
  }
}

std::vector<std::string> MaskingPolicy::exempted(const model::Principal& who,
                                                 std::string_view connection) const {
  std::vector<std::string> out;
  for (const auto& r : rules_) {
    bool here = std::any_of(r.connections.begin(), r.connections.end(),
                            [&](const std::string& g) { return glob_match(g, connection); });
    bool exempt = std::any_of(r.except_groups.begin(), r.except_groups.end(),
                              [&](const std::string& g) { return who.in_group(g); });
    if (here && exempt) out.push_back(r.name);
  }
  return out;
}

std::shared_ptr<const SessionMasker> MaskingPolicy::for_session(const model::Principal& who,
                                                                std::string_view connection,
                                                                std::string& error) const {
  auto m = std::make_shared<SessionMasker>();
  m->key_ = key_;
  m->owner_.assign(kDetectorCount, -1);
  DetectorSet all;
  for (const auto& r : rules_) {
    bool here = std::any_of(r.connections.begin(), r.connections.end(),
                            [&](const std::string& g) { return glob_match(g, connection); });
    bool exempt = std::any_of(r.except_groups.begin(), r.except_groups.end(),
                              [&](const std::string& g) { return who.in_group(g); });
    if (!here || exempt) continue;
    const int index = static_cast<int>(m->rules_.size());
    m->rules_.push_back(&r);
    for (std::size_t d = 0; d < kDetectorCount; ++d)
      if (r.detectors.test(d) && m->owner_[d] < 0) m->owner_[d] = index;
    all |= r.detectors;
    if (!r.columns.empty()) m->has_column_rules_ = true;
    if (!r.json_paths.empty()) m->has_json_paths_ = true;
  }
  if (all.any()) {
    std::lock_guard lock(mu_);
    auto& slot = scanners_[all.to_ulong()];
    if (!slot) {
      auto built = Scanner::build(all);
      if (!built) {
        error = "masking scanner: " + built.error();
        return nullptr;
      }
      slot = std::shared_ptr<const Scanner>(std::move(built.value()));
    }
    m->scanner_ = slot;
  }
  return m;
}

}  // namespace gh::masking
