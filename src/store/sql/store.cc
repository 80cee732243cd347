#include "store/sql/store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "audit/stream.h"
#include "store/sql/tables.h"

namespace gh::store::sql {

Status<> run(Statement& s) {
  return each(s, [](Statement&) {});
}

Expected<std::string> query_text(Connection& c, std::string_view sql) {
  auto s = c.prepare(sql, false);
  if (!s) return unexpected(s.error());
  auto row = (*s)->step();
  if (!row) return unexpected(row.error());
  if (!*row) return unexpected(std::string(c.dialect().name) + ": no row from " + std::string(sql));
  return (*s)->column_text(0);
}

namespace {

std::string with_context(std::string_view what, const std::string& error) {
  return std::string(what) + ": " + error;
}

// Runs `s` to the end, naming `what` in an error.
Status<> run(Statement& s, std::string_view what) {
  if (auto st = sql::run(s); !st) return unexpected(with_context(what, st.error()));
  return Ok{};
}

// Runs an INSERT; the id it made (from its RETURNING, where the dialect has one).
Expected<std::int64_t> insert_returning(Connection& c, Statement& s, std::string_view what) {
  if (!c.dialect().insert_returns_id) {
    if (auto st = run(s, what); !st) return unexpected(st.error());
    return c.last_insert_id();
  }
  auto row = s.step();
  if (!row || !*row) {
    const std::string error = row ? std::string("no row returned") : row.error();
    s.reset();
    return unexpected(with_context(what, error));
  }
  const std::int64_t id = s.column_int(0);
  s.reset();
  return id;
}

std::string utc_now_iso() {
  const auto now = std::chrono::system_clock::now();
  const auto t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Status<> apply_migrations(Connection& c, std::span<const Migration> migrations) {
  const std::string_view db = c.dialect().name;
  // Under the maintenance lock too: PostgreSQL's IF NOT EXISTS does not keep
  // two replicas starting on an empty database from both creating the table.
  if (auto st = c.begin(); !st) return st;
  auto created = [&]() -> Status<> {
    if (auto st = c.lock_maintenance(); !st) return st;
    if (auto st = c.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY "
                         "KEY, applied_at TEXT)");
        !st)
      return st;
    return c.commit();
  }();
  if (!created) {
    c.rollback();
    return unexpected(with_context("create schema_migrations", created.error()));
  }
  const int known = migrations.empty() ? 0 : migrations.back().version;
  // One migration per transaction; each takes the maintenance lock and reads
  // the version again, so replicas starting together apply each step once.
  for (;;) {
    if (auto st = c.begin(); !st) return st;
    auto step = [&]() -> Expected<bool> {
      if (auto st = c.lock_maintenance(); !st) return unexpected(st.error());
      auto current = query_text(c, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
      if (!current) return unexpected(current.error());
      const int have = std::stoi(*current);
      // A newer gateway has written here: writing with an older schema would corrupt it.
      if (have > known) {
        return unexpected(std::string(db) + ": database schema version " + std::to_string(have) +
                          " is newer than this build understands (" + std::to_string(known) + ")");
      }
      const auto next = std::find_if(migrations.begin(), migrations.end(),
                                     [&](const Migration& m) { return m.version > have; });
      if (next == migrations.end()) return false;
      if (auto st = c.exec(next->sql); !st)
        return unexpected(with_context("migration " + std::to_string(next->version), st.error()));
      auto insert =
          c.prepare("INSERT INTO schema_migrations(version, applied_at) VALUES (?, ?)", false);
      if (!insert) return unexpected(insert.error());
      const std::string at = utc_now_iso();
      (*insert)->bind_int(1, next->version);
      (*insert)->bind_text(2, at);
      if (auto st = run(**insert, "record migration"); !st) return unexpected(st.error());
      return true;
    };
    auto more = step();
    if (!more) {
      c.rollback();
      return unexpected(more.error());
    }
    if (auto st = c.commit(); !st) {
      c.rollback();
      return st;
    }
    if (!*more) return Ok{};
  }
}

std::int64_t unix_us(SysTime t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

// The typed row's INSERT: the record's fields, then the chain reference. A
// session's end is an upsert rather than a bare UPDATE: should the start ever
// be missing, the end of the session is still kept instead of matching no row.
// A statement's insert returns its rowid, for statement_tables.
std::string insert_sql(const TypedTable& t, const Dialect& d) {
  const auto& spec = audit::spec(t.type);
  std::string sql =
      std::string("INSERT INTO ") + t.table + "(" + column_list(spec) + ", " + t.ref + ") VALUES (";
  for (std::size_t i = 0; i <= spec.fields.size(); ++i) sql += i ? ",?" : "?";
  sql += ")";
  if (t.type == audit::RecordType::kSessionEnd) {
    sql += " ON CONFLICT(id) DO UPDATE SET ";
    for (const auto& f : spec.fields) {
      if (f.name == "id") continue;
      sql += std::string(f.name) + " = excluded." + std::string(f.name) + ", ";
    }
    sql += std::string(t.ref) + " = excluded." + t.ref;
  }
  if (t.type == audit::RecordType::kStatement && d.insert_returns_id) sql += " RETURNING rowid";
  return sql;
}

// SQL for the first record a replica's chain still has (a row or a chunk's
// first), NULL when none; `replica` is the SQL naming the replica.
std::string first_seq_sql(std::string_view replica) {
  const std::string r(replica);
  return "(SELECT MIN(f) FROM (SELECT MIN(seq) AS f FROM audit_chain c WHERE c.replica = " + r +
         " UNION ALL SELECT MIN(first_seq) FROM audit_chunks k WHERE k.replica = " + r + ") m)";
}

// How many chain records one retention pass removes per replica at most
// (then it stops at a checkpoint and the next pass goes on), so that a
// first purge of a large store does not hold the writer for long.
constexpr std::int64_t kPurgeStep = 50'000;

class SqlStore final : public audit::Store {
 public:
  static Expected<std::unique_ptr<audit::Store>> create(std::unique_ptr<Connection> conn,
                                                        StoreOptions options) {
    std::unique_ptr<SqlStore> store(new SqlStore(std::move(conn), std::move(options)));
    struct {
      std::unique_ptr<Statement>* slot;
      std::string sql;
    } statements[] = {
        {&store->insert_chain_,
         std::string("INSERT INTO audit_chain(replica, seq, at_us, type, canonical, prev_hash, "
                     "hash) VALUES (?,?,?,?,?,?,?)") +
             (store->conn_->dialect().insert_returns_id ? " RETURNING id" : "")},
        {&store->insert_checkpoint_,
         "INSERT INTO audit_checkpoints(replica, seq, hash, at_us, kid, signature) "
         "VALUES (?,?,?,?,?,?)"},
        {&store->insert_statement_table_,
         "INSERT INTO statement_tables(table_name, at_us, stmt_rowid) VALUES (?,?,?)"},
        {&store->insert_chunk_,
         std::string("INSERT INTO audit_chunks(replica, first_seq, last_seq, records, min_at_us, "
                     "max_at_us, hash, format, body, texts) VALUES (?,?,?,?,?,?,?,?,?,?)") +
             (store->conn_->dialect().insert_returns_id ? " RETURNING id" : "")},
        {&store->insert_chunk_key_, "INSERT INTO audit_chunk_keys(key, chunk_id) VALUES (?,?)"},
    };
    for (auto& s : statements) {
      auto stmt = store->conn_->prepare(s.sql, true);
      if (!stmt) return unexpected(stmt.error());
      *s.slot = std::move(*stmt);
    }
    for (const auto& t : typed_tables()) {
      auto stmt = store->conn_->prepare(insert_sql(t, store->conn_->dialect()), true);
      if (!stmt) return unexpected(stmt.error());
      store->insert_typed_[static_cast<std::size_t>(t.type)] = std::move(*stmt);
    }
    auto head = store->load_head();
    if (!head) return unexpected(head.error());
    store->head_ = std::move(*head);
    // Records a crash left unsigned get their checkpoint within the interval.
    if (store->head_.seq > store->head_.signed_seq)
      store->head_.unsigned_since = store->clock_.now();
    return std::unique_ptr<audit::Store>(std::move(store));
  }

  ~SqlStore() override {
    // Statements must go before the connection they belong to.
    insert_chain_.reset();
    insert_checkpoint_.reset();
    insert_statement_table_.reset();
    insert_chunk_.reset();
    insert_chunk_key_.reset();
    for (auto& s : insert_typed_) s.reset();
  }

  Status<> write_batch(std::span<const model::AuditEvent> events) override {
    if (events.empty()) return Ok{};
    if (stale_) {
      auto skip = resync(events);
      if (!skip) return unexpected(skip.error());
      events = events.subspan(*skip);
      if (events.empty()) return Ok{};
    }
    return in_transaction([&](Head& head) -> Status<> {
      // Statements go to the record stream, many to a chunk; every other
      // event is a chain row and a typed row. A chunk is written before a
      // checkpoint, so that none straddles one (retention cuts at checkpoints).
      audit::ChunkBuilder chunk;
      for (const auto& event : events) {
        if (const auto* stmt = std::get_if<model::StatementEvent>(&event)) {
          stream(*stmt, head, chunk);
          if (chunk.full()) {
            if (auto st = write_chunk(chunk); !st) return st;
          }
        } else if (auto st = append_event(event, head); !st) {
          return st;
        }
        if (checkpoint_due(head)) {
          if (auto st = write_chunk(chunk); !st) return st;
          if (auto st = checkpoint(head); !st) return st;
        }
      }
      return write_chunk(chunk);
    });
  }

  Status<> maintain() override {
    if (stale_) {
      if (auto skip = resync({}); !skip) return unexpected(skip.error());
    }
    if (checkpoint_due(head_)) {
      if (auto st = in_transaction([&](Head& head) { return checkpoint(head); }); !st) return st;
    }
    const SysTime now = clock_.now();
    if (options_.chain.retention.count() > 0 && now >= next_purge_) {
      auto more = purge(now);
      if (!more) {
        next_purge_ = now + options_.chain.retention_interval;
        return unexpected(more.error());
      }
      // A pass that stopped at its step goes on at the next call.
      next_purge_ = *more ? now : now + options_.chain.retention_interval;
    }
    return Ok{};
  }

  // Reachable and answering: a query that writes nothing (a connection that
  // was lost is opened again).
  Status<> probe() override { return conn_->exec("SELECT 1"); }

  Status<> close() override {
    if (!options_.chain.sign) return Ok{};
    if (stale_) {
      if (auto skip = resync({}); !skip) return unexpected(skip.error());
    }
    if (head_.seq <= head_.signed_seq) return Ok{};
    head_.retry_after.reset();
    return in_transaction([&](Head& head) { return checkpoint(head); });
  }

 private:
  // Where this replica's chain ends, committed; a transaction works on a copy
  // and the copy replaces it only once COMMIT succeeded.
  struct Head {
    std::int64_t seq = 0;
    std::string hash{audit::kGenesisHash};
    std::int64_t signed_seq = 0;            // the newest checkpoint
    std::string signed_hash;                // … and the hash it signed
    std::optional<SysTime> unsigned_since;  // when the first record after it was written
    std::optional<SysTime> retry_after;     // signing failed: not again before this
  };

  SqlStore(std::unique_ptr<Connection> conn, StoreOptions options)
      : conn_(std::move(conn)),
        options_(std::move(options)),
        clock_(options_.clock ? *options_.clock : SystemClock::instance()),
        next_purge_(clock_.now()) {}

  // begin … commit around `body`; any failure rolls everything back and
  // leaves the chain head as it was. A failure also leaves the head in doubt
  // (a COMMIT whose answer was lost may have happened): the next write reads
  // it back from the database first.
  template <class Body>
  Status<> in_transaction(Body&& body) {
    Head head = head_;
    if (auto st = conn_->begin(); !st) {
      stale_ = true;
      return st;
    }
    if (auto st = body(head); !st) {
      conn_->rollback();
      stale_ = true;
      return st;
    }
    if (auto st = conn_->commit(); !st) {
      conn_->rollback();
      stale_ = true;
      return st;
    }
    const bool signed_now = head.signed_seq != head_.signed_seq;
    head_ = std::move(head);
    // Also in the log: a witness of the chain kept outside the store.
    if (signed_now)
      spdlog::info("audit checkpoint: replica {} seq {} hash {}", options_.replica,
                   head_.signed_seq, head_.signed_hash);
    return Ok{};
  }

  Expected<std::unique_ptr<Statement>> query(std::string_view sql) {
    return conn_->prepare(sql, false);
  }

  // The chain's end and newest checkpoint as the database has them.
  Expected<Head> load_head() {
    auto last =
        query("SELECT seq, hash FROM audit_chain WHERE replica = ? ORDER BY seq DESC LIMIT 1");
    if (!last) return unexpected(last.error());
    auto cp = query(
        "SELECT seq, hash FROM audit_checkpoints WHERE replica = ? ORDER BY seq DESC LIMIT 1");
    if (!cp) return unexpected(cp.error());
    auto chunk = query(
        "SELECT last_seq, hash FROM audit_chunks WHERE replica = ? ORDER BY last_seq DESC LIMIT 1");
    if (!chunk) return unexpected(chunk.error());
    Head head;
    (*cp)->bind_text(1, options_.replica);
    auto st = each(**cp, [&](Statement& r) {
      head.signed_seq = r.column_int(0);
      head.signed_hash = r.column_text(1);
      // A chain retention emptied goes on from its anchor.
      head.seq = head.signed_seq;
      head.hash = head.signed_hash;
    });
    if (!st) return unexpected(with_context("read the chain's head", st.error()));
    // The newest record is a chain row or the last of a chunk, whichever is later.
    std::int64_t newest = 0;
    for (Statement* s : {last->get(), chunk->get()}) {
      s->bind_text(1, options_.replica);
      st = each(*s, [&](Statement& r) {
        if (r.column_int(0) <= newest) return;
        newest = head.seq = r.column_int(0);
        head.hash = r.column_text(1);
      });
      if (!st) return unexpected(with_context("read the chain's head", st.error()));
    }
    if (audit::chain_hash(head.hash, "").empty()) {
      // Continuing from it is impossible; linking from zero instead keeps the
      // gateway recording, and verify reports the break here.
      spdlog::error(
          "audit chain of {}: the hash at seq {} is malformed; run gatehouse audit verify",
          options_.replica, head.seq);
      head.hash = audit::kGenesisHash;
    }
    return head;
  }

  // After a failed transaction: reads the head back. If the transaction did
  // commit after all (its answer lost with the connection), the events it
  // held are the first of `events` — the recorder retries a failed batch
  // intact, in order — and the chain proves it: chaining them from the old
  // head gives the head the database has. Returns how many to skip.
  Expected<std::size_t> resync(std::span<const model::AuditEvent> events) {
    auto db = load_head();
    if (!db) return unexpected(db.error());
    stale_ = false;
    std::size_t skip = 0;
    if (db->seq > head_.seq) {
      const auto ahead = static_cast<std::size_t>(db->seq - head_.seq);
      std::string hash = head_.hash;
      if (ahead <= events.size()) {
        for (std::size_t i = 0; i < ahead; ++i)
          hash = audit::chain_hash(hash, audit::to_record(events[i]).canonical());
      }
      if (ahead <= events.size() && hash == db->hash) {
        skip = ahead;
        spdlog::warn(
            "audit store: a batch of {} record(s) reported as failed had been committed; "
            "continuing after it",
            skip);
      } else {
        spdlog::warn(
            "audit chain of {}: the store is at seq {}, past seq {} written here; "
            "continuing from the store's head",
            options_.replica, db->seq, head_.seq);
      }
    }
    db->unsigned_since = head_.unsigned_since;
    db->retry_after = head_.retry_after;
    if (db->seq > db->signed_seq && !db->unsigned_since) db->unsigned_since = clock_.now();
    head_ = std::move(*db);
    return skip;
  }

  // Appends `r` to the chain; its audit_chain.id in *id.
  Status<> append(const audit::Record& r, Head& head, std::int64_t* id) {
    const std::string canonical = r.canonical();
    std::string hash = audit::chain_hash(head.hash, canonical);
    const std::string_view type = r.spec().name;
    Statement& s = *insert_chain_;
    s.bind_text(1, options_.replica);
    s.bind_int(2, head.seq + 1);
    s.bind_int(3, r.at_us());
    s.bind_text(4, type);
    s.bind_text(5, canonical);
    s.bind_text(6, head.hash);
    s.bind_text(7, hash);
    auto inserted = insert_returning(*conn_, s, "append to audit_chain");
    if (!inserted) return unexpected(inserted.error());
    *id = *inserted;
    head.seq += 1;
    head.hash = std::move(hash);
    if (!head.unsigned_since) head.unsigned_since = clock_.now();
    return Ok{};
  }

  // The chain record, then the typed row naming it.
  Status<> append_event(const model::AuditEvent& event, Head& head) {
    const audit::Record r = audit::to_record(event);
    std::int64_t id = 0;
    if (auto st = append(r, head, &id); !st) return st;
    const auto& table = typed_table(r.spec().type);
    Statement& s = *insert_typed_[static_cast<std::size_t>(table.type)];
    bind_fields(s, r);
    s.bind_int(static_cast<int>(r.values().size()) + 1, id);
    const std::string what = std::string("insert into ") + table.table;
    if (const auto* stmt = std::get_if<model::StatementEvent>(&event)) {
      auto rowid = insert_returning(*conn_, s, what);
      if (!rowid) return unexpected(rowid.error());
      return index_tables(*stmt, *rowid);
    }
    return run(s, what);
  }

  // A statement into the open chunk: chained like any record, stored with the chunk.
  void stream(const model::StatementEvent& e, Head& head, audit::ChunkBuilder& chunk) {
    const audit::Record r = audit::to_record(e);
    const std::string canonical = r.canonical();
    std::string hash = audit::chain_hash(head.hash, canonical);
    chunk.add(head.seq + 1, e.at_us, hash, canonical, e.text);
    audit::statement_keys(e, chunk.keys());
    head.seq += 1;
    head.hash = std::move(hash);
    if (!head.unsigned_since) head.unsigned_since = clock_.now();
  }

  // The open chunk as one row of audit_chunks, its search keys in
  // audit_chunk_keys; nothing when it holds no record.
  Status<> write_chunk(audit::ChunkBuilder& builder) {
    if (builder.empty()) return Ok{};
    const audit::Chunk c = builder.finish();
    Statement& s = *insert_chunk_;
    s.bind_text(1, options_.replica);
    s.bind_int(2, c.first_seq);
    s.bind_int(3, c.last_seq);
    s.bind_int(4, c.records);
    s.bind_int(5, c.min_at_us);
    s.bind_int(6, c.max_at_us);
    s.bind_text(7, c.last_hash);
    s.bind_int(8, audit::kChunkFormat);
    s.bind_text(9, c.body);
    s.bind_text(10, c.texts);
    auto id = insert_returning(*conn_, s, "insert into audit_chunks");
    if (!id) return unexpected(id.error());
    for (const auto& key : c.keys) {
      Statement& k = *insert_chunk_key_;
      k.bind_text(1, key);
      k.bind_int(2, *id);
      if (auto st = run(k, "insert into audit_chunk_keys"); !st) return st;
    }
    return Ok{};
  }

  // statement_tables: each table the statement touched, once.
  Status<> index_tables(const model::StatementEvent& e, std::int64_t rowid) {
    const auto& tables = e.decision.tables;
    for (std::size_t i = 0; i < tables.size(); ++i) {
      if (std::find(tables.begin(), tables.begin() + static_cast<std::ptrdiff_t>(i), tables[i]) !=
          tables.begin() + static_cast<std::ptrdiff_t>(i))
        continue;
      Statement& s = *insert_statement_table_;
      s.bind_text(1, tables[i]);
      s.bind_int(2, e.at_us);
      s.bind_int(3, rowid);
      if (auto st = run(s, "insert into statement_tables"); !st) return st;
    }
    return Ok{};
  }

  bool checkpoint_due(const Head& head) const {
    if (!options_.chain.sign || head.seq <= head.signed_seq) return false;
    const SysTime now = clock_.now();
    if (head.retry_after && now < *head.retry_after) return false;
    return head.seq - head.signed_seq >= options_.chain.checkpoint_every ||
           (head.unsigned_since &&
            now - *head.unsigned_since >= options_.chain.checkpoint_interval);
  }

  // Signs the head and stores the checkpoint. A signer that fails does not
  // fail the batch (the records are kept, unsigned, and signing is tried again
  // after checkpoint_interval); a checkpoint the database refuses does.
  Status<> checkpoint(Head& head) {
    if (!options_.chain.sign || head.seq <= head.signed_seq) return Ok{};
    const SysTime now = clock_.now();
    const std::int64_t at_us = unix_us(now);
    auto sig = options_.chain.sign(
        audit::checkpoint_message(options_.replica, head.seq, head.hash, at_us));
    if (!sig) {
      spdlog::error("audit checkpoint of {} at seq {} not signed: {}", options_.replica, head.seq,
                    sig.error());
      head.retry_after = now + options_.chain.checkpoint_interval;
      return Ok{};
    }
    Statement& s = *insert_checkpoint_;
    s.bind_text(1, options_.replica);
    s.bind_int(2, head.seq);
    s.bind_text(3, head.hash);
    s.bind_int(4, at_us);
    s.bind_text(5, sig->kid);
    s.bind_text(6, sig->signature);
    if (auto st = run(s, "insert checkpoint"); !st) return st;
    head.signed_seq = head.seq;
    head.signed_hash = head.hash;
    head.unsigned_since.reset();
    head.retry_after.reset();
    return Ok{};
  }

  // Runs `sql` with the text and integer values bound in order; the number of rows it changed.
  Expected<std::int64_t> change(
      const std::string& sql, std::initializer_list<std::variant<std::string, std::int64_t>> args) {
    auto s = query(sql);
    if (!s) return unexpected(s.error());
    int i = 0;
    for (const auto& a : args) {
      ++i;
      if (const auto* t = std::get_if<std::string>(&a))
        (*s)->bind_text(i, *t);
      else
        (*s)->bind_int(i, std::get<std::int64_t>(a));
    }
    auto done = (*s)->step();
    if (!done) return unexpected(with_context(sql, done.error()));
    return (*s)->changes();
  }

  struct PurgeTarget {
    std::string replica;
    std::int64_t through = 0;  // a checkpoint's seq: records up to it go
  };

  // Per replica, the newest checkpoint older than the cutoff — bounded by
  // kPurgeStep — beyond what was purged already. *more when a bound applied.
  Expected<std::vector<PurgeTarget>> purge_targets(std::int64_t cutoff_us, bool* more) {
    auto s = query("SELECT cp.replica, MAX(cp.seq), " + first_seq_sql("cp.replica") +
                   " FROM audit_checkpoints cp WHERE cp.at_us < ? GROUP BY cp.replica");
    if (!s) return unexpected(s.error());
    auto step =
        query("SELECT MIN(seq) FROM audit_checkpoints WHERE replica = ? AND seq >= ? AND seq < ?");
    if (!step) return unexpected(step.error());
    (*s)->bind_int(1, cutoff_us);
    struct Candidate {
      PurgeTarget target;
      std::int64_t first;  // the chain's first record
    };
    std::vector<Candidate> candidates;
    auto st = each(**s, [&](Statement& r) {
      // No record left in this chain, or none as old as the checkpoint.
      if (r.column_type(2) == ColumnType::kNull || r.column_int(2) > r.column_int(1)) return;
      candidates.push_back({{r.column_text(0), r.column_int(1)}, r.column_int(2)});
    });
    if (!st) return unexpected(with_context("retention targets", st.error()));
    std::vector<PurgeTarget> out;
    for (auto& c : candidates) {
      (*step)->bind_text(1, c.target.replica);
      (*step)->bind_int(2, c.first + kPurgeStep - 1);
      (*step)->bind_int(3, c.target.through);
      st = each(**step, [&](Statement& r) {
        if (r.column_type(0) == ColumnType::kNull) return;
        c.target.through = r.column_int(0);
        *more = true;
      });
      if (!st) return unexpected(with_context("retention step", st.error()));
      out.push_back(std::move(c.target));
    }
    return out;
  }

  // Sessions whose start is purged but which end later (or have not ended):
  // the row stays and its start is chained again, after checking it still
  // matches the record being purged.
  Status<> carry_sessions(const PurgeTarget& t, Head& head, std::int64_t* carried) {
    const auto& spec = audit::spec(audit::RecordType::kSessionStart);
    auto s = query("SELECT " + column_list(spec, "s") +
                   ", s.rowid, c.canonical FROM sessions s JOIN audit_chain c ON c.id = s.chain_id "
                   "WHERE c.replica = ?1 AND c.seq <= ?2 AND (s.end_chain_id IS NULL OR "
                   "s.end_chain_id NOT IN (SELECT id FROM audit_chain WHERE replica = ?1 AND "
                   "seq <= ?2))");
    if (!s) return unexpected(s.error());
    (*s)->bind_text(1, t.replica);
    (*s)->bind_int(2, t.through);
    const int n = static_cast<int>(spec.fields.size());
    std::vector<std::pair<audit::Record, std::int64_t>> keep;
    auto st = each(**s, [&](Statement& r) {
      audit::Record rec(audit::RecordType::kSessionStart);
      read_fields(r, 0, rec);
      if (rec.canonical() != r.column_text(n + 1)) {
        spdlog::error(
            "audit retention: sessions row {} differs from its chained record and is not "
            "carried over; run gatehouse audit verify",
            rec.key());
        return;
      }
      keep.emplace_back(std::move(rec), r.column_int(n));
    });
    if (!st) return unexpected(with_context("sessions to carry", st.error()));
    for (const auto& [r, rowid] : keep) {
      std::int64_t id = 0;
      if (auto st = append(r, head, &id); !st) return st;
      auto moved = change("UPDATE sessions SET chain_id = ? WHERE rowid = ?", {id, rowid});
      if (!moved) return unexpected(moved.error());
    }
    *carried += static_cast<std::int64_t>(keep.size());
    return Ok{};
  }

  // One retention pass: removes, per replica, the records up to the newest
  // checkpoint older than the cutoff and the typed rows chained as them
  // (keeping that checkpoint as the chain's new anchor), rows older than the
  // cutoff that predate the chain, and records the purge in the chain.
  // True when more is left for another pass.
  Expected<bool> purge(SysTime now) {
    const std::int64_t now_us = unix_us(now);
    const std::int64_t cutoff_us =
        now_us -
        std::chrono::duration_cast<std::chrono::microseconds>(options_.chain.retention).count();
    bool more = false;
    std::map<std::string, std::int64_t> deleted;
    auto st = in_transaction([&](Head& head) -> Status<> {
      // Replicas sharing the store purge one at a time.
      if (auto lock = conn_->lock_maintenance(); !lock) return lock;
      auto targets = purge_targets(cutoff_us, &more);
      if (!targets) return unexpected(targets.error());
      std::int64_t carried = 0;
      const std::string purged = "(SELECT id FROM audit_chain WHERE replica = ? AND seq <= ?)";
      for (const auto& t : *targets) {
        if (auto c = carry_sessions(t, head, &carried); !c) return c;
        std::vector<std::pair<std::string, std::string>> steps{
            {"sessions", "DELETE FROM sessions WHERE end_chain_id IN " + purged +
                             " AND (chain_id IS NULL OR chain_id IN " + purged + ")"}};
        for (const auto& table : typed_tables()) {
          if (std::string_view(table.table) == "sessions") continue;
          steps.emplace_back(table.table, std::string("DELETE FROM ") + table.table + " WHERE " +
                                              table.ref + " IN " + purged);
        }
        steps.emplace_back("audit_chain", "DELETE FROM audit_chain WHERE replica = ? AND seq <= ?");
        // A chunk ends at or before a checkpoint: it goes whole or stays whole.
        steps.emplace_back("audit_chunk_keys",
                           "DELETE FROM audit_chunk_keys WHERE chunk_id IN (SELECT id FROM "
                           "audit_chunks WHERE replica = ? AND last_seq <= ?)");
        steps.emplace_back("audit_chunks",
                           "DELETE FROM audit_chunks WHERE replica = ? AND last_seq <= ?");
        steps.emplace_back("audit_checkpoints",
                           "DELETE FROM audit_checkpoints WHERE replica = ? AND seq < ?");
        for (const auto& [table, sql] : steps) {
          auto n = table == "sessions" ? change(sql, {t.replica, t.through, t.replica, t.through})
                                       : change(sql, {t.replica, t.through});
          if (!n) return unexpected(n.error());
          deleted[table] += *n;
        }
      }
      // Rows from before the chain existed go by their own time.
      const std::pair<const char*, const char*> legacy[] = {
          {"sessions",
           "DELETE FROM sessions WHERE chain_id IS NULL AND end_chain_id IS NULL AND "
           "COALESCE(ended_at_us, started_at_us) < ?"},
          {"statements", "DELETE FROM statements WHERE chain_id IS NULL AND at_us < ?"},
          {"refused_connections",
           "DELETE FROM refused_connections WHERE chain_id IS NULL AND at_us < ?"},
          {"policy_events", "DELETE FROM policy_events WHERE chain_id IS NULL AND at_us < ?"},
          {"approval_events", "DELETE FROM approval_events WHERE chain_id IS NULL AND at_us < ?"},
          {"token_events", "DELETE FROM token_events WHERE chain_id IS NULL AND at_us < ?"},
      };
      for (const auto& [table, sql] : legacy) {
        auto n = change(sql, {cutoff_us});
        if (!n) return unexpected(n.error());
        deleted[table] += *n;
      }
      // The search keys are an index of the chunks, not records: not counted.
      deleted.erase("audit_chunk_keys");
      std::erase_if(deleted, [](const auto& kv) { return kv.second == 0; });
      if (deleted.empty() && carried == 0) return Ok{};
      auto anchors = chain_anchors();
      if (!anchors) return unexpected(anchors.error());
      audit::Record r(audit::RecordType::kRetention);
      r.integer("at_us", now_us)
          .integer("cutoff_us", cutoff_us)
          .json("anchors", std::move(*anchors))
          .json("deleted", audit::canonical_counts(deleted))
          .integer("carried", carried);
      std::int64_t id = 0;
      return append(r, head, &id);
    });
    if (!st) return unexpected(st.error());
    if (!deleted.empty()) {
      std::string what;
      for (const auto& [table, n] : deleted)
        what += (what.empty() ? "" : ", ") + table + " " + std::to_string(n);
      spdlog::info("audit retention: purged records older than {} s ({})",
                   options_.chain.retention.count(), what);
    }
    return more;
  }

  // {"<replica>":{"hash":"…","seq":n},…}: the checkpoint each chain now starts
  // after, for chains whose first records are gone.
  Expected<std::string> chain_anchors() {
    std::string out = "{";
    const std::string anchor = "COALESCE(" + first_seq_sql("r.replica") +
                               " - 1, (SELECT MAX(seq) FROM audit_checkpoints k2 "
                               "WHERE k2.replica = r.replica))";
    auto st =
        each(*conn_,
             "SELECT r.replica, " + anchor +
                 " AS anchor, (SELECT hash FROM audit_checkpoints k WHERE k.replica = r.replica "
                 "AND k.seq = " +
                 anchor +
                 ") FROM (SELECT replica FROM audit_chain UNION SELECT replica FROM "
                 "audit_chunks UNION SELECT replica FROM audit_checkpoints) r ORDER BY r.replica",
             [&](Statement& r) {
               if (r.column_type(1) == ColumnType::kNull || r.column_int(1) < 1) return;
               if (out.size() > 1) out += ',';
               out += audit::canonical_string(r.column_text(0)) + R"(:{"hash":)" +
                      audit::canonical_string(r.column_text(2)) + R"(,"seq":)" +
                      std::to_string(r.column_int(1)) + "}";
             });
    if (!st) return unexpected(with_context("chain anchors", st.error()));
    return out + "}";
  }

  std::unique_ptr<Connection> conn_;
  StoreOptions options_;
  const Clock& clock_;
  Head head_;
  bool stale_ = false;  // the head may not be what the database has
  SysTime next_purge_;
  std::unique_ptr<Statement> insert_chain_, insert_checkpoint_, insert_statement_table_;
  std::unique_ptr<Statement> insert_chunk_, insert_chunk_key_;
  std::array<std::unique_ptr<Statement>, 8> insert_typed_;  // by RecordType, retention aside
};

}  // namespace

Status<> migrate(Connection& conn, std::span<const Migration> migrations) {
  return apply_migrations(conn, migrations);
}

Expected<std::unique_ptr<audit::Store>> open_store(std::unique_ptr<Connection> conn,
                                                   std::span<const Migration> migrations,
                                                   StoreOptions options) {
  if (auto st = apply_migrations(*conn, migrations); !st) return unexpected(st.error());
  return SqlStore::create(std::move(conn), std::move(options));
}

}  // namespace gh::store::sql
