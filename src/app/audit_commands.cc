// The tamper-evident audit store, composed: the SQLite store in data_dir (or
// the shared PostgreSQL store gateway.store names) with this replica's hash chain, checkpoints
// signed with the gateway's audit key, and retention from `recording.retention`; and `gatehouse
// audit verify`, which reads the store directly (no running gateway needed).
//
// The audit key is its own Ed25519 key, kept apart from the token-signing
// keys: data_dir/keys/audit/<kid>.pem (0600, created on first start), with
// data_dir/keys/audit/jwks.json listing the public key of every audit key the
// gateway has had — token keys are retired after rotations, but a checkpoint
// must stay verifiable for as long as retention keeps it. A checkpoint's
// signature is a compact JWS (header {"alg":"EdDSA","kid":…,"typ":
// "gatehouse-audit-checkpoint"}) whose payload is exactly the checkpoint
// message; the typ keeps it from ever passing for a token.
#include <sys/stat.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "app/commands.h"
#include "audit/verify.h"
#include "config/config.h"
#include "gateway/services.h"
#include "identity/base64url.h"
#include "identity/jwk.h"
#include "identity/signer.h"
#include "store/postgres/pg_connection.h"
#include "store/postgres/pg_peers.h"
#include "store/postgres/pg_store.h"
#include "store/sqlite/sqlite_store.h"

namespace gh::app {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kCheckpointTyp = "gatehouse-audit-checkpoint";

Expected<std::string> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return unexpected("cannot read " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Written beside, then renamed over: a crash never leaves half a key.
Status<> write_file(const fs::path& p, std::string_view text, mode_t mode) {
  const fs::path tmp = p.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return unexpected("cannot write " + tmp.string());
    ::chmod(tmp.c_str(), mode);
    out << text;
    if (!out.flush()) return unexpected("cannot write " + tmp.string());
  }
  std::error_code ec;
  fs::rename(tmp, p, ec);
  if (ec) return unexpected("cannot write " + p.string() + ": " + ec.message());
  return Ok{};
}

// The newest key in `dir` (kids start with their creation time), created
// when there is none; its public key added to dir/jwks.json if missing.
Expected<std::shared_ptr<const identity::SigningKey>> open_audit_key(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return unexpected("cannot create " + dir.string() + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);
  std::vector<std::string> kids;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.path().extension() == ".pem") kids.push_back(entry.path().stem().string());
  std::shared_ptr<const identity::SigningKey> key;
  if (kids.empty()) {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    std::shared_ptr<identity::SigningKey> fresh = identity::SigningKey::generate(
        identity::Algorithm::kEdDSA,
        gateway::Services::random_id("audit-" + std::to_string(now) + "-", 6));
    if (auto st = write_file(dir / (fresh->kid() + ".pem"), fresh->private_pem(), 0600); !st)
      return unexpected(st.error());
    key = std::move(fresh);
  } else {
    const std::string kid = *std::max_element(kids.begin(), kids.end());
    auto pem = read_file(dir / (kid + ".pem"));
    if (!pem) return unexpected(pem.error());
    auto loaded = identity::SigningKey::from_pem(identity::Algorithm::kEdDSA, kid, *pem);
    if (!loaded) return unexpected("audit key " + kid + ": " + loaded.error());
    key = std::move(*loaded);
  }
  const fs::path jwks_path = dir / "jwks.json";
  nlohmann::json jwks = {{"keys", nlohmann::json::array()}};
  if (fs::exists(jwks_path)) {
    auto text = read_file(jwks_path);
    if (!text) return unexpected(text.error());
    jwks = nlohmann::json::parse(*text, nullptr, false);
    if (!jwks.is_object() || !jwks.contains("keys") || !jwks["keys"].is_array())
      return unexpected(jwks_path.string() + " is not a JWKS document");
  }
  for (const auto& k : jwks["keys"])
    if (k.is_object() && k.value("kid", "") == key->kid()) return key;
  jwks["keys"].push_back(nlohmann::json::parse(key->public_jwk_json()));
  if (auto st = write_file(jwks_path, jwks.dump(2) + "\n", 0644); !st)
    return unexpected(st.error());
  return key;
}

// Checks checkpoint signatures against the public keys of a JWKS.
class CheckpointKeys {
 public:
  // The public keys of every file (each replica sharing a store has its own).
  static Expected<CheckpointKeys> load(const std::vector<std::string>& paths) {
    std::vector<identity::Jwk> all_keys;
    std::string names;
    for (const auto& path : paths) {
      auto text = read_file(path);
      if (!text) return unexpected(text.error());
      auto keys = identity::parse_jwks(*text);
      if (!keys) {
        std::string all;
        for (const auto& p : keys.error()) all += (all.empty() ? "" : "; ") + p;
        return unexpected(path + ": " + all);
      }
      for (auto& k : *keys) all_keys.push_back(std::move(k));
      names += (names.empty() ? "" : ", ") + path;
    }
    return CheckpointKeys(std::move(names), std::move(all_keys));
  }

  // "" when valid, else why not (never echoing key material).
  std::string check(std::string_view kid, std::string_view signature,
                    std::string_view message) const {
    const auto dot1 = signature.find('.');
    const auto dot2 = dot1 == std::string_view::npos ? dot1 : signature.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos) return "not a compact JWS";
    const auto header_text = identity::base64url_decode(signature.substr(0, dot1));
    const auto payload = identity::base64url_decode(signature.substr(dot1 + 1, dot2 - dot1 - 1));
    const auto sig = identity::base64url_decode(signature.substr(dot2 + 1));
    if (!header_text || !payload || !sig) return "not a compact JWS";
    const auto header = nlohmann::json::parse(*header_text, nullptr, false);
    if (!header.is_object() || header.value("alg", "") != "EdDSA" ||
        header.value("typ", "") != kCheckpointTyp || header.value("kid", "") != kid)
      return "not an EdDSA checkpoint signature by " + std::string(kid);
    if (*payload != message) return "it signs a different checkpoint";
    const auto key = std::find_if(keys_.begin(), keys_.end(), [&](const identity::Jwk& k) {
      return k.has_kid && k.kid == kid;
    });
    if (key == keys_.end()) return "no public key " + std::string(kid) + " in " + path_;
    if (key->kind != identity::KeyKind::kEd25519)
      return "key " + std::string(kid) + " is not Ed25519";
    if (!identity::verify_jws_signature(identity::algorithm_spec(identity::Algorithm::kEdDSA),
                                        key->key.get(), signature.substr(0, dot2), *sig))
      return "Ed25519 verification with key " + std::string(kid) + " failed";
    return "";
  }

 private:
  CheckpointKeys(std::string path, std::vector<identity::Jwk> keys)
      : path_(std::move(path)), keys_(std::move(keys)) {}
  std::string path_;
  std::vector<identity::Jwk> keys_;
};

std::string chain_line(const audit::ReplicaSummary& r) {
  std::string out = "chain " + r.replica + ": ";
  if (r.records == 0)
    out += "no records left";
  else
    out += "records " + std::to_string(r.first_seq) + ".." + std::to_string(r.last_seq);
  if (r.anchored_at > 0)
    out += " (retention kept checkpoint " + std::to_string(r.anchored_at) + " as its start)";
  out += ", " + std::to_string(r.checkpoints) + " checkpoint(s), signed through " +
         std::to_string(r.signed_through);
  if (const auto n = audit::unsigned_records(r); n > 0)
    out += "; " + std::to_string(n) + " newer record(s) not signed yet";
  return out;
}

nlohmann::json to_json(const audit::VerifyReport& report, const std::string& path) {
  nlohmann::json findings = nlohmann::json::array();
  for (const auto& f : report.findings)
    findings.push_back({{"problem", audit::problem_name(f.problem)},
                        {"replica", f.replica},
                        {"seq", f.seq},
                        {"table", f.table},
                        {"row", f.row},
                        {"detail", f.detail}});
  nlohmann::json chains = nlohmann::json::array();
  for (const auto& r : report.replicas)
    chains.push_back({{"replica", r.replica},
                      {"first_seq", r.first_seq},
                      {"last_seq", r.last_seq},
                      {"records", r.records},
                      {"checkpoints", r.checkpoints},
                      {"signed_through", r.signed_through},
                      {"anchored_at", r.anchored_at},
                      {"unsigned", audit::unsigned_records(r)}});
  return {{"ok", report.ok()},
          {"store", path},
          {"findings", findings},
          {"chains", chains},
          {"rows_checked", report.rows_checked},
          {"legacy_rows", report.legacy_rows}};
}

}  // namespace

Expected<std::unique_ptr<audit::Store>> open_audit_store(const config::Config& cfg) {
  auto key = open_audit_key(fs::path(cfg.gateway.data_dir) / "keys" / "audit");
  if (!key) return unexpected("audit signing key: " + key.error());
  store::StoreOptions options;
  options.replica = cfg.gateway.id;
  options.chain.retention = cfg.recording.retention;
  options.durable_commits = cfg.recording.sync_audit;
  options.chain.sign =
      [key = *key](std::string_view message) -> Expected<audit::CheckpointSignature> {
    const nlohmann::json header = {{"alg", "EdDSA"}, {"kid", key->kid()}, {"typ", kCheckpointTyp}};
    std::string jws = key->sign_with_header(header.dump(), message);
    if (jws.ends_with('.')) return unexpected(std::string("Ed25519 signing failed"));
    return audit::CheckpointSignature{key->kid(), std::move(jws)};
  };
  if (is_postgres_url(cfg.gateway.store))
    return store::open_postgres_store(cfg.gateway.store, std::move(options));
  return store::open_sqlite_store(cfg.gateway.data_dir + "/audit.db", std::move(options));
}

Expected<std::unique_ptr<cluster::Peers>> open_peers(const config::Config& cfg) {
  if (!is_postgres_url(cfg.gateway.store)) return std::unique_ptr<cluster::Peers>();
  return store::open_postgres_peers(cfg.gateway.store, cfg.gateway.id);
}

Expected<std::unique_ptr<audit::Reader>> open_audit_reader(const config::Config& cfg) {
  if (is_postgres_url(cfg.gateway.store)) return store::open_postgres_reader(cfg.gateway.store);
  return store::open_sqlite_reader(cfg.gateway.data_dir + "/audit.db");
}

struct AuditCommands {
  CLI::App* verify = nullptr;
  std::string config, store;
  std::vector<std::string> keys;
  bool json = false;
};

std::shared_ptr<AuditCommands> add_audit_commands(CLI::App& app) {
  auto c = std::make_shared<AuditCommands>();
  c->verify = audit_group(app)->add_subcommand(
      "verify",
      "recompute the audit store's hash chain, check its signed checkpoints and every row "
      "against its chained record; exits 1 naming each record or row modified, deleted, "
      "inserted or reordered");
  auto* cfg = c->verify->add_option("--config,-c", c->config,
                                    "the gateway's configuration (its data_dir holds audit.db)");
  auto* st = c->verify->add_option(
      "--store", c->store, "the audit database file itself, or the shared store's postgres:// URL");
  cfg->excludes(st);
  c->verify->add_option("--keys", c->keys,
                        "JWKS of the checkpoint keys (default: keys/audit/jwks.json in the "
                        "data_dir); a copy kept elsewhere makes the check independent. Repeat "
                        "it for a shared store: one file per replica");
  c->verify->add_flag("--json", c->json, "one JSON object: findings, chains, counts");
  return c;
}

int run_audit_commands(AuditCommands& c) {
  if (!*c.verify) return -1;
  if (c.config.empty() && c.store.empty()) {
    std::cerr << "gatehouse audit verify: give --config or --store\n";
    return 2;
  }
  // The store: --store, else the configuration's (its data_dir's audit.db,
  // or the shared store its gateway.store names).
  std::string store = c.store;
  fs::path data_dir;
  if (!c.config.empty()) {
    data_dir = config::peek_data_dir(c.config);
    store = (data_dir / "audit.db").string();
    // A shared store's URL may take ${NAME} values: only then is the whole
    // file loaded (a SQLite store is found even in a file that no longer validates).
    if (is_postgres_url(config::peek_store(c.config))) {
      auto cfg = config::load_file(c.config, config::process_env());
      if (!cfg) {
        for (const auto& p : cfg.error()) std::cerr << p.to_string() << "\n";
        return 2;
      }
      store = cfg->gateway.store;
    }
  } else if (!is_postgres_url(store)) {
    data_dir = fs::path(store).parent_path();
  }
  const bool shared = is_postgres_url(store);
  // What the report names: never a URL's password.
  const std::string path = shared ? store::redact_pg_url(store) : store;
  std::vector<std::string> key_files = c.keys;
  if (key_files.empty()) {
    if (data_dir.empty()) {
      std::cerr << "gatehouse audit verify: give --keys (the replicas' keys/audit/jwks.json) "
                   "to verify a shared store\n";
      return 2;
    }
    key_files.push_back((data_dir / "keys" / "audit" / "jwks.json").string());
  }
  auto keys = CheckpointKeys::load(key_files);
  if (!keys) {
    std::cerr << "gatehouse audit verify: checkpoint keys: " << keys.error() << "\n";
    return 2;
  }
  const audit::SignatureCheck check = [&](std::string_view kid, std::string_view sig,
                                          std::string_view message) {
    return keys->check(kid, sig, message);
  };
  auto report = shared ? store::verify_postgres_store(store, check)
                       : store::verify_sqlite_store(store, check);
  if (!report) {
    std::cerr << "gatehouse audit verify: " << report.error() << "\n";
    return 2;
  }
  // Records the store did not take yet wait in the spool beside it: they are
  // not in what was just verified (they are chained once they move in).
  std::error_code ec;
  const auto spooled =
      data_dir.empty() ? std::uintmax_t{0} : fs::file_size(data_dir / "audit.spool", ec);
  const std::uintmax_t spool_bytes = ec ? 0 : spooled;
  if (c.json) {
    auto j = to_json(*report, path);
    j["spool_bytes"] = spool_bytes;
    std::cout << j.dump(2) << "\n";
  } else {
    if (spool_bytes > 0)
      std::cout << spool_bytes << " byte(s) of records wait in "
                << (data_dir / "audit.spool").string()
                << " for the store; they are not covered until the gateway moves them in\n";
    for (const auto& f : report->findings) std::cout << audit::to_line(f) << "\n";
    for (const auto& r : report->replicas) std::cout << chain_line(r) << "\n";
    if (report->legacy_rows > 0)
      std::cout << report->legacy_rows
                << " row(s) were recorded before the chain existed and are not covered\n";
    std::int64_t records = 0;
    for (const auto& r : report->replicas) records += r.records;
    std::cout << (report->ok() ? "audit verify: ok — " : "audit verify: FAILED — ")
              << report->findings.size() << " problem(s); " << report->replicas.size()
              << " chain(s), " << records << " record(s), " << report->rows_checked
              << " row(s) checked against their records in " << path << "\n";
  }
  return report->ok() ? 0 : 1;
}

}  // namespace gh::app
