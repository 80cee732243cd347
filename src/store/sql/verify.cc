// `gatehouse audit verify` for a relational store: recomputes every replica's
// chain, checks every checkpoint's signature and what it signed, and compares
// every typed row with the record it was chained as — in one read snapshot,
// so a running gateway's writes cannot look like tampering.
#include <nlohmann/json.hpp>

#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "audit/stream.h"
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
            each("SELECT replica FROM audit_chain UNION SELECT replica FROM audit_chunks UNION "
                 "SELECT replica FROM audit_checkpoints ORDER BY 1",
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

  // One record of a replica's chain as stored: a row of audit_chain, or one
  // of a chunk's records (which keeps no prev_hash: its place in the chunk is
  // its link, so the hash it was stored with is checked against the chain).
  struct Stored {
    std::int64_t seq = 0;
    bool has_at = false;
    std::int64_t at = 0;
    std::string type;
    std::string canonical;
    std::optional<std::string> prev;  // nullopt for a chunk's record
    std::string hash;
    const char* table = "audit_chain";
  };

  struct Walk {
    audit::ReplicaSummary sum;
    std::int64_t prev_seq = 0;
    std::string expected_prev{audit::kGenesisHash};
  };

  void visit(const std::string& replica, Walk& w, const Stored& r) {
    const auto& cps = checkpoints_[replica];
    const auto j = nlohmann::json::parse(r.canonical, nullptr, false);
    const std::string what = label(j);
    if (w.sum.records++ == 0) {
      w.sum.first_seq = r.seq;
      if (r.seq > 1) {
        // Nothing anchors the start: a row's own link is all there is, and a
        // chunk's record has none ("": its hash cannot be checked).
        w.expected_prev = start_after_anchor(replica, r.seq, r.prev.value_or(""), w.sum);
        w.prev_seq = r.seq - 1;
      }
    }
    const std::string prev = r.prev ? *r.prev : w.expected_prev;
    if (r.seq <= w.prev_seq) {
      add(Problem::kInserted, replica, r.seq, r.table, what,
          "a second record with seq " + std::to_string(r.seq) + " (after seq " +
              std::to_string(w.prev_seq) + ")");
      --w.sum.records;
      return;
    }
    if (r.seq != w.prev_seq + 1) {
      add(Problem::kDeleted, replica, w.prev_seq + 1, "audit_chain", "",
          records_are(w.prev_seq + 1, r.seq - 1) + " missing from the chain");
    } else if (prev != w.expected_prev) {
      add(Problem::kOutOfOrder, replica, r.seq, r.table, what,
          "the record does not follow seq " + std::to_string(w.prev_seq) +
              " (a record was inserted, deleted or moved here)");
    }
    // A chunk's record right after a gap links to the record that is gone:
    // the gap is what is reported, its hash cannot be checked.
    const bool checkable = r.prev || (!prev.empty() && r.seq == w.prev_seq + 1);
    if (checkable && audit::chain_hash(prev, r.canonical) != r.hash) {
      add(Problem::kModified, replica, r.seq, r.table, what,
          "the record's content does not match its hash");
    } else {
      const auto* spec = j.is_object() ? audit::find_spec(r.type) : nullptr;
      const std::string at_field = spec ? std::string(spec->at_field) : "";
      const bool consistent = spec && j.value("type", "") == r.type &&
                              (j.contains(at_field) && j[at_field].is_number_integer()
                                   ? r.has_at && r.at == j[at_field].get<std::int64_t>()
                                   : !r.has_at || j.contains(at_field));
      if (!consistent)
        add(Problem::kModified, replica, r.seq, r.table, what,
            "the record's type or at_us column does not match its content");
    }
    if (const auto cp = cps.find(r.seq); cp != cps.end()) {
      if (cp->second.hash != r.hash)
        add(Problem::kCheckpointMismatch, replica, r.seq, "audit_checkpoints", "",
            "the chain differs from what the checkpoint signed: records after seq " +
                std::to_string(w.sum.signed_through) + " up to " + std::to_string(r.seq) +
                " were rewritten");
      else if (cp->second.valid)
        w.sum.signed_through = r.seq;
    }
    w.expected_prev = r.hash;
    w.prev_seq = r.seq;
  }

  struct ChunkRow {
    std::int64_t id = 0, first_seq = 0, last_seq = 0, records = 0, min_at = 0, max_at = 0;
    std::string hash, body, texts;
    std::int64_t format = 0;
  };

  // A chunk's records, after checking them against its summary, its texts
  // and its search keys (what search trusts to find them).
  std::vector<Stored> open_chunk(const std::string& replica, const ChunkRow& c,
                                 const std::set<std::string>& keys) {
    std::vector<Stored> out;
    const std::string where = "id=" + std::to_string(c.id);
    const std::string range = records_are(c.first_seq, c.last_seq);
    auto records = c.format == audit::kChunkFormat
                       ? audit::decode_chunk(c.body)
                       : Expected<std::vector<audit::ChunkRecord>>(
                             unexpected("format " + std::to_string(c.format) + " is unknown"));
    if (!records) {
      add(Problem::kModified, replica, c.first_seq, "audit_chunks", where,
          range + " unreadable: " + records.error());
      return out;
    }
    auto texts = audit::decode_texts(c.texts);
    std::set<std::string> expected;
    std::int64_t min_at = 0, max_at = 0;
    bool summary_ok = !records->empty() &&
                      c.records == static_cast<std::int64_t>(records->size()) &&
                      records->front().seq == c.first_seq && records->back().seq == c.last_seq &&
                      records->back().hash == c.hash;
    bool texts_ok = texts && texts->size() == records->size();
    for (std::size_t i = 0; i < records->size(); ++i) {
      auto& rec = (*records)[i];
      Stored st;
      st.seq = rec.seq;
      st.canonical = std::move(rec.canonical);
      st.hash = std::move(rec.hash);
      st.table = "audit_chunks";
      const auto j = nlohmann::json::parse(st.canonical, nullptr, false);
      if (j.is_object()) {
        st.type = j.value("type", "");
        if (const auto at = j.find("at_us"); at != j.end() && at->is_number_integer()) {
          st.has_at = true;
          st.at = at->get<std::int64_t>();
          min_at = i == 0 ? st.at : std::min(min_at, st.at);
          max_at = i == 0 ? st.at : std::max(max_at, st.at);
        }
        if (st.type == "statement") chunk_keys_of(j, expected);
        if (texts_ok) texts_ok = record_text(j, "text") == (*texts)[i];
      }
      out.push_back(std::move(st));
    }
    summary_ok = summary_ok && min_at == c.min_at && max_at == c.max_at;
    if (!summary_ok)
      add(Problem::kModified, replica, c.first_seq, "audit_chunks", where,
          "the chunk's summary (seq range, count, times or hash) does not match its records");
    if (!texts_ok)
      add(Problem::kModified, replica, c.first_seq, "audit_chunks", where,
          "the chunk's texts (what text search reads) do not match its records");
    std::string missing;
    for (const auto& k : expected)
      if (!keys.count(k)) missing += (missing.empty() ? "" : ", ") + k;
    if (!missing.empty())
      add(Problem::kDeleted, replica, c.first_seq, "audit_chunk_keys", where,
          "search keys of the chunk's records are missing: " + missing);
    return out;
  }

  // The search keys a statement's record puts in its chunk (audit/stream.h).
  static void chunk_keys_of(const nlohmann::json& j, std::set<std::string>& keys) {
    model::StatementEvent e;
    e.session_id = record_text(j, "session_id");
    e.outcome = record_text(j, "outcome");
    e.decision.kind = record_text(j, "kind");
    e.decision.decision = record_text(j, "decision");
    e.decision.rule = record_text(j, "rule");
    if (const auto t = j.find("tables_json"); t != j.end() && t->is_array())
      for (const auto& v : *t) e.decision.tables.push_back(record_text({{"t", v}}, "t"));
    audit::statement_keys(e, keys);
  }

  Status<> walk(const std::string& replica) {
    auto s =
        q("SELECT seq, at_us, type, canonical, prev_hash, hash FROM audit_chain "
          "WHERE replica = ? ORDER BY seq");
    if (!s) return unexpected(s.error());
    (*s)->bind_text(1, replica);
    std::vector<ChunkRow> chunks;
    auto cs = q(
        "SELECT id, first_seq, last_seq, records, min_at_us, max_at_us, hash, format, body, texts "
        "FROM audit_chunks WHERE replica = ? ORDER BY first_seq, id");
    if (!cs) return unexpected(cs.error());
    (*cs)->bind_text(1, replica);
    auto st = each(**cs, "read audit_chunks", [&](Statement& r) {
      chunks.push_back({r.column_int(0), r.column_int(1), r.column_int(2), r.column_int(3),
                        r.column_int(4), r.column_int(5), r.column_text(6), r.column_text(8),
                        r.column_text(9), r.column_int(7)});
    });
    if (!st) return st;
    std::map<std::int64_t, std::set<std::string>> keys;
    auto ks =
        q("SELECT k.chunk_id, k.key FROM audit_chunk_keys k JOIN audit_chunks c ON c.id = "
          "k.chunk_id WHERE c.replica = ?");
    if (!ks) return unexpected(ks.error());
    (*ks)->bind_text(1, replica);
    st = each(**ks, "read audit_chunk_keys",
              [&](Statement& r) { keys[r.column_int(0)].insert(r.column_text(1)); });
    if (!st) return st;

    Walk w;
    w.sum.replica = replica;
    w.sum.checkpoints = static_cast<std::int64_t>(checkpoints_[replica].size());
    // Chunk records and chain rows, merged by seq; chunks are opened one at a time.
    std::size_t next_chunk = 0;
    std::vector<Stored> open;
    std::size_t at = 0;
    const auto drain_before = [&](std::int64_t seq) {
      for (;;) {
        if (at == open.size()) {
          if (next_chunk == chunks.size() || chunks[next_chunk].first_seq >= seq) return;
          const auto& c = chunks[next_chunk++];
          open = open_chunk(replica, c, keys[c.id]);
          at = 0;
          continue;
        }
        if (open[at].seq >= seq) return;
        visit(replica, w, open[at++]);
      }
    };
    st = each(**s, "walk the chain", [&](Statement& r) {
      Stored row;
      row.seq = r.column_int(0);
      row.has_at = r.column_type(1) != ColumnType::kNull;
      row.at = row.has_at ? r.column_int(1) : 0;
      row.type = r.column_text(2);
      row.canonical = r.column_text(3);
      row.prev = r.column_text(4);
      row.hash = r.column_text(5);
      drain_before(row.seq);
      visit(replica, w, row);
    });
    if (!st) return st;
    drain_before(std::numeric_limits<std::int64_t>::max());
    audit::ReplicaSummary& sum = w.sum;
    const std::int64_t prev_seq = w.prev_seq;
    const auto& cps = checkpoints_[replica];
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
