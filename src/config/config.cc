#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string_view>
#include <system_error>
#include <utility>

#include "base/duration.h"

namespace gh::config {

namespace {

constexpr long long kMaxRowsOver = 100'000'000;

// A host name or address on the gateway's own machine.
bool loopback_host(std::string_view host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

// Empty when `url` may be fetched: https://, or http:// to a loopback host.
// The problem never repeats the URL (a webhook URL is a secret).
std::string url_problem(const std::string& url) {
  std::string rest;
  if (url.starts_with("https://")) {
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else {
    return "the URL must start with https:// (http:// only to a loopback address)";
  }
  std::string host = rest.substr(0, rest.find_first_of("/?#"));
  if (host.find('@') != std::string::npos)
    return "the URL may not carry credentials before the host";
  if (host.starts_with("[")) {
    host = host.substr(1, host.find(']') == std::string::npos ? 0 : host.find(']') - 1);
  } else if (auto colon = host.rfind(':'); colon != std::string::npos) {
    host.resize(colon);
  }
  if (host.empty()) return "the URL names no host";
  if (url.starts_with("http://") && !loopback_host(host))
    return "http:// is allowed only to a loopback address; use https://";
  return {};
}

}  // namespace

std::string Problem::to_string() const {
  if (line > 0) return file + ":" + std::to_string(line) + ": " + message;
  return file + ": " + message;
}

const Connection* Config::find_connection(std::string_view name) const {
  for (const auto& c : connections) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

EnvLookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A key that exists in the YAML contract but not in this build, with the full
// message that refuses it. Refusing by name beats "unknown key": the operator
// learns the feature is known and missing, not misspelt.
struct Unimplemented {
  std::string_view key;
  std::string message;
};

// A scalar after ${NAME} substitution. `raw` is what the file says; messages
// quote it rather than `value` so that nothing read from the environment (a
// password put in the wrong key, say) is ever echoed.
struct Scalar {
  std::string value;
  std::string raw;
  int line = 0;
};

std::string ticked(std::string_view s) {
  return "`" + std::string(s) + "`";
}

std::string joined(const std::vector<std::string_view>& items, std::string_view sep = ", ") {
  std::string out;
  for (const auto& i : items) {
    if (!out.empty()) out += sep;
    out += i;
  }
  return out;
}

const char* kind(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Scalar:
      return "a single value";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    default:
      return "nothing";
  }
}

int line_of(const YAML::Node& n) {
  if (!n.IsDefined()) return 0;
  const YAML::Mark m = n.Mark();
  return m.line >= 0 ? m.line + 1 : 0;
}

bool is_glob(std::string_view s) {
  return s.find_first_of("*?") != std::string_view::npos;
}

bool valid_env_name(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// Reads a whole file. The error is the reason only (the caller decides whether
// the path may be shown), never content.
Expected<std::string> read_file(const fs::path& path) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (status.type() == fs::file_type::not_found) {
    return unexpected(std::string("does not exist"));
  }
  if (ec) return unexpected(ec.message());
  if (fs::is_directory(status)) return unexpected(std::string("is a directory"));
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return unexpected(std::generic_category().message(errno));
  }
  std::string out;
  char buf[8192];
  std::size_t n = 0;
  // Keys, certificates, JWKS and passwords are small; a bound keeps a path
  // pointing at a device or a log from eating memory.
  constexpr std::size_t kMaxFile = 16 << 20;
  bool too_large = false;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    out.append(buf, n);
    if (out.size() > kMaxFile) {
      too_large = true;
      break;
    }
  }
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (too_large) return unexpected(std::string("larger than 16 MiB"));
  if (failed) return unexpected(std::string("read error"));
  return out;
}

// The value under `key` in a mapping, with the key's line: the value's own mark
// is useless for an empty value (yaml-cpp puts it on the next token).
struct Entry {
  YAML::Node value;
  int line = 0;
  bool found = false;  // a default YAML::Node is a defined null, so it cannot tell
  explicit operator bool() const { return found; }
};

Entry lookup(const YAML::Node& map, std::string_view key) {
  if (!map.IsMap()) return {};
  for (const auto& kv : map) {
    if (kv.first.IsScalar() && kv.first.Scalar() == key) {
      return {kv.second, line_of(kv.first), true};
    }
  }
  return {};
}

class Loader {
 public:
  Loader(const std::string& path, const EnvLookup& env) : file_(path), env_(env) {
    base_ = fs::path(path).parent_path();
    if (base_.empty()) base_ = ".";
    std::error_code ec;
    fs::path abs = fs::absolute(base_, ec);
    if (!ec) base_ = abs;
  }

  Expected<Config, std::vector<Problem>> load(const std::string& text) {
    cfg_.path = file_;
    YAML::Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      problem(e.mark.line >= 0 ? e.mark.line + 1 : 0, "YAML syntax error: " + e.msg);
      return finish();
    }
    try {
      load_root(root);
    } catch (const YAML::Exception& e) {
      // Every access is guarded, so this is a bug here; still a refusal, not a crash.
      problem(e.mark.line >= 0 ? e.mark.line + 1 : 0, "cannot interpret the YAML: " + e.msg);
    }
    return finish();
  }

 private:
  void problem(int line, std::string message) {
    problems_.push_back({file_, line, std::move(message)});
  }

  Expected<Config, std::vector<Problem>> finish() {
    if (problems_.empty()) return std::move(cfg_);
    // In file order, so the list reads top to bottom; placeless ones last.
    std::stable_sort(problems_.begin(), problems_.end(), [](const Problem& a, const Problem& b) {
      return (a.line == 0 ? INT_MAX : a.line) < (b.line == 0 ? INT_MAX : b.line);
    });
    return unexpected(std::move(problems_));
  }

  // --- structure -----------------------------------------------------------

  bool expect_map(const Entry& e, const std::string& where) {
    if (e.value.IsMap()) return true;
    problem(e.line, where + ": expected a mapping, found " + kind(e.value));
    return false;
  }

  bool expect_list(const Entry& e, const std::string& where) {
    if (e.value.IsSequence()) return true;
    problem(e.line, where + ": expected a list, found " + kind(e.value));
    return false;
  }

  // Reports keys that are not allowed (or known but not built), and keys
  // written twice (yaml-cpp keeps both and would silently use the first).
  void check_keys(const YAML::Node& map, const std::string& where,
                  const std::vector<std::string_view>& allowed,
                  const std::vector<Unimplemented>& unimplemented = {}) {
    std::set<std::string> seen;
    for (const auto& kv : map) {
      const int line = line_of(kv.first);
      if (!kv.first.IsScalar()) {
        problem(line, where + ": keys must be plain names, found " + kind(kv.first));
        continue;
      }
      const std::string& key = kv.first.Scalar();
      if (!seen.insert(key).second) {
        problem(line, "duplicate key " + ticked(key) + " in " + where);
        continue;
      }
      if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
      auto un = std::find_if(unimplemented.begin(), unimplemented.end(),
                             [&](const Unimplemented& u) { return u.key == key; });
      if (un != unimplemented.end()) {
        problem(line, un->message);
        continue;
      }
      problem(line, "unknown key " + ticked(key) + " in " + where +
                        " (expected one of: " + joined(allowed) + ")");
    }
  }

  // --- values --------------------------------------------------------------

  // Replaces every ${NAME}; all unset variables in the value are reported.
  std::optional<Scalar> substitute(const std::string& raw, int line, const std::string& where) {
    std::string out;
    bool ok = true;
    std::size_t i = 0;
    while (i < raw.size()) {
      const std::size_t open = raw.find("${", i);
      if (open == std::string::npos) {
        out.append(raw, i);
        break;
      }
      out.append(raw, i, open - i);
      const std::size_t close = raw.find('}', open + 2);
      if (close == std::string::npos) {
        problem(line, where + ": unterminated `${` (write ${NAME})");
        return std::nullopt;
      }
      const std::string name = raw.substr(open + 2, close - open - 2);
      if (!valid_env_name(name)) {
        problem(line, where + ": " + ticked("${" + name + "}") +
                          " is not a valid environment variable reference");
        ok = false;
      } else if (auto value = env_(name)) {
        out += *value;
      } else {
        problem(line, where + ": environment variable " + ticked(name) + " is not set");
        ok = false;
      }
      i = close + 1;
    }
    if (!ok) return std::nullopt;
    return Scalar{std::move(out), raw, line};
  }

  std::optional<Scalar> scalar_node(const YAML::Node& n, int line, const std::string& where) {
    if (!n.IsScalar()) {
      problem(line, where + ": expected a single value, found " + kind(n));
      return std::nullopt;
    }
    return substitute(n.Scalar(), line, where);
  }

  // map[key] as a substituted scalar; nullopt when absent (reported if
  // required) or invalid (always reported).
  std::optional<Scalar> scalar(const YAML::Node& map, std::string_view key,
                               const std::string& where, bool required) {
    const Entry e = lookup(map, key);
    const std::string at = where + "." + std::string(key);
    if (!e) {
      if (required) problem(line_of(map), where + ": missing required key " + ticked(key));
      return std::nullopt;
    }
    return scalar_node(e.value, e.line, at);
  }

  std::optional<std::string> text(const YAML::Node& map, std::string_view key,
                                  const std::string& where, bool required) {
    auto s = scalar(map, key, where, required);
    if (!s) return std::nullopt;
    if (s->value.empty()) {
      problem(s->line, where + "." + std::string(key) + ": must not be empty");
      return std::nullopt;
    }
    return std::move(s->value);
  }

  std::optional<std::chrono::milliseconds> duration(const YAML::Node& map, std::string_view key,
                                                    const std::string& where) {
    auto s = scalar(map, key, where, false);
    if (!s) return std::nullopt;
    auto d = parse_duration(s->value);
    if (!d) {
      problem(s->line, where + "." + std::string(key) + ": " + ticked(s->raw) +
                           " is not a duration (write e.g. 250ms, 30s, 15m, 1h, 90d)");
    }
    return d;
  }

  // A size: a whole number with B, KB, MB, GB, KiB, MiB or GiB (no unit: bytes).
  std::optional<std::uint64_t> size(const YAML::Node& map, std::string_view key,
                                    const std::string& where, std::uint64_t min,
                                    std::uint64_t max) {
    auto s = scalar(map, key, where, false);
    if (!s) return std::nullopt;
    const std::string at = where + "." + std::string(key);
    std::uint64_t v = 0;
    const char* first = s->value.data();
    const char* last = first + s->value.size();
    auto [end, ec] = std::from_chars(first, last, v);
    static const std::pair<std::string_view, std::uint64_t> kUnits[] = {{"", 1},
                                                                        {"B", 1},
                                                                        {"KB", 1000},
                                                                        {"MB", 1000'000},
                                                                        {"GB", 1000'000'000},
                                                                        {"KiB", 1ULL << 10},
                                                                        {"MiB", 1ULL << 20},
                                                                        {"GiB", 1ULL << 30}};
    std::optional<std::uint64_t> unit;
    if (ec == std::errc() && end != first) {
      const std::string_view rest(end, static_cast<std::size_t>(last - end));
      for (const auto& [name, factor] : kUnits)
        if (rest == name) unit = factor;
    }
    if (!unit) {
      problem(s->line, at + ": " + ticked(s->raw) + " is not a size (write e.g. 256MiB, 1GiB)");
      return std::nullopt;
    }
    if (v > max / *unit || v * *unit < min || v * *unit > max) {
      problem(s->line, at + ": " + ticked(s->raw) + " is out of range (" + std::to_string(min) +
                           "-" + std::to_string(max) + " bytes)");
      return std::nullopt;
    }
    return v * *unit;
  }

  std::optional<long long> integer(const Scalar& s, const std::string& at, long long min,
                                   long long max) {
    long long v = 0;
    const char* first = s.value.data();
    const char* last = first + s.value.size();
    auto [end, ec] = std::from_chars(first, last, v);
    if (ec == std::errc::result_out_of_range || (ec == std::errc() && end == last)) {
      if (ec == std::errc() && v >= min && v <= max) return v;
      problem(s.line, at + ": " + ticked(s.raw) + " is out of range (" + std::to_string(min) + "-" +
                          std::to_string(max) + ")");
      return std::nullopt;
    }
    problem(s.line, at + ": " + ticked(s.raw) + " is not a whole number");
    return std::nullopt;
  }

  std::optional<bool> boolean(const YAML::Node& map, std::string_view key,
                              const std::string& where) {
    auto s = scalar(map, key, where, false);
    if (!s) return std::nullopt;
    // YAML 1.1 spellings, which operators write (`audit: off`).
    static const std::map<std::string, bool> kWords = {
        {"true", true}, {"on", true},     {"yes", true},    {"True", true},
        {"On", true},   {"Yes", true},    {"false", false}, {"off", false},
        {"no", false},  {"False", false}, {"Off", false},   {"No", false}};
    auto it = kWords.find(s->value);
    if (it != kWords.end()) return it->second;
    problem(s->line, where + "." + std::string(key) + ": " + ticked(s->raw) +
                         " is not one of: true, false, on, off");
    return std::nullopt;
  }

  // Index into `allowed` of the value; the problem lists what is allowed.
  std::optional<std::size_t> choice(const Scalar& s, const std::string& at,
                                    const std::vector<std::string_view>& allowed) {
    auto it = std::find(allowed.begin(), allowed.end(), s.value);
    if (it != allowed.end()) return static_cast<std::size_t>(it - allowed.begin());
    problem(s.line, at + ": " + ticked(s.raw) + " is not one of: " + joined(allowed));
    return std::nullopt;
  }

  std::optional<std::size_t> choice(const YAML::Node& map, std::string_view key,
                                    const std::string& where,
                                    const std::vector<std::string_view>& allowed) {
    auto s = scalar(map, key, where, false);
    if (!s) return std::nullopt;
    return choice(*s, where + "." + std::string(key), allowed);
  }

  // A list of single values; each element is substituted.
  std::optional<std::vector<Scalar>> list(const YAML::Node& map, std::string_view key,
                                          const std::string& where, bool required) {
    const Entry e = lookup(map, key);
    const std::string at = where + "." + std::string(key);
    if (!e) {
      if (required) problem(line_of(map), where + ": missing required key " + ticked(key));
      return std::nullopt;
    }
    if (!expect_list(e, at)) return std::nullopt;
    std::vector<Scalar> out;
    bool ok = true;
    for (std::size_t i = 0; i < e.value.size(); ++i) {
      const YAML::Node item = e.value[i];
      auto s = scalar_node(item, item.IsScalar() ? line_of(item) : e.line,
                           at + "[" + std::to_string(i) + "]");
      if (s) {
        out.push_back(std::move(*s));
      } else {
        ok = false;
      }
    }
    if (!ok) return std::nullopt;
    return out;
  }

  static std::vector<std::string> values(const std::vector<Scalar>& list) {
    std::vector<std::string> out;
    out.reserve(list.size());
    for (const auto& s : list) out.push_back(s.value);
    return out;
  }

  // --- files ---------------------------------------------------------------

  std::string resolve(const std::string& path) const {
    fs::path p(path);
    if (p.is_relative()) p = base_ / p;
    return p.lexically_normal().string();
  }

  // A path value, resolved against the config file's directory. The file has to
  // be readable now, at load, not at first use hours later; `content` gets it.
  // `secret_slot`: a password is easily pasted where its file's path belongs,
  // so such a path is not repeated in the problem.
  std::optional<std::string> file_path(const YAML::Node& map, std::string_view key,
                                       const std::string& where, bool required,
                                       std::string* content = nullptr, bool secret_slot = false) {
    auto s = text(map, key, where, required);
    if (!s) return std::nullopt;
    std::string path = resolve(*s);
    auto data = read_file(path);
    if (!data) {
      const std::string at = where + "." + std::string(key);
      problem(lookup(map, key).line,
              secret_slot ? at + ": cannot read the file: " + data.error() +
                                " (its path is not repeated in case a password was written there)"
                          : at + ": cannot read " + path + ": " + data.error());
      return std::nullopt;
    }
    if (content != nullptr) *content = std::move(*data);
    return path;
  }

  // cert + key given together, both readable.
  std::optional<std::pair<std::string, std::string>> cert_pair(const YAML::Node& map,
                                                               const std::string& where) {
    const bool has_cert = static_cast<bool>(lookup(map, "cert"));
    const bool has_key = static_cast<bool>(lookup(map, "key"));
    if (!has_cert && !has_key) return std::nullopt;
    if (has_cert != has_key) {
      problem(line_of(map), where + ": `cert` and `key` go together; " +
                                (has_cert ? "`key`" : "`cert`") + " is missing");
      return std::nullopt;
    }
    auto cert = file_path(map, "cert", where, true);
    auto key = file_path(map, "key", where, true);
    if (!cert || !key) return std::nullopt;
    return std::make_pair(*cert, *key);
  }

  // Remembers a name per kind; a second use is a problem naming the first.
  void unique_name(std::map<std::string, int>& seen, const std::string& what,
                   const std::string& name, int line, const std::string& at) {
    auto [it, fresh] = seen.emplace(name, line);
    if (!fresh) {
      problem(line, at + ": duplicate " + what + " name " + ticked(name) + " (first at line " +
                        std::to_string(it->second) + ")");
    }
  }

  std::optional<std::string> protocol(const YAML::Node& map, const std::string& where) {
    auto s = scalar(map, "protocol", where, true);
    if (!s) return std::nullopt;
    if (s->value == "postgres") return s->value;
    static const std::set<std::string> kLater = {"mysql", "ssh", "http", "kubernetes"};
    if (kLater.count(s->value) != 0) {
      problem(s->line,
              where + ".protocol: protocol " + s->value + " is not implemented in this build");
    } else {
      problem(s->line, where + ".protocol: " + ticked(s->raw) + " is not one of: postgres");
    }
    return std::nullopt;
  }

  // --- sections ------------------------------------------------------------

  void load_root(const YAML::Node& root) {
    if (!root.IsMap()) {
      problem(root.IsNull() ? 0 : line_of(root),
              "the configuration must be a mapping of sections (gateway, identity, listeners, "
              "connections, access), found " +
                  std::string(kind(root)));
      return;
    }
    std::vector<Unimplemented> later;
    for (std::string_view s : {"include"}) {
      later.push_back({s, "section " + ticked(s) + " is not implemented in this build"});
    }
    check_keys(root, "the top level",
               {"gateway", "identity", "listeners", "connections", "access", "guardrails",
                "masking", "approvals", "roles", "webhooks", "recording"},
               later);

    load_gateway(lookup(root, "gateway"));
    load_identity(lookup(root, "identity"));
    load_listeners(lookup(root, "listeners"));
    load_connections(lookup(root, "connections"));
    load_access(lookup(root, "access"));
    load_guardrails(lookup(root, "guardrails"));
    load_masking(lookup(root, "masking"));
    load_approvals(lookup(root, "approvals"));
    load_roles(lookup(root, "roles"));
    load_webhooks(lookup(root, "webhooks"));
    load_recording(lookup(root, "recording"));
    for (const auto& i : cfg_.issuers) {
      if (i.issuer == cfg_.gateway_tokens.issuer)
        problem(0, "identity: issuer " + ticked(i.issuer) +
                       " is also the gateway's own (identity.gateway_tokens.issuer); choose "
                       "another for gateway tokens");
    }
  }

  void load_gateway(const Entry& e) {
    Gateway& g = cfg_.gateway;
    g.data_dir = resolve("./var");
    if (!e || !expect_map(e, "gateway")) return;
    const YAML::Node& n = e.value;
    const std::string w = "gateway";
    check_keys(
        n, w,
        {"id", "data_dir", "store", "tls", "audit", "log_level", "log_format", "io_threads",
         "max_connections", "max_logins_per_address", "session_memory", "memory_limit", "admin"});

    if (auto id = text(n, "id", w, false)) g.id = *id;
    if (auto dir = text(n, "data_dir", w, false)) g.data_dir = resolve(*dir);
    if (auto store = scalar(n, "store", w, false)) {
      // A store URL may carry a password: it is never echoed.
      if (store->value == "sqlite") {
        g.store = "sqlite";
      } else if (store->value.starts_with("postgres://") ||
                 store->value.starts_with("postgresql://")) {
        g.store = store->value;
      } else {
        problem(store->line, "gateway.store: must be `sqlite` (or a postgres:// URL)");
      }
    }
    if (const Entry tls = lookup(n, "tls")) {
      gateway_tls_named_ = true;
      if (expect_map(tls, "gateway.tls")) {
        check_keys(tls.value, "gateway.tls", {"cert", "key"});
        if (!lookup(tls.value, "cert") && !lookup(tls.value, "key")) {
          problem(tls.line, "gateway.tls: needs `cert` and `key`");
        } else if (auto pair = cert_pair(tls.value, "gateway.tls")) {
          g.tls_cert = pair->first;
          g.tls_key = pair->second;
        }
      }
    }
    if (auto audit = boolean(n, "audit", w)) g.audit = *audit;
    static const std::vector<std::string_view> kLevels = {"trace", "debug", "info",
                                                          "warn",  "error", "critical"};
    if (auto level = choice(n, "log_level", w, kLevels)) g.log_level = kLevels[*level];
    if (auto format = choice(n, "log_format", w, {"json", "text"}))
      g.log_format = *format == 0 ? LogFormat::kJson : LogFormat::kText;
    if (auto threads = scalar(n, "io_threads", w, false)) {
      if (auto v = integer(*threads, "gateway.io_threads", 0, 1024)) {
        g.io_threads = static_cast<int>(*v);
      }
    }
    if (auto max = scalar(n, "max_connections", w, false)) {
      if (auto v = integer(*max, "gateway.max_connections", 1, 1'000'000)) {
        g.max_connections = static_cast<int>(*v);
      }
    }
    if (auto v = size(n, "session_memory", w, 1ULL << 20, 1ULL << 40)) g.session_memory = *v;
    if (auto v = size(n, "memory_limit", w, 16ULL << 20, 1ULL << 44)) g.memory_limit = *v;
    if (g.session_memory > g.memory_limit)
      problem(line_of(n), w + ".session_memory: larger than gateway.memory_limit");
    if (auto max = scalar(n, "max_logins_per_address", w, false)) {
      if (auto v = integer(*max, "gateway.max_logins_per_address", 1, 1'000'000)) {
        g.max_logins_per_address = static_cast<int>(*v);
      }
    }
    if (const Entry admin = lookup(n, "admin")) load_admin(admin);
  }

  void load_admin(const Entry& e) {
    const std::string w = "gateway.admin";
    if (!expect_map(e, w)) return;
    check_keys(e.value, w, {"listen", "tls", "metrics"});
    AdminListener& a = cfg_.gateway.admin;
    if (auto metrics = choice(e.value, "metrics", w, {"open", "token"}))
      a.metrics_need_token = *metrics == 1;
    auto listen = scalar(e.value, "listen", w, true);
    if (!listen || !parse_listen(*listen, w + ".listen", a.host, a.port)) return;
    a.enabled = true;
    a.cert_file = cfg_.gateway.tls_cert;
    a.key_file = cfg_.gateway.tls_key;
    if (const Entry tls = lookup(e.value, "tls")) {
      if (tls.value.IsScalar()) {
        auto on = boolean(e.value, "tls", w);
        if (on && !*on) {
          a.tls = false;
          // Tokens travel in every API call: plaintext only where nobody else can listen.
          if (a.host != "127.0.0.1" && a.host != "::1" && a.host != "localhost")
            problem(tls.line, w + ".tls: `off` is allowed only on a loopback address (the "
                                  "API carries tokens)");
        }
      } else if (expect_map(tls, w + ".tls")) {
        check_keys(tls.value, w + ".tls", {"cert", "key"});
        if (auto pair = cert_pair(tls.value, w + ".tls")) {
          a.cert_file = pair->first;
          a.key_file = pair->second;
        }
      }
    }
    if (a.tls && a.cert_file.empty() && !gateway_tls_named_ && !lookup(e.value, "tls"))
      problem(e.line, w + ": HTTPS needs a certificate; set gateway.tls or gateway.admin.tls "
                          "(or `tls: off` on loopback)");
  }

  void load_identity(const Entry& e) {
    if (!e) {
      problem(0, "missing required section `identity` (at least one token issuer)");
      return;
    }
    if (!expect_map(e, "identity")) return;
    const YAML::Node& n = e.value;
    check_keys(n, "identity", {"issuers", "leeway", "gateway_tokens"});
    if (const Entry gt = lookup(n, "gateway_tokens")) load_gateway_tokens(gt);

    if (auto leeway = duration(n, "leeway", "identity")) {
      // More skew than this would let an expired token live on noticeably.
      if (*leeway > 5min) {
        problem(lookup(n, "leeway").line,
                "identity.leeway: " + ticked(lookup(n, "leeway").value.Scalar()) +
                    " is more than the 5m maximum");
      } else {
        cfg_.verifier.leeway = std::chrono::duration_cast<std::chrono::seconds>(*leeway);
      }
    }

    const Entry issuers = lookup(n, "issuers");
    if (!issuers) {
      problem(e.line, "identity: missing required key `issuers` (at least one token issuer)");
      return;
    }
    if (!expect_list(issuers, "identity.issuers")) return;
    if (issuers.value.size() == 0) {
      problem(issuers.line, "identity.issuers: at least one issuer is required");
      return;
    }
    std::map<std::string, int> names, iss_values;
    for (std::size_t i = 0; i < issuers.value.size(); ++i) {
      load_issuer(issuers.value[i], issuers.line, i, names, iss_values);
    }
  }

  void load_gateway_tokens(const Entry& e) {
    const std::string w = "identity.gateway_tokens";
    if (!expect_map(e, w)) return;
    check_keys(e.value, w, {"max_ttl", "issuer", "audience"});
    GatewayTokens& t = cfg_.gateway_tokens;
    if (auto ttl = duration(e.value, "max_ttl", w)) {
      if (*ttl < 1min || *ttl > 24h)
        problem(lookup(e.value, "max_ttl").line, w + ".max_ttl: must be between 1m and 24h");
      else
        t.max_ttl = std::chrono::duration_cast<std::chrono::seconds>(*ttl);
    }
    if (auto iss = text(e.value, "issuer", w, false)) t.issuer = *iss;
    if (auto aud = text(e.value, "audience", w, false)) t.audience = *aud;
  }

  void load_issuer(const YAML::Node& n, int list_line, std::size_t i,
                   std::map<std::string, int>& names, std::map<std::string, int>& iss_values) {
    const std::string w = "identity.issuers[" + std::to_string(i) + "]";
    if (!expect_map({n, n.IsNull() ? list_line : line_of(n)}, w)) return;
    check_keys(n, w,
               {"name", "issuer", "audience", "jwks_file", "discovery", "ca", "refresh",
                "min_refresh", "groups_claim", "max_lifetime"});
    identity::IssuerConfig ic;
    bool ok = true;
    if (auto name = text(n, "name", w, true)) {
      ic.name = *name;
      unique_name(names, "issuer", *name, lookup(n, "name").line, w + ".name");
    } else {
      ok = false;
    }
    if (auto iss = text(n, "issuer", w, true)) {
      ic.issuer = *iss;
      // Two entries for one `iss` would make the keys that verify it ambiguous.
      auto [it, fresh] = iss_values.emplace(*iss, lookup(n, "issuer").line);
      if (!fresh) {
        problem(lookup(n, "issuer").line, w + ".issuer: issuer " + ticked(*iss) +
                                              " is already configured at line " +
                                              std::to_string(it->second));
      }
    } else {
      ok = false;
    }
    if (const Entry aud = lookup(n, "audience")) {
      if (aud.value.IsSequence()) {
        if (auto list = this->list(n, "audience", w, true)) ic.audiences = values(*list);
        if (aud.value.size() == 0) problem(aud.line, w + ".audience: must name an audience");
      } else if (auto s = text(n, "audience", w, true)) {
        ic.audiences = {*s};
      }
      for (const auto& a : ic.audiences) {
        if (a.empty()) problem(aud.line, w + ".audience: audiences must not be empty");
      }
    } else {
      // Without an audience any token the IdP minted for any application would do.
      problem(line_of(n), w + ": missing required key `audience`");
      ok = false;
    }
    if (auto d = boolean(n, "discovery", w)) ic.discovery = *d;
    if (ic.discovery && lookup(n, "jwks_file")) {
      problem(
          lookup(n, "jwks_file").line,
          w + ": `jwks_file` and `discovery: true` both say where the keys come from; keep one");
      ok = false;
    } else if (!ic.discovery) {
      if (!file_path(n, "jwks_file", w, true, &ic.jwks_json)) ok = false;
      for (std::string_view k : {"ca", "refresh", "min_refresh"})
        if (lookup(n, k))
          problem(lookup(n, k).line,
                  w + "." + std::string(k) + ": applies only with `discovery: true`");
    } else {
      // Keys are fetched from <issuer>/.well-known/openid-configuration over
      // HTTPS (http:// only for a loopback issuer).
      if (!ic.issuer.empty()) {
        if (auto u = url_problem(ic.issuer); !u.empty())
          problem(lookup(n, "issuer").line, w + ".issuer: with `discovery: true` " + u);
      }
      if (auto ca = file_path(n, "ca", w, false)) ic.ca_file = *ca;
      if (auto d = duration(n, "refresh", w)) {
        if (*d < 1min || *d > 24h)
          problem(lookup(n, "refresh").line, w + ".refresh: must be between 1m and 24h");
        else
          ic.refresh = std::chrono::duration_cast<std::chrono::seconds>(*d);
      }
      if (auto d = duration(n, "min_refresh", w)) {
        if (*d < 1s || *d > 1h)
          problem(lookup(n, "min_refresh").line, w + ".min_refresh: must be between 1s and 1h");
        else
          ic.min_refresh = std::chrono::duration_cast<std::chrono::seconds>(*d);
      }
    }
    if (auto claim = text(n, "groups_claim", w, false)) ic.groups_claim = *claim;
    if (auto life = duration(n, "max_lifetime", w)) {
      if (*life < 1s) {
        problem(lookup(n, "max_lifetime").line, w + ".max_lifetime: must be at least 1s");
      } else {
        ic.max_lifetime = std::chrono::duration_cast<std::chrono::seconds>(*life);
      }
    }
    if (ok) cfg_.issuers.push_back(std::move(ic));
  }

  // A section that must be a list with at least one entry; false (with the problem noted)
  // otherwise.
  bool required_list(const Entry& e, const std::string& section, const std::string& item) {
    if (!e) {
      problem(0, "missing required section `" + section + "` (at least one " + item + ")");
      return false;
    }
    if (!expect_list(e, section)) return false;
    if (e.value.size() == 0) {
      problem(e.line, section + ": at least one " + item + " is required");
      return false;
    }
    return true;
  }

  void load_listeners(const Entry& e) {
    if (!required_list(e, "listeners", "listener")) return;
    std::map<std::string, int> names;
    std::map<std::string, std::string> addresses;
    for (std::size_t i = 0; i < e.value.size(); ++i) {
      const YAML::Node n = e.value[i];
      const std::string w = "listeners[" + std::to_string(i) + "]";
      if (!expect_map({n, n.IsNull() ? e.line : line_of(n)}, w)) continue;
      check_keys(n, w, {"name", "protocol", "listen", "tls", "cert", "key"});
      Listener l;
      if (auto name = text(n, "name", w, true)) {
        l.name = *name;
        unique_name(names, "listener", *name, lookup(n, "name").line, w + ".name");
      }
      if (auto p = protocol(n, w)) l.protocol = *p;
      if (auto listen = scalar(n, "listen", w, true)) {
        if (parse_listen(*listen, w + ".listen", l.host, l.port)) {
          const std::string addr = listen->value;
          auto [it, fresh] = addresses.emplace(addr, l.name);
          if (!fresh) {
            problem(listen->line, w + ".listen: " + ticked(listen->raw) +
                                      " is already used by listener " + ticked(it->second));
          }
        }
      }
      if (auto tls = choice(n, "tls", w, {"required", "optional"})) {
        l.tls = *tls == 0 ? ListenerTls::kRequired : ListenerTls::kOptional;
      }
      if (auto pair = cert_pair(n, w)) {
        l.cert_file = pair->first;
        l.key_file = pair->second;
      } else if (!lookup(n, "cert") && !lookup(n, "key")) {
        l.cert_file = cfg_.gateway.tls_cert;
        l.key_file = cfg_.gateway.tls_key;
      }
      // A required-TLS listener without a certificate could never accept anyone;
      // say so now rather than at the first handshake. (Skipped when the listener
      // or gateway.tls named files that failed: that is already reported.)
      const bool cert_named = lookup(n, "cert") || lookup(n, "key") || gateway_tls_named_;
      if (l.tls == ListenerTls::kRequired && l.cert_file.empty() && !cert_named) {
        problem(line_of(n), w + ": tls: required needs a certificate; set `cert` and `key` on "
                                "the listener or gateway.tls");
      }
      cfg_.listeners.push_back(std::move(l));
    }
  }

  // host:port, with IPv6 hosts in brackets ([::1]:5432).
  bool parse_listen(const Scalar& s, const std::string& at, std::string& host,
                    std::uint16_t& port) {
    const std::string& v = s.value;
    const std::string bad =
        at + ": " + ticked(s.raw) + " is not host:port (e.g. 0.0.0.0:15432 or [::1]:15432)";
    std::string port_text;
    if (v.starts_with("[")) {
      const std::size_t close = v.find(']');
      if (close == std::string::npos || close == 1 || close + 1 >= v.size() ||
          v[close + 1] != ':') {
        problem(s.line, bad);
        return false;
      }
      host = v.substr(1, close - 1);
      port_text = v.substr(close + 2);
    } else {
      const std::size_t colon = v.rfind(':');
      if (colon == std::string::npos || colon == 0) {
        problem(s.line, bad);
        return false;
      }
      host = v.substr(0, colon);
      if (host.find(':') != std::string::npos) {
        problem(s.line, at + ": " + ticked(s.raw) +
                            " is ambiguous; write IPv6 addresses in brackets, e.g. [::1]:15432");
        return false;
      }
      port_text = v.substr(colon + 1);
    }
    if (host.find_first_of(" \t") != std::string::npos || port_text.empty()) {
      problem(s.line, bad);
      return false;
    }
    auto p = integer(Scalar{port_text, port_text, s.line}, at + " port", 1, 65535);
    if (!p) return false;
    port = static_cast<std::uint16_t>(*p);
    return true;
  }

  void load_connections(const Entry& e) {
    if (!required_list(e, "connections", "connection")) return;
    std::map<std::string, int> names;
    for (std::size_t i = 0; i < e.value.size(); ++i) {
      const YAML::Node n = e.value[i];
      const std::string w = "connections[" + std::to_string(i) + "]";
      if (!expect_map({n, n.IsNull() ? e.line : line_of(n)}, w)) continue;
      check_keys(n, w, {"name", "protocol", "upstream", "credentials", "read_credentials"});
      Connection c;
      if (auto name = text(n, "name", w, true)) {
        c.name = *name;
        unique_name(names, "connection", *name, lookup(n, "name").line, w + ".name");
      }
      if (auto p = protocol(n, w)) c.protocol = *p;
      if (const Entry up = lookup(n, "upstream")) {
        if (expect_map(up, w + ".upstream")) load_upstream(up.value, w + ".upstream", c);
      } else {
        problem(line_of(n), w + ": missing required key `upstream`");
      }
      if (const Entry cred = lookup(n, "credentials")) {
        if (expect_map(cred, w + ".credentials")) {
          load_credentials(cred, w + ".credentials", c.credentials);
        }
      } else {
        problem(line_of(n), w + ": missing required key `credentials`");
      }
      if (const Entry cred = lookup(n, "read_credentials")) {
        if (expect_map(cred, w + ".read_credentials")) {
          c.read_credentials.emplace();
          load_credentials(cred, w + ".read_credentials", *c.read_credentials);
        }
      }
      cfg_.connections.push_back(std::move(c));
    }
  }

  void load_upstream(const YAML::Node& n, const std::string& w, Connection& c) {
    check_keys(n, w,
               {"host", "port", "database", "tls", "ca", "connect_timeout", "auth", "search_path"});
    if (auto host = text(n, "host", w, true)) c.host = *host;
    if (auto port = scalar(n, "port", w, false)) {
      if (auto v = integer(*port, w + ".port", 1, 65535)) c.port = static_cast<std::uint16_t>(*v);
    }
    c.database = c.name;
    if (auto db = text(n, "database", w, false)) c.database = *db;
    static const std::vector<std::string_view> kTls = {"disable", "prefer", "require",
                                                       "verify-full"};
    static const UpstreamTls kTlsValues[] = {UpstreamTls::kDisable, UpstreamTls::kPrefer,
                                             UpstreamTls::kRequire, UpstreamTls::kVerifyFull};
    if (auto tls = choice(n, "tls", w, kTls)) c.tls = kTlsValues[*tls];
    // verify-full without `ca` verifies against the system's trust store.
    if (lookup(n, "ca")) {
      if (auto ca = file_path(n, "ca", w, true)) c.ca_file = *ca;
    }
    if (auto t = duration(n, "connect_timeout", w)) {
      if (t->count() <= 0) {
        problem(lookup(n, "connect_timeout").line, w + ".connect_timeout: must be more than 0");
      } else {
        c.connect_timeout = *t;
      }
    }
    // The path every session starts with, pinned by the gateway (sent as a
    // startup parameter) so that it knows how unqualified names resolve.
    if (auto sp = text(n, "search_path", w, false)) c.search_path = *sp;
    // Which password exchanges the gateway will take part in when the server
    // asks: narrowing it stops a man in the middle from asking for cleartext.
    if (auto methods = list(n, "auth", w, false)) {
      c.auth = UpstreamAuth{.scram_sha_256 = false, .md5 = false, .password = false};
      for (const auto& m : *methods) {
        if (m.value == "scram-sha-256") {
          c.auth.scram_sha_256 = true;
        } else if (m.value == "md5") {
          c.auth.md5 = true;
        } else if (m.value == "password") {
          c.auth.password = true;
        } else if (m.value == "trust") {
          c.auth.trust = true;
        } else {
          problem(m.line, w + ".auth: unknown method `" + m.value +
                              "` (allowed: scram-sha-256, md5, password, trust)");
        }
      }
      if (!c.auth.scram_sha_256 && !c.auth.md5 && !c.auth.password && !c.auth.trust)
        problem(lookup(n, "auth").line, w + ".auth: name at least one method");
    }
    warn_weak_upstream(w, c);
  }

  // Settings weaker than the defaults are accepted, and said: `check` lists
  // them and `serve` logs them at start.
  void warn_weak_upstream(const std::string& w, const Connection& c) {
    // On the gateway's own machine there is no wire to listen on.
    if (!loopback_host(c.host)) {
      if (c.tls == UpstreamTls::kDisable)
        cfg_.warnings.push_back(w +
                                ".tls: disable sends the credential and every value in "
                                "clear; use verify-full");
      else if (c.tls == UpstreamTls::kPrefer)
        cfg_.warnings.push_back(w +
                                ".tls: prefer falls back to clear text and does not verify "
                                "the server; use verify-full");
      else if (c.tls == UpstreamTls::kRequire)
        cfg_.warnings.push_back(w +
                                ".tls: require encrypts but does not verify the server (a "
                                "man in the middle can answer); use verify-full");
    }
    if (c.auth.password)
      cfg_.warnings.push_back(w +
                              ".auth: `password` sends the credential in clear to whoever "
                              "answers");
    if (c.auth.md5)
      cfg_.warnings.push_back(w + ".auth: `md5` hands whoever answers a hash it can replay");
    if (c.auth.trust)
      cfg_.warnings.push_back(w +
                              ".auth: `trust` accepts a server that asks for no password: "
                              "anything answering on that address is taken for it");
  }

  // The password is read here and only kept in the struct: no message below
  // includes it, only the variable's name or the file's path.
  void load_credentials(const Entry& e, const std::string& w, Credentials& cred) {
    const YAML::Node& n = e.value;
    check_keys(n, w, {"user", "password_env", "password_file"});
    if (auto user = text(n, "user", w, true)) cred.user = *user;
    const Entry env = lookup(n, "password_env");
    const Entry file = lookup(n, "password_file");
    if (env && file) {
      problem(file.line, w + ": set `password_env` or `password_file`, not both");
      return;
    }
    if (!env && !file) {
      problem(e.line, w + ": missing `password_env` or `password_file`");
      return;
    }
    if (env) {
      auto name = text(n, "password_env", w, true);
      if (!name) return;
      // Names are echoed only when they look like one (FOO_BAR): anything else
      // may well be the password itself, pasted into the wrong key.
      const bool conventional =
          valid_env_name(*name) &&
          std::none_of(name->begin(), name->end(), [](char c) { return c >= 'a' && c <= 'z'; });
      auto value = valid_env_name(*name) ? env_(*name) : std::nullopt;
      if (!value) {
        problem(env.line,
                conventional
                    ? w + ".password_env: environment variable " + ticked(*name) + " is not set"
                    : w + ".password_env: names no set environment variable (the value "
                          "is not shown: it does not look like a variable name and may "
                          "be a password)");
        return;
      }
      cred.password = std::move(*value);
      return;
    }
    std::string content;
    auto path = file_path(n, "password_file", w, true, &content, /*secret_slot=*/true);
    if (!path) return;
    while (!content.empty() && (content.back() == '\n' || content.back() == '\r')) {
      content.pop_back();
    }
    cred.password = std::move(content);
    std::error_code ec;
    const auto perms = fs::status(*path, ec).permissions();
    if (!ec && (perms & fs::perms::others_read) != fs::perms::none) {
      cfg_.warnings.push_back(w + ".password_file: " + *path + " is readable by every user");
    }
  }

  void load_access(const Entry& e) {
    if (!e || (e.value.IsSequence() && e.value.size() == 0)) {
      cfg_.warnings.push_back("no access rules: every connection will be refused");
      return;
    }
    if (!expect_list(e, "access")) return;
    std::set<std::string> connections;
    for (const auto& c : cfg_.connections) connections.insert(c.name);
    std::map<std::string, int> names;
    for (std::size_t i = 0; i < e.value.size(); ++i) {
      const YAML::Node n = e.value[i];
      const std::string w = "access[" + std::to_string(i) + "]";
      if (!expect_map({n, n.IsNull() ? e.line : line_of(n)}, w)) continue;
      check_keys(n, w,
                 {"name", "groups", "subjects", "connections", "actions", "tables", "functions"});
      policy::AccessRule rule;
      if (auto name = text(n, "name", w, true)) {
        rule.name = *name;
        unique_name(names, "access rule", *name, lookup(n, "name").line, w + ".name");
      }
      auto groups = list(n, "groups", w, false);
      auto subjects = list(n, "subjects", w, false);
      if (groups) rule.groups = values(*groups);
      if (subjects) rule.subjects = values(*subjects);
      const bool groups_ok = groups || !lookup(n, "groups");
      const bool subjects_ok = subjects || !lookup(n, "subjects");
      if (groups_ok && subjects_ok && rule.groups.empty() && rule.subjects.empty()) {
        problem(line_of(n), w + ": an access rule must name groups or subjects; use groups: ['*'] "
                                "for every authenticated caller");
      }
      if (auto conns = list(n, "connections", w, true)) {
        if (conns->empty()) {
          problem(lookup(n, "connections").line,
                  w + ".connections: must name at least one connection (or \"*\")");
        }
        for (const auto& c : *conns) {
          // Globs may match connections added later; exact names must exist now.
          if (!is_glob(c.value) && connections.count(c.value) == 0 && !cfg_.connections.empty()) {
            problem(c.line, w + ".connections: unknown connection " + ticked(c.raw));
          }
        }
        rule.connections = values(*conns);
      }
      rule.actions = {policy::Action::kRead};
      if (auto actions = list(n, "actions", w, false)) {
        static const std::vector<std::string_view> kActions = {"read", "write", "ddl", "admin"};
        static const policy::Action kValues[] = {policy::Action::kRead, policy::Action::kWrite,
                                                 policy::Action::kDdl, policy::Action::kAdmin};
        rule.actions.clear();
        for (const auto& a : *actions) {
          if (auto idx = choice(a, w + ".actions", kActions)) {
            if (std::find(rule.actions.begin(), rule.actions.end(), kValues[*idx]) ==
                rule.actions.end()) {
              rule.actions.push_back(kValues[*idx]);
            }
          }
        }
        if (actions->empty()) {
          problem(lookup(n, "actions").line,
                  w + ".actions: must name at least one of: read, write, ddl, admin");
        }
      }
      if (auto tables = list(n, "tables", w, false)) {
        rule.tables = values(*tables);
        table_globs(*tables, w + ".tables");
      }
      // Routines of the database its callers may call whatever their volatility.
      if (auto functions = list(n, "functions", w, false)) rule.functions = values(*functions);
      cfg_.access.rules.push_back(std::move(rule));
    }
  }

  // Table globs are schema.table: a bare name would never match (names are
  // compared schema-qualified), which would read as a promise not kept.
  void table_globs(const std::vector<Scalar>& tables, const std::string& at) {
    for (const auto& t : tables) {
      if (t.value.find('.') == std::string::npos && t.value != "*") {
        problem(t.line, at + ": " + ticked(t.raw) + " must be schema-qualified (e.g. public." +
                            t.raw + ")");
      }
    }
  }

  void load_guardrails(const Entry& e) {
    if (!e || e.value.IsNull()) return;
    if (!expect_list(e, "guardrails")) return;
    std::map<std::string, int> names;
    for (std::size_t i = 0; i < e.value.size(); ++i) {
      const YAML::Node n = e.value[i];
      const std::string w = "guardrails[" + std::to_string(i) + "]";
      if (!expect_map({n, n.IsNull() ? e.line : line_of(n)}, w)) continue;
      check_keys(n, w,
                 {"name", "groups", "subjects", "connections", "statements", "without_where",
                  "functions", "tables", "masked_columns_in_predicates"});
      policy::Guardrail g;
      if (auto name = text(n, "name", w, true)) {
        g.name = *name;
        unique_name(names, "guardrail", *name, lookup(n, "name").line, w + ".name");
      }
      if (auto groups = list(n, "groups", w, false)) g.groups = values(*groups);
      if (auto subjects = list(n, "subjects", w, false)) g.subjects = values(*subjects);
      if (auto conns = list(n, "connections", w, false)) g.connections = values(*conns);
      if (auto kinds = list(n, "statements", w, false)) {
        for (const auto& k : *kinds) {
          auto kind = model::kind_from_name(k.value);
          if (kind == model::Kind::kCount_ || kind == model::Kind::kUnknown) {
            problem(k.line, w + ".statements: " + ticked(k.raw) +
                                " is not a statement kind (see config.md, statement classes)");
          } else {
            g.statements.push_back(kind);
          }
        }
      }
      if (auto ww = boolean(n, "without_where", w)) g.without_where = *ww;
      if (g.without_where) {
        for (auto k : g.statements) {
          if (k != model::Kind::kUpdate && k != model::Kind::kDelete) {
            problem(lookup(n, "without_where").line,
                    w + ".without_where: applies to update and delete only");
            break;
          }
        }
      }
      if (auto fns = list(n, "functions", w, false)) g.functions = values(*fns);
      if (auto tables = list(n, "tables", w, false)) {
        g.tables = values(*tables);
        table_globs(*tables, w + ".tables");
      }
      if (auto m = boolean(n, "masked_columns_in_predicates", w))
        g.masked_columns_in_predicates = *m;
      if (g.statements.empty() && !g.without_where && g.functions.empty() && g.tables.empty() &&
          !g.masked_columns_in_predicates && !lookup(n, "statements") && !lookup(n, "functions") &&
          !lookup(n, "tables")) {
        problem(line_of(n), w + ": a guardrail must name statements, functions or tables "
                                "(a rule that matches nothing protects nothing)");
      }
      cfg_.guardrails.push_back(std::move(g));
    }
  }

  void load_masking(const Entry& e) {
    if (!e || e.value.IsNull()) return;
    if (!expect_list(e, "masking")) return;
    std::map<std::string, int> names;
    for (std::size_t i = 0; i < e.value.size(); ++i) {
      const YAML::Node n = e.value[i];
      const std::string w = "masking[" + std::to_string(i) + "]";
      if (!expect_map({n, n.IsNull() ? e.line : line_of(n)}, w)) continue;
      check_keys(
          n, w,
          {"name", "connections", "columns", "detectors", "style", "json_paths", "except_groups"});
      masking::Rule r;
      if (auto name = text(n, "name", w, true)) {
        r.name = *name;
        unique_name(names, "masking rule", *name, lookup(n, "name").line, w + ".name");
      }
      if (auto conns = list(n, "connections", w, false)) {
        if (conns->empty())
          problem(lookup(n, "connections").line,
                  w + ".connections: must name at least one connection (or \"*\")");
        r.connections = values(*conns);
      }
      if (auto cols = list(n, "columns", w, false)) {
        for (const auto& c : *cols) {
          if (c.value.find('.') == std::string::npos)
            problem(c.line, w + ".columns: " + ticked(c.raw) +
                                " must name table.column or schema.table.column (e.g. *.email)");
        }
        r.columns = values(*cols);
      }
      if (auto dets = list(n, "detectors", w, false)) {
        for (const auto& d : *dets) {
          if (auto det = masking::detector_from_name(d.value)) {
            r.detectors.set(static_cast<std::size_t>(*det));
          } else {
            std::string known;
            for (std::size_t k = 0; k < masking::kDetectorCount; ++k)
              known += (k ? ", " : "") +
                       std::string(masking::detector_name(static_cast<masking::Detector>(k)));
            problem(d.line, w + ".detectors: unknown detector " + ticked(d.raw) +
                                " (known: " + known + ")");
          }
        }
      }
      if (auto style = text(n, "style", w, false)) {
        if (auto st = masking::style_from_name(*style))
          r.style = *st;
        else
          problem(lookup(n, "style").line,
                  w + ".style: " + ticked(*style) + " is not one of partial, redact, hash");
      }
      if (auto paths = list(n, "json_paths", w, false)) {
        for (const auto& p : *paths) {
          auto jp = masking::parse_json_path(p.value);
          if (jp)
            r.json_paths.push_back(std::move(*jp));
          else
            problem(p.line, w + ".json_paths: " + ticked(p.raw) + ": " + jp.error());
        }
      }
      if (auto ex = list(n, "except_groups", w, false)) r.except_groups = values(*ex);
      if (r.columns.empty() && r.detectors.none() && r.json_paths.empty() &&
          !lookup(n, "columns") && !lookup(n, "detectors") && !lookup(n, "json_paths")) {
        problem(line_of(n), w + ": a masking rule must name columns, detectors or json_paths "
                                "(a rule that matches nothing masks nothing)");
      }
      cfg_.masking.push_back(std::move(r));
    }
  }

  void load_approvals(const Entry& e) {
    if (!e || e.value.IsNull()) return;
    if (!expect_list(e, "approvals")) return;
    std::set<std::string> connections;
    for (const auto& c : cfg_.connections) connections.insert(c.name);
    std::map<std::string, int> names;
    for (std::size_t i = 0; i < e.value.size(); ++i) {
      const YAML::Node n = e.value[i];
      const std::string w = "approvals[" + std::to_string(i) + "]";
      if (!expect_map({n, n.IsNull() ? e.line : line_of(n)}, w)) continue;
      check_keys(n, w,
                 {"name", "groups", "subjects", "connections", "statements", "tables", "on",
                  "rows_over", "approvers", "mode", "grant", "expires", "timeout"});
      approvals::Rule r;
      if (auto name = text(n, "name", w, true)) {
        r.name = *name;
        unique_name(names, "approval rule", *name, lookup(n, "name").line, w + ".name");
      }
      if (auto groups = list(n, "groups", w, false)) r.groups = values(*groups);
      if (auto subjects = list(n, "subjects", w, false)) r.subjects = values(*subjects);
      if (auto conns = list(n, "connections", w, false)) {
        for (const auto& c : *conns)
          if (!is_glob(c.value) && connections.count(c.value) == 0 && !cfg_.connections.empty())
            problem(c.line, w + ".connections: unknown connection " + ticked(c.raw));
        r.connections = values(*conns);
      }
      if (auto kinds = list(n, "statements", w, false)) {
        for (const auto& k : *kinds) {
          auto kind = model::kind_from_name(k.value);
          if (kind == model::Kind::kCount_ || kind == model::Kind::kUnknown)
            problem(k.line, w + ".statements: " + ticked(k.raw) +
                                " is not a statement kind (see config.md, statement classes)");
          else
            r.statements.push_back(kind);
        }
      }
      if (auto tables = list(n, "tables", w, false)) {
        r.tables = values(*tables);
        table_globs(*tables, w + ".tables");
      }
      if (auto on = choice(n, "on", w, {"statement", "connect"})) r.on_connect = *on == 1;
      if (auto rows = scalar(n, "rows_over", w, false))
        if (auto v = integer(*rows, w + ".rows_over", 0, kMaxRowsOver))
          r.rows_over = static_cast<std::uint64_t>(*v);
      if (r.on_connect && r.rows_over)
        problem(lookup(n, "rows_over").line,
                w + ": `rows_over` counts a statement's result; an `on: connect` rule has none");
      if (r.on_connect && (lookup(n, "statements") || lookup(n, "tables")))
        problem(lookup(n, "on").line,
                w + ": `on: connect` approves a whole session window; it takes no statements "
                    "or tables");
      if (!r.on_connect && !lookup(n, "statements") && !lookup(n, "tables") &&
          !lookup(n, "rows_over"))
        problem(line_of(n), w + ": an approval rule must name statements or tables, or be "
                                "`on: connect` (a rule that matches nothing holds nothing)");
      if (const Entry ap = lookup(n, "approvers")) {
        if (expect_map(ap, w + ".approvers")) {
          check_keys(ap.value, w + ".approvers", {"groups", "count"});
          if (auto groups = list(ap.value, "groups", w + ".approvers", true)) {
            r.approver_groups = values(*groups);
            if (r.approver_groups.empty())
              problem(ap.line, w + ".approvers.groups: must name at least one group");
            for (const auto& g : r.approver_groups)
              if (g == "*")
                problem(ap.line, w + ".approvers.groups: `*` would make every caller an "
                                     "approver; name the groups");
          }
          if (auto count = scalar(ap.value, "count", w + ".approvers", false))
            if (auto v = integer(*count, w + ".approvers.count", 1, 10))
              r.count = static_cast<int>(*v);
        }
      } else {
        problem(line_of(n), w + ": missing required key `approvers` (groups, count)");
      }
      if (auto mode = choice(n, "mode", w, {"wait", "reject"}))
        r.mode = *mode == 0 ? approvals::Mode::kWait : approvals::Mode::kReject;
      // A crossed threshold has already run the statement and cancelled it
      // (inside a transaction block that aborts it): there is nothing left to
      // hold, so the client is told now and retries once approved.
      if (r.rows_over && r.mode == approvals::Mode::kWait)
        problem(lookup(n, "mode").line,
                w + ".mode: a `rows_over` rule works in `reject` mode: the oversized result is "
                    "cancelled, the request named, and the retry runs once approved");
      if (auto grant = scalar(n, "grant", w, false)) {
        if (grant->value != "once") {
          if (auto d = parse_duration(grant->value); d && *d >= 1s && *d <= 24h * 30)
            r.grant = std::chrono::duration_cast<std::chrono::seconds>(*d);
          else
            problem(grant->line, w + ".grant: " + ticked(grant->raw) +
                                     " is not `once` or a duration between 1s and 30d");
        }
      }
      if (r.on_connect && !r.grant) {
        if (lookup(n, "grant"))
          problem(lookup(n, "grant").line,
                  w + ".grant: an access window (`on: connect`) needs a duration, not `once`");
        else
          r.grant = std::chrono::hours(1);
      }
      if (auto d = duration(n, "expires", w)) {
        if (*d < 1s)
          problem(lookup(n, "expires").line, w + ".expires: must be at least 1s");
        else
          r.expires = std::chrono::duration_cast<std::chrono::seconds>(*d);
      }
      if (auto d = duration(n, "timeout", w)) {
        if (*d < 1s)
          problem(lookup(n, "timeout").line, w + ".timeout: must be at least 1s");
        else
          r.timeout = std::chrono::duration_cast<std::chrono::seconds>(*d);
      }
      cfg_.approvals.rules.push_back(std::move(r));
    }
  }

  void load_recording(const Entry& e) {
    if (!e || e.value.IsNull()) return;
    const std::string w = "recording";
    if (!expect_map(e, w)) return;
    Recording& r = cfg_.recording;
    check_keys(e.value, w,
               {"results", "max_rows_per_statement", "retention", "audit_durability", "spool_max"});
    // With the section present, results are kept unless it says `none`.
    r.results = true;
    if (auto results = choice(e.value, "results", w, {"none", "masked"})) r.results = *results == 1;
    if (auto rows = scalar(e.value, "max_rows_per_statement", w, false))
      if (auto v = integer(*rows, w + ".max_rows_per_statement", 0, 10'000))
        r.max_rows_per_statement = static_cast<std::size_t>(*v);
    if (auto d = duration(e.value, "retention", w)) {
      if (*d < 24h)
        problem(lookup(e.value, "retention").line, w + ".retention: must be at least 1d");
      else
        r.retention = std::chrono::duration_cast<std::chrono::seconds>(*d);
    }
    if (auto mode = choice(e.value, "audit_durability", w, {"async", "sync"}))
      r.sync_audit = *mode == 1;
    if (auto max = size(e.value, "spool_max", w, 1ULL << 20, 1ULL << 40)) r.spool_max_bytes = *max;
  }

  void load_webhooks(const Entry& e) {
    if (!e || e.value.IsNull()) return;
    if (!expect_list(e, "webhooks")) return;
    std::map<std::string, int> names;
    for (std::size_t i = 0; i < e.value.size(); ++i) {
      const YAML::Node n = e.value[i];
      const std::string w = "webhooks[" + std::to_string(i) + "]";
      if (!expect_map({n, n.IsNull() ? e.line : line_of(n)}, w)) continue;
      check_keys(n, w, {"name", "url", "events", "ca", "timeout", "attempts"});
      Webhook h;
      if (auto name = text(n, "name", w, true)) {
        h.name = *name;
        unique_name(names, "webhook", *name, lookup(n, "name").line, w + ".name");
      }
      if (auto url = text(n, "url", w, true)) {
        h.url = *url;
        if (auto p = url_problem(h.url); !p.empty())
          problem(lookup(n, "url").line, w + ".url: " + p);
      }
      if (auto events = list(n, "events", w, false)) {
        h.on_created = h.on_decided = false;
        for (const auto& ev : *events) {
          if (ev.value == "created")
            h.on_created = true;
          else if (ev.value == "decided")
            h.on_decided = true;
          else
            problem(ev.line, w + ".events: " + ticked(ev.raw) + " is not one of: created, decided");
        }
        if (events->empty()) problem(lookup(n, "events").line, w + ".events: name at least one");
      }
      if (auto ca = file_path(n, "ca", w, false)) h.ca_file = *ca;
      if (auto d = duration(n, "timeout", w)) {
        if (*d < 1s || *d > 5min)
          problem(lookup(n, "timeout").line, w + ".timeout: must be between 1s and 5m");
        else
          h.timeout = std::chrono::duration_cast<std::chrono::seconds>(*d);
      }
      if (auto a = scalar(n, "attempts", w, false))
        if (auto v = integer(*a, w + ".attempts", 1, 20)) h.attempts = static_cast<int>(*v);
      cfg_.webhooks.push_back(std::move(h));
    }
  }

  void load_roles(const Entry& e) {
    if (!e || e.value.IsNull()) return;
    if (!expect_map(e, "roles")) return;
    check_keys(e.value, "roles", {"admins", "auditors"});
    if (auto admins = list(e.value, "admins", "roles", false)) cfg_.roles.admins = values(*admins);
    if (auto auditors = list(e.value, "auditors", "roles", false))
      cfg_.roles.auditors = values(*auditors);
    for (const auto* groups : {&cfg_.roles.admins, &cfg_.roles.auditors})
      for (const auto& g : *groups)
        if (g == "*")
          problem(lookup(e.value, groups == &cfg_.roles.admins ? "admins" : "auditors").line,
                  "roles: `*` would give every caller the role; name the groups");
  }

  std::string file_;
  const EnvLookup& env_;
  fs::path base_;
  std::vector<Problem> problems_;
  Config cfg_;
  bool gateway_tls_named_ = false;  // gateway.tls was written (even if it failed)
};

}  // namespace

Expected<Config, std::vector<Problem>> load_string(const std::string& text, const std::string& path,
                                                   const EnvLookup& env) {
  return Loader(path, env).load(text);
}

std::string peek_data_dir(const std::string& path) {
  fs::path base = fs::path(path).parent_path();
  if (base.empty()) base = ".";
  std::error_code ec;
  fs::path abs = fs::absolute(base, ec);
  if (!ec) base = abs;
  std::string dir = "./var";
  try {
    YAML::Node root = YAML::LoadFile(path);
    if (root.IsMap() && root["gateway"].IsMap() && root["gateway"]["data_dir"].IsScalar())
      dir = root["gateway"]["data_dir"].Scalar();
  } catch (const YAML::Exception&) {
    // The default place, then: the gateway there says what is wrong.
  }
  fs::path p(dir);
  if (p.is_relative()) p = base / p;
  return p.lexically_normal().string();
}

std::string peek_store(const std::string& path) {
  try {
    YAML::Node root = YAML::LoadFile(path);
    if (root.IsMap() && root["gateway"].IsMap() && root["gateway"]["store"].IsScalar())
      return root["gateway"]["store"].Scalar();
  } catch (const YAML::Exception&) {
  }
  return "sqlite";
}

Expected<Config, std::vector<Problem>> load_file(const std::string& path, const EnvLookup& env) {
  auto text = read_file(path);
  if (!text) {
    return unexpected(std::vector<Problem>{
        {path, 0, "cannot read the configuration: " + path + ": " + text.error()}});
  }
  return load_string(*text, path, env);
}

}  // namespace gh::config
