#include "adapters/pg/statement_tracker.h"

#include <algorithm>

#include "wire/pg/protocol.h"

namespace gh::adapters::pg {

namespace wire = gh::wire::pg;

namespace {

Text make_text(std::string_view sql) {
  if (sql.size() <= StatementTracker::kMaxText) return std::make_shared<const std::string>(sql);
  return std::make_shared<const std::string>(
      std::string(sql.substr(0, StatementTracker::kMaxText)) + "…[truncated " +
      std::to_string(sql.size() - StatementTracker::kMaxText) + " bytes]");
}

const Text& unknown_statement() {
  static const Text t = std::make_shared<const std::string>("<unknown prepared statement>");
  return t;
}

}  // namespace

bool StatementTracker::on_client(std::uint8_t type, Bytes body, Clock::time_point now,
                                 std::int64_t now_us) {
  if (queue_.size() >= kMaxPending) return false;
  Entry e{};
  e.started = now;
  e.at_us = now_us;
  switch (type) {
    case 'Q': {
      auto q = wire::parse_query(body);
      e.kind = Entry::kSimple;
      e.text = make_text(q ? q->sql : "<malformed query>");
      break;
    }
    case 'F': {
      auto f = wire::parse_function_call(body);
      e.kind = Entry::kFunctionCall;
      e.text = make_text("<function call oid " + std::to_string(f ? f->function_oid : 0) + ">");
      break;
    }
    case 'P': {
      auto p = wire::parse_parse(body);
      if (!p) return true;  // the server will refuse it; nothing to remember
      e.kind = Entry::kParse;
      e.name = std::string(p->statement);
      e.text = make_text(p->sql);
      parsing_[e.name] = e.text;
      break;
    }
    case 'B': {
      auto b = wire::parse_bind(body);
      if (!b) return true;
      e.kind = Entry::kBind;
      e.name = std::string(b->portal);
      // A Parse still awaiting its ParseComplete can be bound in the same pipeline.
      if (auto it = parsing_.find(b->statement); it != parsing_.end()) {
        e.text = it->second;
      } else if (auto p = prepared_.find(b->statement); p != prepared_.end()) {
        e.text = p->second;
      } else {
        e.text = unknown_statement();
      }
      binding_[e.name] = e.text;
      break;
    }
    case 'C': {
      auto c = wire::parse_close(body);
      if (!c) return true;
      e.kind = Entry::kClose;
      e.close_kind = c->kind;
      e.name = std::string(c->name);
      break;
    }
    case 'E': {
      auto x = wire::parse_execute(body);
      e.kind = Entry::kExecute;
      if (x) {
        if (auto it = binding_.find(x->portal); it != binding_.end()) {
          e.text = it->second;
        } else if (auto p = portals_.find(x->portal); p != portals_.end()) {
          e.text = p->second;
        }
      }
      if (!e.text) e.text = unknown_statement();
      break;
    }
    case 'S':
      // During COPY FROM STDIN the server discards Syncs; it answers none of them.
      if (copy_in_) return true;
      skipping_ = false;
      e.kind = Entry::kSync;
      break;
    case 'c':  // CopyDone
    case 'f':  // CopyFail
      copy_in_ = false;
      return true;
    default:
      return true;  // Describe, Flush, CopyData, Terminate: nothing to track
  }
  if (skipping_ && e.kind != Entry::kSync) {
    // The server discards everything until Sync: a Parse, Bind or Close here
    // takes no effect, and an Execute or Query never runs (recorded as skipped).
    if (e.kind == Entry::kParse || e.kind == Entry::kBind || e.kind == Entry::kClose) {
      forget_in_flight(e);
      return true;
    }
    e.discarded = true;
  }
  queue_.push_back(std::move(e));
  return prepared_.size() + parsing_.size() <= kMaxNamed &&
         portals_.size() + binding_.size() <= kMaxNamed;
}

void StatementTracker::forget_in_flight(const Entry& e) {
  // Only if no later Parse/Bind of the same name replaced it meanwhile.
  auto& map = e.kind == Entry::kParse ? parsing_ : binding_;
  if (e.kind != Entry::kParse && e.kind != Entry::kBind) return;
  if (auto it = map.find(e.name); it != map.end() && it->second == e.text) map.erase(it);
}

void StatementTracker::finish(Entry& e, std::string outcome, Clock::time_point now,
                              std::vector<FinishedStatement>& done) {
  FinishedStatement f;
  f.protocol_path = e.kind == Entry::kSimple         ? "simple"
                    : e.kind == Entry::kFunctionCall ? "function_call"
                                                     : "extended";
  f.text = std::move(e.text);
  f.at_us = e.at_us;
  f.duration_us = std::chrono::duration_cast<std::chrono::microseconds>(now - e.started).count();
  f.rows = e.rows;
  f.tag = std::move(e.tag);
  f.outcome = e.failed ? "error" : std::move(outcome);
  f.error_code = std::move(e.error_code);
  f.error_message = std::move(e.error_message);
  done.push_back(std::move(f));
}

void StatementTracker::skip_to_sync(Clock::time_point now, std::vector<FinishedStatement>& done) {
  bool saw_sync = false;
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (it->kind == Entry::kSync) {
      saw_sync = true;
      break;
    }
    // Parse/Bind/Close the server skipped never took effect; Executes never ran.
    forget_in_flight(*it);
    if (it->kind == Entry::kExecute || it->kind == Entry::kSimple ||
        it->kind == Entry::kFunctionCall)
      finish(*it, "skipped", now, done);
    it = queue_.erase(it);
  }
  // No Sync sent yet: what the client sends until its Sync is discarded too.
  skipping_ = !saw_sync;
}

void StatementTracker::on_server(std::uint8_t type, Bytes body, Clock::time_point now,
                                 std::vector<FinishedStatement>& done) {
  Entry* front = queue_.empty() ? nullptr : &queue_.front();
  switch (type) {
    case '1':  // ParseComplete: the statement exists now
      if (front && front->kind == Entry::kParse) {
        prepared_[front->name] = front->text;
        forget_in_flight(*front);
        queue_.pop_front();
      }
      break;
    case '2':  // BindComplete
      if (front && front->kind == Entry::kBind) {
        portals_[front->name] = front->text;
        forget_in_flight(*front);
        queue_.pop_front();
      }
      break;
    case '3':  // CloseComplete
      if (front && front->kind == Entry::kClose) {
        auto& map = front->close_kind == 'S' ? prepared_ : portals_;
        if (auto it = map.find(front->name); it != map.end()) map.erase(it);
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
        finish(*front, "ok", now, done);
        queue_.pop_front();
      }
      break;
    }
    case 'I':  // EmptyQueryResponse
    case 's':  // PortalSuspended: this Execute is done; the portal may run again
      if (front && front->kind == Entry::kExecute) {
        finish(*front, "ok", now, done);
        queue_.pop_front();
      }
      break;
    case 'G':  // CopyInResponse
      // An extended-protocol COPY FROM STDIN: the Syncs the client already
      // sent behind the Execute are discarded by the server, and so are
      // those it sends until CopyDone/CopyFail.
      if (front && front->kind == Entry::kExecute) {
        for (auto it = queue_.begin() + 1; it != queue_.end();) {
          it = it->kind == Entry::kSync ? queue_.erase(it) : it + 1;
        }
        copy_in_ = true;
      }
      break;
    case 'E': {  // ErrorResponse
      if (!front || front->kind == Entry::kSync) break;
      std::string code, message;
      if (auto f = wire::parse_error_fields(body)) {
        code = std::string(f->get('C'));
        message = std::string(f->get('M')).substr(0, kMaxText);
      }
      if (front->kind == Entry::kSimple || front->kind == Entry::kFunctionCall) {
        front->failed = true;
        front->error_code = std::move(code);
        front->error_message = std::move(message);
        break;  // ReadyForQuery finishes it
      }
      // Extended protocol: the error belongs to the first Execute of this
      // Sync group (a failed Parse or Bind is why it cannot run); the rest of
      // the group is skipped by the server.
      for (auto& e : queue_) {
        if (e.kind == Entry::kSync) break;
        if (e.kind == Entry::kExecute) {
          e.failed = true;
          e.error_code = code;
          e.error_message = message;
          break;
        }
      }
      skip_to_sync(now, done);
      break;
    }
    case 'Z': {  // ReadyForQuery ends a simple query, a function call, or a Sync group
      while (!queue_.empty()) {
        Entry e = std::move(queue_.front());
        queue_.pop_front();
        forget_in_flight(e);
        if (e.kind == Entry::kSync) break;
        if (e.discarded) {
          finish(e, "skipped", now, done);
          continue;
        }
        if (e.kind == Entry::kSimple || e.kind == Entry::kFunctionCall) {
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
}

void StatementTracker::interrupt_all(Clock::time_point now, std::vector<FinishedStatement>& done) {
  for (auto& e : queue_) {
    if (e.kind == Entry::kSimple || e.kind == Entry::kFunctionCall || e.kind == Entry::kExecute)
      finish(e, "interrupted", now, done);
  }
  queue_.clear();
  parsing_.clear();
  binding_.clear();
}

}  // namespace gh::adapters::pg
