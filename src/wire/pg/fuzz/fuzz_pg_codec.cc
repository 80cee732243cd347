// libFuzzer target for the PostgreSQL codec. Contract: for any bytes, nothing crashes, reads
// out of bounds, leaks or trips UBSan, and the framer gives back exactly the bytes it was fed.
//
// Input layout: byte 0 picks where the stream is cut into two feeds (as a fraction of the
// rest); the rest is the byte stream, also tried as a startup packet and as SCRAM server
// messages.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "wire/pg/auth.h"
#include "wire/pg/protocol.h"

namespace {

using namespace gh;
using namespace gh::wire::pg;

// A broken invariant: crash so libFuzzer records the input.
void check(bool ok) {
  if (!ok) __builtin_trap();
}

// memcmp that allows empty ranges (whose pointers may be null).
bool same(const std::uint8_t* a, const std::uint8_t* b, std::size_t n) {
  return n == 0 || std::memcmp(a, b, n) == 0;
}

bool all_whole(std::uint8_t) {
  return true;
}
bool all_streamed(std::uint8_t) {
  return false;
}
bool rows_streamed(std::uint8_t type) {
  return type != 'D' && type != 'd';
}

// Every body parser on every whole message, whatever its type: each must cope with any bytes.
// What parses is encoded again where an encoder exists, and must read back the same.
void parse_everything(Bytes body) {
  if (auto q = parse_query(body)) {
    Buffer out;
    encode_query(out, q->sql);
    check(out.size() == body.size() + 5 && same(out.data() + 5, body.data(), body.size()));
  }
  if (auto p = parse_parse(body)) check(p->param_types.size() * 4 <= body.size());
  if (auto b = parse_bind(body)) {
    for (std::size_t i = 0; i < b->params.size(); ++i) {
      auto f = b->param_format(i);
      check(f == 0 || f == 1);
    }
  }
  (void)parse_execute(body);
  if (auto c = parse_close(body)) check(c->kind == 'S' || c->kind == 'P');
  (void)parse_describe(body);
  (void)parse_password(body);
  (void)parse_function_call(body);
  if (auto a = parse_authentication(body)) (void)parse_sasl_mechanisms(a->data);
  (void)parse_sasl_mechanisms(body);
  if (auto k = parse_backend_key_data(body)) {
    Buffer out;
    encode_backend_key_data(out, k->pid, k->secret);
    check(out.size() == 13 && same(out.data() + 5, body.data(), 8));
  }
  if (auto s = parse_parameter_status(body)) {
    Buffer out;
    encode_parameter_status(out, s->name, s->value);
    check(out.size() == body.size() + 5 && same(out.data() + 5, body.data(), body.size()));
  }
  if (auto e = parse_error_fields(body)) {
    (void)e->get('M');
    ErrorSpec spec{.severity = e->get('S'),
                   .sqlstate = e->get('C'),
                   .message = e->get('M'),
                   .detail = e->get('D'),
                   .hint = e->get('H')};
    Buffer out;
    encode_error_response(out, spec);
    check(parse_error_fields(Bytes(out).subspan(5)).has_value());
  }
  if (auto tag = parse_command_complete(body)) check(rows_from_command_tag(*tag) >= -1);
  if (auto z = parse_ready_for_query(body)) check(*z == 'I' || *z == 'T' || *z == 'E');
}

// Frames `input` fed as two pieces, each its own allocation so that ASan sees any read past
// the bytes that have arrived.
void frame(Bytes input, std::size_t cut, MessageFramer::WantsWhole wants_whole,
           std::uint32_t max_length) {
  std::vector<std::uint8_t> first(input.begin(), input.begin() + static_cast<std::ptrdiff_t>(cut));
  std::vector<std::uint8_t> second(input.begin() + static_cast<std::ptrdiff_t>(cut), input.end());
  MessageFramer framer(wants_whole, max_length);
  std::vector<std::uint8_t> seen;  // raw bytes of every event, in order
  bool streaming = false;
  for (const auto* piece : {&first, &second}) {
    framer.feed(*piece);
    for (;;) {
      auto e = framer.next();
      if (e.kind == MessageFramer::EventKind::kNeedMore) break;
      if (e.kind == MessageFramer::EventKind::kError) {
        check(!e.error.empty() && !framer.at_boundary());
        check(framer.next().kind == MessageFramer::EventKind::kError);
        goto done;
      }
      seen.insert(seen.end(), e.raw.begin(), e.raw.end());
      switch (e.kind) {
        case MessageFramer::EventKind::kWhole:
          check(!streaming && e.raw.size() == std::size_t{e.header.length} + 1 &&
                e.body.size() == e.header.body_length() && e.header.length <= max_length);
          check(framer.at_boundary());
          parse_everything(e.body);
          break;
        case MessageFramer::EventKind::kStreamBegin:
          check(!streaming && e.raw.size() == Header::kSize);
          streaming = true;
          break;
        case MessageFramer::EventKind::kStreamChunk:
          check(streaming && !e.body.empty() && e.body.size() <= piece->size());
          break;
        case MessageFramer::EventKind::kStreamEnd:
          check(streaming && e.raw.empty());
          streaming = false;
          check(framer.at_boundary());
          break;
        default:
          check(false);
      }
    }
  }
done:
  // What came out is exactly what went in, in order, up to where framing stopped.
  check(seen.size() <= input.size() && same(seen.data(), input.data(), seen.size()));
}

void startup(Bytes input) {
  auto r = decode_startup(input);
  if (auto* d = std::get_if<StartupDecoded>(&r)) {
    check(d->consumed >= 8 && d->consumed <= input.size() && d->consumed <= kMaxStartupLength);
    if (auto* m = std::get_if<StartupMessage>(&d->packet); m && m->version == kProtocol30) {
      Buffer out;
      encode_startup_message(out, m->params);
      check(out.size() == d->consumed && same(out.data(), input.data(), out.size()));
    }
  } else if (auto* more = std::get_if<NeedMore>(&r)) {
    check(more->at_least > input.size());
  }
}

constexpr char kNonce[] = "rOprNGfwEbeRWgbNEkqO";

void scram(std::string_view message) {
  {
    ScramSha256Client client("pencil", kNonce);
    client.set_max_iterations(64);  // fuzzing speed: PBKDF2 cost is the iteration count
    client.client_first();
    auto final_message = client.client_final(message);
    if (final_message) {
      check(final_message->starts_with("c=biws,r=rOprNGfwEbeRWgbNEkqO"));
      (void)client.verify_server_final(message);
    }
  }
  // A client that has sent its proof, waiting for the server's signature (made once: the
  // check does not change it).
  static ScramSha256Client* const waiting = [] {
    static ScramSha256Client client("pencil", kNonce);
    client.client_first();
    check(client.client_final("r=rOprNGfwEbeRWgbNEkqOsrv,s=QSXCR+Q6sek8bf92,i=1").has_value());
    return &client;
  }();
  (void)waiting->verify_server_final(message);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  Bytes input(data + 1, size - 1);
  std::size_t cut = input.size() * data[0] / 255;

  startup(input);
  (void)decode_header(input);
  for (auto mode : {all_whole, rows_streamed, all_streamed}) {
    frame(input, cut, mode, kMaxMessageLength);
    frame(input, cut, mode, 64);
  }
  scram(as_chars(input));
  return 0;
}
