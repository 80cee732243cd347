#include "adapters/pg/statement_tracker.h"

#include <algorithm>
#include <atomic>
#include <type_traits>

#include "base/utf8.h"
#include "wire/pg/protocol.h"

namespace gh::adapters::pg {

namespace wire = gh::wire::pg;

Text make_text(std::string_view sql, Decided decision) {
  if (sql.size() <= StatementTracker::kMaxText)
    return std::make_shared<const Label>(Label{std::string(sql), std::move(decision)});
  return std::make_shared<const Label>(
      Label{std::string(utf8_prefix(sql, StatementTracker::kMaxText)) + "…[truncated " +
                std::to_string(sql.size() - StatementTracker::kMaxText) + " bytes]",
            std::move(decision)});
}

namespace {

using Held = std::shared_ptr<std::atomic<std::uint64_t>>;

// A shared object whose bytes count in `held` for as long as it lives.
template <class T>
std::shared_ptr<const T> counted(const Held& held, T value, std::uint64_t bytes) {
  held->fetch_add(bytes, std::memory_order_relaxed);
  return std::shared_ptr<const T>(new T(std::move(value)), [held, bytes](const T* p) {
    held->fetch_sub(bytes, std::memory_order_relaxed);
    delete p;
  });
}

Text make_text(const Held& held, std::string_view sql, Decided decision = nullptr) {
  std::string text = sql.size() <= StatementTracker::kMaxText
                         ? std::string(sql)
                         : std::string(utf8_prefix(sql, StatementTracker::kMaxText)) +
                               "…[truncated " +
                               std::to_string(sql.size() - StatementTracker::kMaxText) + " bytes]";
  text.shrink_to_fit();
  const std::uint64_t bytes = sizeof(Label) + text.size();
  return counted(held, Label{std::move(text), std::move(decision)}, bytes);
}

// A parameter longer than this is recorded by its size alone.
constexpr std::size_t kMaxParam = 64 * 1024;

ParamsPtr render_params(const Held& held, const wire::Bind& b) {
  if (b.params.empty()) return nullptr;
  auto out = std::make_shared<Params>();
  out->reserve(b.params.size());
  for (std::size_t i = 0; i < b.params.size(); ++i) {
    const auto& p = b.params[i];
    if (!p) {
      out->emplace_back(std::nullopt);
      continue;
    }
    const bool binary = b.param_format(i) == 1;
    if (p->size() > kMaxParam) {
      out->emplace_back("[" + std::string(binary ? "binary" : "text") + ", " +
                        std::to_string(p->size()) + " bytes]");
    } else if (binary &&
               !valid_utf8(std::string_view(reinterpret_cast<const char*>(p->data()), p->size()),
                           true)) {
      // Binary that does not read as text is recorded by its size (what does
      // is recorded, and masked, as text).
      out->emplace_back("[binary, " + std::to_string(p->size()) + " bytes]");
    } else {
      out->emplace_back(std::string(reinterpret_cast<const char*>(p->data()), p->size()));
    }
  }
  std::uint64_t bytes = sizeof(Params) + out->capacity() * sizeof(Params::value_type);
  for (const auto& p : *out) bytes += p ? p->capacity() : 0;
  return counted(held, std::move(*out), bytes);
}

const Text& unknown_statement() {
  static const Text t = std::make_shared<const Label>(Label{"<unknown prepared statement>", {}});
  return t;
}

}  // namespace

Text StatementTracker::portal_text(const std::string& portal) const {
  auto it = portals_.find(portal);
  return it != portals_.end() ? it->second.text : unknown_statement();
}

namespace {

// The entry whose results the server is sending now (const or not).
template <class Queue>
auto first_running(Queue& queue) -> decltype(&queue.front()) {
  using E = std::remove_reference_t<decltype(queue.front())>;
  for (auto& e : queue) {
    if (e.kind == E::kCopyEnd) continue;
    if (e.kind == E::kSimple || e.kind == E::kFunctionCall || e.kind == E::kExecute) return &e;
    return nullptr;
  }
  return nullptr;
}

}  // namespace

const StatementTracker::Entry* StatementTracker::running_entry() const {
  return first_running(queue_);
}

Decided StatementTracker::running() const {
  const Entry* e = running_entry();
  if (e == nullptr) return nullptr;
  if (e->kind != Entry::kExecute) return e->text ? e->text->decision : nullptr;
  if (e->redecided) return e->redecided;
  Text t = portal_text(e->name);
  return t ? t->decision : nullptr;
}

Text StatementTracker::running_text(bool* simple) const {
  const Entry* e = running_entry();
  if (simple) *simple = e != nullptr && e->kind == Entry::kSimple;
  if (e == nullptr) return nullptr;
  if (e->kind != Entry::kExecute) return e->text;
  auto it = portals_.find(e->name);
  return it != portals_.end() ? it->second.text : nullptr;
}

Text StatementTracker::statement_named(std::string_view name) const {
  auto it = prepared_.find(name);
  return it != prepared_.end() ? it->second : nullptr;
}

Text StatementTracker::portal_named(std::string_view name) const {
  auto it = portals_.find(name);
  return it != portals_.end() ? it->second.text : nullptr;
}

RowWatch* StatementTracker::running_rows() const {
  const Entry* e = running_entry();
  return e != nullptr ? e->row_watch.get() : nullptr;
}

void StatementTracker::withhold_running(std::shared_ptr<const std::vector<std::uint8_t>> error,
                                        Decided record) {
  Entry* e = first_running(queue_);
  if (e == nullptr) return;
  if (auto f = wire::parse_error_fields(Bytes(error->data() + 5, error->size() - 5))) {
    e->error_code = std::string(f->get('C'));
    e->error_message = std::string(utf8_prefix(f->get('M'), kMaxText));
  }
  e->denial = std::move(error);
  e->denied = true;
  if (e->kind == Entry::kExecute) {
    e->redecided = std::move(record);
  } else if (e->part < e->parts.size()) {
    // Of several statements, the one whose result crossed it is the one denied.
    Text& part = e->parts[e->part];
    auto r = std::make_shared<model::StatementDecision>(
        part->decision ? *part->decision : model::StatementDecision{});
    if (record) {
      r->decision = record->decision;
      r->rule = record->rule;
      r->approval_id = record->approval_id;
    }
    part = std::make_shared<const Label>(Label{part->text, std::move(r)});
    if (e->text) e->text = std::make_shared<const Label>(Label{e->text->text, std::move(record)});
  } else if (e->text) {
    e->text = std::make_shared<const Label>(Label{e->text->text, std::move(record)});
  }
  e->row_watch.reset();
}

StatementTracker::ClientVerdict StatementTracker::on_client(std::uint8_t type, Bytes body,
                                                            Clock::time_point now,
                                                            std::int64_t now_us,
                                                            const ClientNote& note) {
  forwarded_ = {};
  if (queue_.size() >= kMaxPending) return ClientVerdict::kLimit;
  Entry e{};
  e.started = now;
  e.at_us = now_us;
  e.denial = note.denial;
  e.row_watch = note.rows;
  switch (type) {
    case 'Q': {
      auto q = wire::parse_query(body);
      e.kind = Entry::kSimple;
      e.text = make_text(held_, q ? q->sql : "<malformed query>", note.decision);
      if (q && note.statements.size() > 1) e.parts = note.statements;
      break;
    }
    case 'F': {
      auto f = wire::parse_function_call(body);
      e.kind = Entry::kFunctionCall;
      e.text =
          make_text(held_, "<function call oid " + std::to_string(f ? f->function_oid : 0) + ">",
                    note.decision);
      break;
    }
    case 'P': {
      auto p = wire::parse_parse(body);
      if (!p) return ClientVerdict::kMalformed;
      e.kind = Entry::kParse;
      e.name = std::string(p->statement);
      e.text = make_text(held_, p->sql, note.decision);
      if (client_statements_.size() >= kMaxNamed) client_statements_.clear();
      client_statements_[e.name] = e.text;
      break;
    }
    case 'B': {
      auto b = wire::parse_bind(body);
      if (!b) return ClientVerdict::kMalformed;
      e.kind = Entry::kBind;
      e.name = std::string(b->portal);
      e.source = std::string(b->statement);
      e.params = render_params(held_, *b);
      if (client_portals_.size() >= kMaxNamed) client_portals_.clear();
      if (auto it = client_statements_.find(e.source); it != client_statements_.end()) {
        client_portals_[e.name] = it->second;
      } else if (auto p = prepared_.find(e.source); p != prepared_.end()) {
        client_portals_[e.name] = p->second;
      } else {
        client_portals_[e.name] = unknown_statement();
      }
      break;
    }
    case 'C': {
      auto c = wire::parse_close(body);
      if (!c) return ClientVerdict::kMalformed;
      e.kind = Entry::kClose;
      e.close_kind = c->kind;
      e.name = std::string(c->name);
      break;
    }
    case 'E': {
      auto x = wire::parse_execute(body);
      if (!x) return ClientVerdict::kMalformed;
      e.kind = Entry::kExecute;
      e.name = std::string(x->portal);
      e.redecided = note.decision;
      if (auto it = client_portals_.find(e.name); it != client_portals_.end()) {
        e.intended = it->second;
      } else {
        e.intended = portal_text(e.name);
      }
      break;
    }
    case 'S':
      // During COPY FROM STDIN the server discards Syncs; it answers none of them.
      if (copy_in_) return ClientVerdict::kOk;
      skipping_ = false;
      e.kind = Entry::kSync;
      break;
    case 'c':  // CopyDone
    case 'f':  // CopyFail
      if (copy_in_) {
        copy_in_ = false;
        return ClientVerdict::kOk;
      }
      // Sent before the CopyInResponse reached us: mark where the copy ends.
      e.kind = Entry::kCopyEnd;
      break;
    default:
      return ClientVerdict::kOk;  // Describe, Flush, CopyData, Terminate: nothing to track
  }
  if (skipping_ && e.kind != Entry::kSync && e.kind != Entry::kCopyEnd) {
    // The server discards everything until Sync: a Parse, Bind or Close here
    // takes no effect, and an Execute or Query never runs (recorded as skipped).
    if (e.kind == Entry::kParse || e.kind == Entry::kBind || e.kind == Entry::kClose)
      return ClientVerdict::kOk;
    e.discarded = true;
  }
  forwarded_ = {};
  if (!e.discarded) {
    if (e.kind == Entry::kSimple || e.kind == Entry::kFunctionCall) {
      forwarded_ = {e.kind == Entry::kSimple ? "simple" : "function_call", e.text};
    } else if (e.kind == Entry::kExecute) {
      Text t = e.intended;
      if (e.redecided && t) t = std::make_shared<const Label>(Label{t->text, e.redecided});
      forwarded_ = {"extended", std::move(t)};
    }
  }
  queue_.push_back(std::move(e));
  return prepared_.size() <= kMaxNamed && portals_.size() <= kMaxNamed ? ClientVerdict::kOk
                                                                       : ClientVerdict::kLimit;
}

void StatementTracker::finish(Entry& e, std::string outcome, Clock::time_point now,
                              std::vector<FinishedStatement>& done) {
  FinishedStatement f;
  f.protocol_path = e.kind == Entry::kSimple         ? "simple"
                    : e.kind == Entry::kFunctionCall ? "function_call"
                                                     : "extended";
  // What ran is the portal as the server bound it; an Execute that never ran
  // is labelled with what the client meant to run.
  if (e.kind == Entry::kExecute) {
    f.text = e.ran ? portal_text(e.name) : e.intended;
    if (e.ran)
      if (auto it = portals_.find(e.name); it != portals_.end()) f.params = it->second.params;
  } else
    f.text = std::move(e.text);
  f.decision = e.redecided ? e.redecided : (f.text ? f.text->decision : nullptr);
  f.at_us = e.at_us;
  f.duration_us = std::chrono::duration_cast<std::chrono::microseconds>(now - e.started).count();
  f.rows = e.rows;
  f.tag = std::move(e.tag);
  f.outcome = e.denied ? "denied" : e.failed ? "error" : std::move(outcome);
  f.error_code = std::move(e.error_code);
  f.error_message = std::move(e.error_message);
  done.push_back(std::move(f));
}

void StatementTracker::finish_part(Entry& e, Clock::time_point now,
                                   std::vector<FinishedStatement>& done) {
  Entry one{};
  one.kind = Entry::kSimple;
  one.text = e.parts[e.part];
  one.started = e.started;
  one.at_us = e.at_us;
  one.rows = e.rows;
  one.tag = std::move(e.tag);
  one.denied = e.denied;
  one.error_code = std::move(e.error_code);
  one.error_message = std::move(e.error_message);
  finish(one, "ok", now, done);
  // The next statement starts where this one ended.
  e.at_us += std::chrono::duration_cast<std::chrono::microseconds>(now - e.started).count();
  e.started = now;
  e.rows = -1;
  e.tag.clear();
  e.error_code.clear();
  e.error_message.clear();
  e.denied = false;
  e.denial.reset();  // a withheld result's denial was this statement's
  ++e.part;
}

void StatementTracker::finish_simple(Entry& e, std::string outcome, std::string rest_outcome,
                                     Clock::time_point now, std::vector<FinishedStatement>& done) {
  if (e.parts.empty()) {
    finish(e, std::move(outcome), now, done);
    return;
  }
  const std::size_t current = std::min(e.part, e.parts.size() - 1);
  Entry rest{};
  rest.kind = Entry::kSimple;
  rest.started = now;
  rest.at_us =
      e.at_us + std::chrono::duration_cast<std::chrono::microseconds>(now - e.started).count();
  e.text = e.parts[current];
  finish(e, std::move(outcome), now, done);
  for (std::size_t i = current + 1; i < e.parts.size(); ++i) {
    rest.text = e.parts[i];
    finish(rest, rest_outcome, now, done);
  }
}

void StatementTracker::skip_to_sync(Clock::time_point now, std::vector<FinishedStatement>& done) {
  bool saw_sync = false;
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (it->kind == Entry::kSync) {
      saw_sync = true;
      break;
    }
    // Parse/Bind/Close the server skipped never took effect; Executes never ran.
    if (it->kind == Entry::kSimple)
      finish_simple(*it, "skipped", "skipped", now, done);
    else if (it->kind == Entry::kExecute || it->kind == Entry::kFunctionCall)
      finish(*it, "skipped", now, done);
    it = queue_.erase(it);
  }
  // No Sync sent yet: what the client sends until its Sync is discarded too.
  skipping_ = !saw_sync;
}

std::shared_ptr<const std::vector<std::uint8_t>> StatementTracker::on_server(
    std::uint8_t type, Bytes body, Clock::time_point now, std::vector<FinishedStatement>& done) {
  std::shared_ptr<const std::vector<std::uint8_t>> replace;
  // A CopyDone/CopyFail with no COPY before it gets no answer of its own.
  while (!queue_.empty() && queue_.front().kind == Entry::kCopyEnd) queue_.pop_front();
  Entry* front = queue_.empty() ? nullptr : &queue_.front();
  switch (type) {
    case '1':  // ParseComplete: the statement exists now
      if (front && front->kind == Entry::kParse) {
        prepared_[front->name] = front->text;
        queue_.pop_front();
      }
      break;
    case '2':  // BindComplete
      if (front && front->kind == Entry::kBind) {
        auto stmt = prepared_.find(front->source);
        portals_[front->name] = {stmt != prepared_.end() ? stmt->second : unknown_statement(),
                                 std::move(front->params)};
        queue_.pop_front();
      }
      break;
    case '3':  // CloseComplete
      if (front && front->kind == Entry::kClose) {
        if (front->close_kind == 'S') {
          if (auto it = prepared_.find(front->name); it != prepared_.end()) prepared_.erase(it);
        } else if (auto it = portals_.find(front->name); it != portals_.end()) {
          portals_.erase(it);
        }
        queue_.pop_front();
      }
      break;
    case 'C': {  // CommandComplete
      if (!front || (front->kind != Entry::kSimple && front->kind != Entry::kExecute)) break;
      if (auto tag = wire::parse_command_complete(body)) {
        auto rows = wire::rows_from_command_tag(*tag);
        if (rows >= 0) front->rows = std::max<std::int64_t>(front->rows, 0) + rows;
        front->tag = std::string(*tag);
      }
      if (front->kind == Entry::kExecute) {
        front->ran = true;
        finish(*front, "ok", now, done);
        queue_.pop_front();
      } else if (front->part + 1 < front->parts.size()) {
        finish_part(*front, now, done);  // the last one ends with ReadyForQuery
      }
      break;
    }
    case 'I':  // EmptyQueryResponse
    case 's':  // PortalSuspended: this Execute is done; the portal may run again
      if (front && front->kind == Entry::kExecute) {
        front->ran = true;
        finish(*front, "ok", now, done);
        queue_.pop_front();
      }
      break;
    case 'G':  // CopyInResponse
      // COPY FROM STDIN: until CopyDone/CopyFail the server discards Sync and
      // Flush, so the Syncs the client already sent behind it get no answer.
      // https://www.postgresql.org/docs/15/protocol-flow.html#PROTOCOL-COPY
      if (front && (front->kind == Entry::kExecute || front->kind == Entry::kSimple)) {
        copy_in_ = true;
        for (auto it = queue_.begin() + 1; it != queue_.end();) {
          if (it->kind == Entry::kCopyEnd) {
            queue_.erase(it);
            copy_in_ = false;
            break;
          }
          it = it->kind == Entry::kSync ? queue_.erase(it) : it + 1;
        }
      }
      break;
    case 'E': {  // ErrorResponse
      // An error ends COPY FROM STDIN on the server's side; what the client
      // sends next is read normally again (or skipped to Sync, below).
      copy_in_ = false;
      if (!front || front->kind == Entry::kSync) break;
      std::string code, message;
      // The server refusing what replaced a denied message: the client gets
      // the gateway's denial, and the statement is recorded as denied.
      const bool denied = front->denial != nullptr;
      if (denied) {
        replace = front->denial;  // shared: the entry may be gone before it is sent
        if (auto f = wire::parse_error_fields(Bytes(replace->data() + 5, replace->size() - 5))) {
          code = std::string(f->get('C'));
          message = std::string(utf8_prefix(f->get('M'), kMaxText));
        }
      } else if (auto f = wire::parse_error_fields(body)) {
        code = std::string(f->get('C'));
        message = std::string(utf8_prefix(f->get('M'), kMaxText));
      }
      if (front->kind == Entry::kSimple || front->kind == Entry::kFunctionCall) {
        front->failed = true;
        front->denied = denied;
        front->error_code = std::move(code);
        front->error_message = std::move(message);
        break;  // ReadyForQuery finishes it
      }
      // Extended protocol: the error belongs to the first Execute of this
      // Sync group (a failed Parse or Bind is why it cannot run); the rest of
      // the group is skipped by the server. An Execute at the front failed
      // while running, so its portal is the one the server bound.
      if (front->kind == Entry::kExecute) front->ran = true;
      bool assigned = false;
      for (auto& e : queue_) {
        if (e.kind == Entry::kSync) break;
        if (e.kind == Entry::kExecute) {
          e.failed = true;
          e.denied = denied;
          // A denied Parse is why this Execute never ran: it carries that decision.
          if (denied && front->kind == Entry::kParse && front->text) e.intended = front->text;
          e.error_code = code;
          e.error_message = message;
          assigned = true;
          break;
        }
      }
      // A denied Parse with no Execute behind it is still a refused statement.
      if (denied && !assigned && front->kind == Entry::kParse) {
        front->failed = true;
        front->denied = true;
        front->error_code = code;
        front->error_message = message;
        finish(*front, "denied", now, done);
      }
      skip_to_sync(now, done);
      break;
    }
    case 'Z': {  // ReadyForQuery ends a simple query, a function call, or a Sync group
      while (!queue_.empty()) {
        Entry e = std::move(queue_.front());
        queue_.pop_front();
        if (e.kind == Entry::kSync) break;
        if (e.discarded) {
          if (e.kind == Entry::kSimple)
            finish_simple(e, "skipped", "skipped", now, done);
          else
            finish(e, "skipped", now, done);
          continue;
        }
        if (e.kind == Entry::kSimple) {
          // The server stops at the first error of a Query: what follows
          // never ran. Without one, every statement before the last has
          // completed already.
          finish_simple(e, "ok", e.failed ? "skipped" : "ok", now, done);
          break;
        }
        if (e.kind == Entry::kFunctionCall) {
          finish(e, "ok", now, done);
          break;
        }
        if (e.kind == Entry::kExecute) finish(e, "skipped", now, done);
      }
      // Portals do not outlive their transaction.
      if (auto st = wire::parse_ready_for_query(body); st && *st == 'I') portals_.clear();
      copy_in_ = false;
      break;
    }
    default:
      break;
  }
  return replace;
}

void StatementTracker::interrupt_all(Clock::time_point now, std::vector<FinishedStatement>& done) {
  for (auto& e : queue_) {
    if (e.kind == Entry::kSimple)
      finish_simple(e, "interrupted", "interrupted", now, done);
    else if (e.kind == Entry::kFunctionCall || e.kind == Entry::kExecute)
      finish(e, "interrupted", now, done);
  }
  queue_.clear();
}

}  // namespace gh::adapters::pg
