// `gatehouse audit verify` for a relational store: recomputes every replica's
// chain, checks every checkpoint's signature and what it signed, and compares
// every typed row with the record it was chained as — in one read snapshot,
// so a running gateway's writes cannot look like tampering.
#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "store/sql/store.h"
#include "store/sql/tables.h"

namespace gh::store::sql {
namespace {

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
  Verifier(Connection& db, int chain_version, const audit::SignatureCheck& check)
      : db_(db), chain_version_(chain_version), check_(check) {}

  Expected<audit::VerifyReport> run() {
    auto version = query_text(db_, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
    if (!version) return unexpected(version.error());
    if (std::stoi(*version) < chain_version_)
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
  Expected<std::unique_ptr<Statement>> q(std::string_view sql) { return db_.prepare(sql, false); }

  // Steps `s` to the end, calling `row` for each row.
  template <class Row>
  Status<> each(Statement& s, std::string_view what, Row&& row) {
    if (auto st = sql::each(s, std::forward<Row>(row)); !st)
      return unexpected(std::string(what) + ": " + st.error());
    return Ok{};
  }
  // The same for a query without parameters.
  template <class Row>
  Status<> each(const std::string& sql, std::string_view what, Row&& row) {
    auto s = q(sql);
    if (!s) return unexpected(s.error());
    return each(**s, what, std::forward<Row>(row));
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
        "read checkpoints", [&](Statement& r) {
          const std::string replica = r.column_text(0);
          const std::int64_t seq = r.column_int(1);
          Checkpoint cp{r.column_text(2), r.column_int(3), false};
          const std::string kid = r.column_text(4);
          const std::string message = audit::checkpoint_message(replica, seq, cp.hash, cp.at_us);
          const std::string why =
              check_ ? check_(kid, r.column_text(5), message) : "no key to check it with";
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
        "read retention anchors", [&](Statement& r) {
          const auto j = nlohmann::json::parse(r.column_text(0), nullptr, false);
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
                [&](Statement& r) { legacy_[r.column_text(0)] = r.column_int(1); });
  }

  Status<> walk_chains() {
    std::vector<std::string> replicas;
    if (auto st =
            each("SELECT replica FROM audit_chain UNION SELECT replica FROM audit_checkpoints "
                 "ORDER BY 1",
                 "list replicas", [&](Statement& r) { replicas.push_back(r.column_text(0)); });
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
    (*s)->bind_text(1, replica);
    audit::ReplicaSummary sum;
    sum.replica = replica;
    const auto& cps = checkpoints_[replica];
    sum.checkpoints = static_cast<std::int64_t>(cps.size());
    std::int64_t prev_seq = 0;
    std::string expected_prev(audit::kGenesisHash);
    auto st = each(**s, "walk the chain", [&](Statement& r) {
      const std::int64_t seq = r.column_int(0);
      const bool has_at = r.column_type(1) != ColumnType::kNull;
      const std::int64_t at = has_at ? r.column_int(1) : 0;
      const std::string type = r.column_text(2);
      const std::string canonical = r.column_text(3);
      const std::string prev = r.column_text(4);
      const std::string hash = r.column_text(5);
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
                                     ? has_at && at == j[at_field].get<std::int64_t>()
                                     : !has_at || j.contains(at_field));
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
        "read " + table, [&](Statement& r) {
          audit::Record rec(t.type);
          read_fields(r, 0, rec);
          const std::int64_t id = r.column_int(n);
          const std::string where = row_label(rec, r.column_int(n + 1));
          ++report_.rows_checked;
          if (r.column_type(n + 2) == ColumnType::kNull) {
            add(Problem::kUnchained, "", 0, table, where,
                "the row names chain record #" + std::to_string(id) + ", which does not exist");
            return;
          }
          const std::string canonical = r.column_text(n + 2);
          const std::string replica = r.column_text(n + 3);
          const std::int64_t seq = r.column_int(n + 4);
          const std::string type = r.column_text(n + 5);
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
        "read " + table, [&](Statement& r) {
          const std::int64_t rowid = r.column_int(n);
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
    (*missing)->bind_text(1, spec.name);
    st = each(**missing, "find rows missing from " + table, [&](Statement& r) {
      const auto j = nlohmann::json::parse(r.column_text(2), nullptr, false);
      add(Problem::kDeleted, r.column_text(0), r.column_int(1), table, label(j),
          "the chained " + std::string(spec.name) + " has no row in " + table);
    });
    if (!st) return st;

    return each("SELECT count(*), c.replica, c.seq FROM " + table +
                    " t LEFT JOIN audit_chain c ON c.id = t." + ref + " WHERE t." + ref +
                    " IS NOT NULL GROUP BY t." + ref + ", c.replica, c.seq HAVING count(*) > 1",
                "find duplicated rows in " + table, [&](Statement& r) {
                  add(Problem::kInserted, r.column_text(1), r.column_int(2), table, "",
                      std::to_string(r.column_int(0)) + " rows claim the same chained record");
                });
  }

  Connection& db_;
  int chain_version_;
  const audit::SignatureCheck& check_;
  audit::VerifyReport report_;
  std::map<std::string, std::map<std::int64_t, Checkpoint>> checkpoints_;
  std::map<std::string, Anchor> anchors_;
  std::map<std::string, std::int64_t> legacy_;
};

}  // namespace

Expected<audit::VerifyReport> verify_store(Connection& conn, int chain_version,
                                           const audit::SignatureCheck& check) {
  // One snapshot for every query: a gateway writing meanwhile is not tampering.
  if (auto st = conn.begin_snapshot(); !st) return unexpected(st.error());
  auto report = Verifier(conn, chain_version, check).run();
  conn.rollback();
  return report;
}

}  // namespace gh::store::sql
