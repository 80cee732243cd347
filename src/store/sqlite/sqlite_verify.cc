// `gatehouse audit verify` for the SQLite store: recomputes every replica's
// chain, checks every checkpoint's signature and what it signed, and compares
// every typed row with the record it was chained as — in one read snapshot,
// so a running gateway's writes cannot look like tampering.
#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "store/sqlite/sqlite_detail.h"
#include "store/sqlite/sqlite_store.h"

namespace gh::store {
namespace {

using namespace sqlite_detail;
using audit::Finding;
using audit::Problem;

struct Checkpoint {
  std::string hash;
  std::int64_t at_us = 0;
  bool valid = false;  // its signature verified
};

struct Anchor {
  std::int64_t seq = 0;
  std::string hash;
};

// "record 4 is" / "records 4..6 are".
std::string records_are(std::int64_t from, std::int64_t to) {
  return from == to ? "record " + std::to_string(from) + " is"
                    : "records " + std::to_string(from) + ".." + std::to_string(to) + " are";
}

// "statement session_id=s1 seq=3" from a chained record's JSON.
std::string label(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) return "";
  const std::string type = j["type"].get<std::string>();
  std::string out = type;
  if (const auto* spec = audit::find_spec(type)) {
    for (auto k : spec->key) {
      const auto it = j.find(std::string(k));
      if (it == j.end()) continue;
      out += ' ' + std::string(k) + '=' + (it->is_string() ? it->get<std::string>() : it->dump());
    }
  }
  return out;
}

// The members two canonical texts disagree on, or "" when neither parses.
std::string differing_fields(const std::string& a, const std::string& b) {
  const auto ja = nlohmann::json::parse(a, nullptr, false);
  const auto jb = nlohmann::json::parse(b, nullptr, false);
  if (!ja.is_object() || !jb.is_object()) return "";
  std::set<std::string> keys;
  for (const auto& [k, v] : ja.items()) keys.insert(k);
  for (const auto& [k, v] : jb.items()) keys.insert(k);
  std::string out;
  for (const auto& k : keys) {
    if (ja.contains(k) && jb.contains(k) && ja[k] == jb[k]) continue;
    out += (out.empty() ? "" : ", ") + k;
  }
  return out;
}

class Verifier {
 public:
  Verifier(sqlite3* db, const audit::SignatureCheck& check) : db_(db), check_(check) {}

  Expected<audit::VerifyReport> run() {
    auto version = query_text(db_, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
    if (!version) return unexpected(version.error());
    if (std::stoi(*version) < kChainSchemaVersion)
      return unexpected("the store is at schema version " + *version +
                        ", from before the audit chain: there is nothing to verify");
    for (auto step : {&Verifier::load_checkpoints, &Verifier::load_anchors, &Verifier::load_legacy,
                      &Verifier::walk_chains}) {
      if (auto st = (this->*step)(); !st) return unexpected(st.error());
    }
    for (const auto& t : typed_tables())
      if (auto st = check_rows(t); !st) return unexpected(st.error());
    return std::move(report_);
  }

 private:
  Expected<Stmt> q(std::string_view sql) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &raw, nullptr) !=
        SQLITE_OK)
      return unexpected(db_error(db_, "prepare"));
    return Stmt(raw);
  }

  // Steps `s` to the end, calling `row` for each row.
  template <class Row>
  Status<> each(sqlite3_stmt* s, std::string_view what, Row&& row) {
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) row(s);
    if (rc != SQLITE_DONE) return unexpected(db_error(db_, what));
    return Ok{};
  }
  // The same for a query without parameters.
  template <class Row>
  Status<> each(const std::string& sql, std::string_view what, Row&& row) {
    auto s = q(sql);
    if (!s) return unexpected(s.error());
    return each(s->get(), what, std::forward<Row>(row));
  }

  void add(Problem p, std::string replica, std::int64_t seq, std::string table, std::string row,
           std::string detail) {
    report_.findings.push_back(
        {p, std::move(replica), seq, std::move(table), std::move(row), std::move(detail)});
  }

  Status<> load_checkpoints() {
    return each(
        "SELECT replica, seq, hash, at_us, kid, signature FROM audit_checkpoints "
        "ORDER BY replica, seq",
        "read checkpoints", [&](sqlite3_stmt* r) {
          const std::string replica = column_text(r, 0);
          const std::int64_t seq = sqlite3_column_int64(r, 1);
          Checkpoint cp{column_text(r, 2), sqlite3_column_int64(r, 3), false};
          const std::string kid = column_text(r, 4);
          const std::string message = audit::checkpoint_message(replica, seq, cp.hash, cp.at_us);
          const std::string why =
              check_ ? check_(kid, column_text(r, 5), message) : "no key to check it with";
          cp.valid = why.empty();
          if (!cp.valid)
            add(Problem::kBadSignature, replica, seq, "audit_checkpoints", "kid=" + kid,
                "the checkpoint's signature does not verify: " + why);
          checkpoints_[replica][seq] = std::move(cp);
        });
  }

  // Where each chain starts since the newest retention purge.
  Status<> load_anchors() {
    return each(
        "SELECT canonical FROM audit_chain WHERE type = 'retention_purge' "
        "ORDER BY at_us DESC, id DESC LIMIT 1",
        "read retention anchors", [&](sqlite3_stmt* r) {
          const auto j = nlohmann::json::parse(column_text(r, 0), nullptr, false);
          if (!j.is_object() || !j.contains("anchors") || !j["anchors"].is_object()) return;
          for (const auto& [replica, a] : j["anchors"].items()) {
            if (!a.is_object() || !a.contains("seq") || !a["seq"].is_number_integer()) continue;
            anchors_[replica] = {a["seq"].get<std::int64_t>(),
                                 a.contains("hash") && a["hash"].is_string()
                                     ? a["hash"].get<std::string>()
                                     : std::string()};
          }
        });
  }

  Status<> load_legacy() {
    return each("SELECT tbl, max_rowid FROM audit_legacy", "read audit_legacy",
                [&](sqlite3_stmt* r) { legacy_[column_text(r, 0)] = sqlite3_column_int64(r, 1); });
  }

  Status<> walk_chains() {
    std::vector<std::string> replicas;
    if (auto st =
            each("SELECT replica FROM audit_chain UNION SELECT replica FROM audit_checkpoints "
                 "ORDER BY 1",
                 "list replicas", [&](sqlite3_stmt* r) { replicas.push_back(column_text(r, 0)); });
        !st)
      return st;
    for (const auto& replica : replicas)
      if (auto st = walk(replica); !st) return st;
    return Ok{};
  }

  // Where a chain whose first record is `first` (> 1) starts: the checkpoint
  // retention kept as its anchor.
  std::string start_after_anchor(const std::string& replica, std::int64_t first,
                                 const std::string& first_prev, audit::ReplicaSummary& sum) {
    const auto& cps = checkpoints_[replica];
    const auto anchor = anchors_.find(replica);
    const auto cp = cps.find(first - 1);
    std::string problem;
    if (anchor == anchors_.end())
      problem = "no retention purge accounts for them";
    else if (anchor->second.seq != first - 1)
      problem = "the newest retention purge left this chain starting after seq " +
                std::to_string(anchor->second.seq);
    if (cp == cps.end())
      problem += std::string(problem.empty() ? "" : "; ") + "no checkpoint at seq " +
                 std::to_string(first - 1) + " anchors the chain's start";
    if (!problem.empty())
      add(Problem::kUnanchored, replica, first, "audit_chain", "",
          records_are(1, first - 1) + " missing: " + problem);
    if (cp != cps.end()) {
      if (cp->second.valid) sum.anchored_at = first - 1;
      return cp->second.hash;
    }
    return anchor != anchors_.end() ? anchor->second.hash : first_prev;
  }

  Status<> walk(const std::string& replica) {
    auto s =
        q("SELECT seq, at_us, type, canonical, prev_hash, hash FROM audit_chain "
          "WHERE replica = ? ORDER BY seq");
    if (!s) return unexpected(s.error());
    bind_text(s->get(), 1, replica);
    audit::ReplicaSummary sum;
    sum.replica = replica;
    const auto& cps = checkpoints_[replica];
    sum.checkpoints = static_cast<std::int64_t>(cps.size());
    std::int64_t prev_seq = 0;
    std::string expected_prev(audit::kGenesisHash);
    auto st = each(s->get(), "walk the chain", [&](sqlite3_stmt* r) {
      const std::int64_t seq = sqlite3_column_int64(r, 0);
      const auto at = column_int(r, 1);
      const std::string type = column_text(r, 2);
      const std::string canonical = column_text(r, 3);
      const std::string prev = column_text(r, 4);
      const std::string hash = column_text(r, 5);
      const auto j = nlohmann::json::parse(canonical, nullptr, false);
      const std::string what = label(j);
      if (sum.records++ == 0) {
        sum.first_seq = seq;
        if (seq > 1) {
          expected_prev = start_after_anchor(replica, seq, prev, sum);
          prev_seq = seq - 1;
        }
      }
      if (seq != prev_seq + 1) {
        add(Problem::kDeleted, replica, prev_seq + 1, "audit_chain", "",
            records_are(prev_seq + 1, seq - 1) + " missing from the chain");
      } else if (prev != expected_prev) {
        add(Problem::kOutOfOrder, replica, seq, "audit_chain", what,
            "the record does not follow seq " + std::to_string(prev_seq) +
                " (a record was inserted, deleted or moved here)");
      }
      if (audit::chain_hash(prev, canonical) != hash) {
        add(Problem::kModified, replica, seq, "audit_chain", what,
            "the record's content does not match its hash");
      } else {
        const auto* spec = j.is_object() ? audit::find_spec(type) : nullptr;
        const std::string at_field = spec ? std::string(spec->at_field) : "";
        const bool consistent = spec && j.value("type", "") == type &&
                                (j.contains(at_field) && j[at_field].is_number_integer()
                                     ? at && *at == j[at_field].get<std::int64_t>()
                                     : !at || j.contains(at_field));
        if (!consistent)
          add(Problem::kModified, replica, seq, "audit_chain", what,
              "the record's type or at_us column does not match its content");
      }
      if (const auto cp = cps.find(seq); cp != cps.end()) {
        if (cp->second.hash != hash)
          add(Problem::kCheckpointMismatch, replica, seq, "audit_checkpoints", "",
              "the chain differs from what the checkpoint signed: records after seq " +
                  std::to_string(sum.signed_through) + " up to " + std::to_string(seq) +
                  " were rewritten");
        else if (cp->second.valid)
          sum.signed_through = seq;
      }
      expected_prev = hash;
      prev_seq = seq;
    });
    if (!st) return st;
    sum.last_seq = prev_seq;
    // Checkpoints past the end sign records that are gone (the newest names the loss).
    if (!cps.empty() && cps.rbegin()->first > prev_seq) {
      const std::int64_t signed_end = cps.rbegin()->first;
      const auto anchor = anchors_.find(replica);
      const bool purged_whole =
          sum.records == 0 && anchor != anchors_.end() && anchor->second.seq == signed_end;
      if (purged_whole)
        sum.anchored_at = signed_end;
      else if (sum.records == 0 || signed_end > prev_seq)
        add(Problem::kTruncated, replica, prev_seq + 1, "audit_chain", "",
            records_are(prev_seq + 1, signed_end) + " gone, though checkpoint " +
                std::to_string(signed_end) + " signed " +
                (prev_seq + 1 == signed_end ? "it" : "them"));
    }
    report_.replicas.push_back(std::move(sum));
    return Ok{};
  }

  // Rows of `t` against their chained records: changed, unchained, not in
  // the chain, missing, or duplicated.
  Status<> check_rows(const TypedTable& t) {
    const auto& spec = audit::spec(t.type);
    const int n = static_cast<int>(spec.fields.size());
    const std::string table = t.table;
    const std::string ref = t.ref;
    // Sessions and statements have a natural key; other rows are named by rowid too.
    const bool natural = table == "sessions" || table == "statements";
    const auto row_label = [&](const audit::Record& r, std::int64_t rowid) {
      return natural ? r.key() : "rowid=" + std::to_string(rowid) + " " + r.key();
    };

    auto st = each(
        "SELECT " + column_list(spec, "t") + ", t." + ref +
            ", t.rowid, c.canonical, c.replica, c.seq, c.type FROM " + table +
            " t LEFT JOIN audit_chain c ON c.id = t." + ref + " WHERE t." + ref + " IS NOT NULL",
        "read " + table, [&](sqlite3_stmt* r) {
          audit::Record rec(t.type);
          read_fields(r, 0, rec);
          const std::int64_t id = sqlite3_column_int64(r, n);
          const std::string where = row_label(rec, sqlite3_column_int64(r, n + 1));
          ++report_.rows_checked;
          if (sqlite3_column_type(r, n + 2) == SQLITE_NULL) {
            add(Problem::kUnchained, "", 0, table, where,
                "the row names chain record #" + std::to_string(id) + ", which does not exist");
            return;
          }
          const std::string canonical = column_text(r, n + 2);
          const std::string replica = column_text(r, n + 3);
          const std::int64_t seq = sqlite3_column_int64(r, n + 4);
          const std::string type = column_text(r, n + 5);
          if (type != spec.name) {
            add(Problem::kModified, replica, seq, table, where,
                "the row names a " + type + " record of the chain, not a " +
                    std::string(spec.name));
            return;
          }
          const std::string mine = rec.canonical();
          if (mine == canonical) return;
          const std::string fields = differing_fields(mine, canonical);
          add(Problem::kModified, replica, seq, table, where,
              (fields.empty() ? std::string("the row") : fields) +
                  " differs from the chained record");
        });
    if (!st) return st;

    // Rows no record covers: from before the chain (legacy), else inserted. A
    // sessions row its end created has no start to cover (every start column NULL).
    const std::int64_t legacy = legacy_.count(table) ? legacy_[table] : 0;
    st = each(
        "SELECT " + column_list(spec) + ", rowid FROM " + table + " WHERE " + ref + " IS NULL",
        "read " + table, [&](sqlite3_stmt* r) {
          const std::int64_t rowid = sqlite3_column_int64(r, n);
          if (rowid <= legacy) {
            if (t.type != audit::RecordType::kSessionEnd) ++report_.legacy_rows;
            return;
          }
          audit::Record rec(t.type);
          read_fields(r, 0, rec);
          bool covers_something = false;
          for (std::size_t i = 0; i < rec.values().size(); ++i)
            if (spec.fields[i].name != "id" && !rec.values()[i].null) covers_something = true;
          if (!covers_something) return;
          add(Problem::kInserted, "", 0, table, row_label(rec, rowid),
              t.type == audit::RecordType::kSessionEnd ? "the session's end is not in the chain"
                                                       : "the row is not in the chain");
        });
    if (!st) return st;

    auto missing =
        q("SELECT c.replica, c.seq, c.canonical FROM audit_chain c WHERE c.type = ? "
          "AND NOT EXISTS (SELECT 1 FROM " +
          table + " t WHERE t." + ref + " = c.id) ORDER BY c.replica, c.seq");
    if (!missing) return unexpected(missing.error());
    bind_text(missing->get(), 1, spec.name);
    st = each(missing->get(), "find rows missing from " + table, [&](sqlite3_stmt* r) {
      const auto j = nlohmann::json::parse(column_text(r, 2), nullptr, false);
      add(Problem::kDeleted, column_text(r, 0), sqlite3_column_int64(r, 1), table, label(j),
          "the chained " + std::string(spec.name) + " has no row in " + table);
    });
    if (!st) return st;

    return each(
        "SELECT count(*), c.replica, c.seq FROM " + table +
            " t LEFT JOIN audit_chain c ON c.id = t." + ref + " WHERE t." + ref +
            " IS NOT NULL GROUP BY t." + ref + " HAVING count(*) > 1",
        "find duplicated rows in " + table, [&](sqlite3_stmt* r) {
          add(Problem::kInserted, column_text(r, 1), sqlite3_column_int64(r, 2), table, "",
              std::to_string(sqlite3_column_int64(r, 0)) + " rows claim the same chained record");
        });
  }

  sqlite3* db_;
  const audit::SignatureCheck& check_;
  audit::VerifyReport report_;
  std::map<std::string, std::map<std::int64_t, Checkpoint>> checkpoints_;
  std::map<std::string, Anchor> anchors_;
  std::map<std::string, std::int64_t> legacy_;
};

}  // namespace

Expected<audit::VerifyReport> verify_sqlite_store(const std::string& path,
                                                  const audit::SignatureCheck& check) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  Db db(raw);
  if (rc != SQLITE_OK)
    return unexpected("sqlite: open " + path + ": " +
                      (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  sqlite3_busy_timeout(db.get(), 5'000);
  // One snapshot for every query: a gateway writing meanwhile is not tampering.
  if (auto st = exec(db.get(), "BEGIN", "begin"); !st) return unexpected(st.error());
  auto report = Verifier(db.get(), check).run();
  (void)exec(db.get(), "COMMIT", "commit");
  return report;
}

}  // namespace gh::store
