// libFuzzer target for masking: the content scanner and JSON-path masking over arbitrary
// values, as text and binary, json and jsonb, bytea, COPY lines and free text. The contract:
// a masked value never contains the protected input. A known secret is planted in
// fuzzer-chosen surroundings — a value the detectors must recognise (a card number, an email
// address, an AWS access key) set off by a space, or a value a JSON-path or column rule
// protects whatever it looks like — and whatever the masker gives back (a rewrite, or the
// value untouched) must not hold it; withholding the value is always allowed. Nothing
// crashes, and a rewrite of a JSON value is valid JSON.
//
// Input: byte 0 picks the kind of value, byte 1 the style and the secret; the rest is the
// surrounding material (text before and after, or a JSON document to plant into).
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "masking/rules.h"

namespace {

using namespace gh;
using namespace gh::masking;
using Json = nlohmann::json;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

// A broken contract, with what the client would have received.
void check_hidden(bool ok, std::string_view got) {
  if (ok) return;
  std::fputs("masked value still holds the protected input: \"", stderr);
  std::fwrite(got.data(), 1, got.size(), stderr);
  std::fputs("\"\n", stderr);
  __builtin_trap();
}

// Values the detectors must find whatever surrounds them (set off by a space).
constexpr std::string_view kDetected[] = {"4539578763621486", "zq.leak@corp-secret.example",
                                          "AKIAZQLEAKEXAMPLE7QF"};
// What only a rule protects: a path's value or a column's, detectors or not.
constexpr std::string_view kProtected = "Hunter2-zebra-QUOKKA";

struct Policies {
  std::vector<std::shared_ptr<const SessionMasker>> by_style;
  Policies() {
    for (Style style : {Style::kPartial, Style::kRedact, Style::kHash}) {
      Rule detectors;
      detectors.name = "content";
      detectors.detectors = all_detectors();
      detectors.style = style;
      Rule columns;
      columns.name = "columns";
      columns.columns = {"public.users.password"};
      columns.style = style;
      Rule paths;
      paths.name = "paths";
      paths.style = style;
      for (const char* p : {"$.password", "$..secret", "$.cards[*].number"}) {
        auto path = parse_json_path(p);
        check(path.has_value());
        paths.json_paths.push_back(*path);
      }
      auto policy = std::make_unique<MaskingPolicy>(std::vector<Rule>{detectors, columns, paths},
                                                    std::vector<std::uint8_t>(32, 0x42));
      std::string error;
      auto session = policy->for_session(model::Principal{.subject = "fuzz"}, "pg", error);
      check(session != nullptr && error.empty() && session->active());
      by_style.push_back(std::move(session));
      policies.push_back(std::move(policy));
    }
  }
  std::vector<std::unique_ptr<MaskingPolicy>> policies;
};

bool contains(std::string_view hay, std::string_view needle) {
  return hay.find(needle) != std::string_view::npos;
}

// What the client would get: the rewrite, or the value itself.
std::string_view shown(Outcome o, std::string_view value, const std::string& out) {
  return o == Outcome::kRewritten ? std::string_view(out) : value;
}

std::string hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string unhex(std::string_view text) {
  auto v = [](char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
  };
  std::string out;
  for (std::size_t i = 0; i + 1 < text.size(); i += 2) {
    const int hi = v(text[i]), lo = v(text[i + 1]);
    if (hi < 0 || lo < 0) break;
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

// A JSON document from the fuzzer's bytes (an object to plant into), with the protected
// value at a path a rule names and a detected one inside a string.
std::string planted_json(FuzzedDataProvider& in, std::string_view detected) {
  const std::string text = in.ConsumeRandomLengthString(512);
  if (contains(text, detected) || contains(text, kProtected)) return {};
  Json doc = Json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) doc = Json{{"data", std::move(doc)}};
  if (doc.is_discarded()) doc = Json::object();
  switch (in.ConsumeIntegralInRange(0, 2)) {
    case 0:
      doc["password"] = kProtected;
      break;
    case 1:
      doc["deep"] = Json{{"list", Json::array({1, Json{{"secret", kProtected}}})}};
      break;
    default:
      doc["cards"] = Json::array({Json{{"number", kProtected}, {"brand", "visa"}}});
      break;
  }
  const std::string note_before = in.ConsumeRandomLengthString(16);
  const std::string note_after = in.ConsumeRandomLengthString(16);
  if (contains(note_before, detected) || contains(note_after, detected)) return {};
  doc["note"] = note_before + " " + std::string(detected) + " " + note_after;
  return doc.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const Policies policies;
  if (size < 2) return 0;
  const std::uint8_t mode = data[0] % 8;
  const SessionMasker& m = *policies.by_style[data[1] % 3];
  const std::string_view secret = kDetected[(data[1] / 3) % std::size(kDetected)];
  FuzzedDataProvider in(data + 2, size - 2);
  const std::string before = in.ConsumeRandomLengthString(256);
  const std::string after = in.ConsumeRandomLengthString(256);
  // Only the planted value is protected input: material that spells a secret itself (in a
  // context where it is something else, "x@corp-secret.example0") is not.
  for (std::string_view s : {secret, kProtected})
    if (contains(before, s) || contains(after, s)) return 0;
  const std::string text = before + " " + std::string(secret) + " " + after;
  Counts counts;
  std::string out;

  switch (mode) {
    case 0: {  // a text column: content detectors
      const ColumnPlan plan = m.plan({.name = "comment", .type_oid = 25});
      const Outcome o = m.mask_value(plan, text, out, counts);
      if (o != Outcome::kWithheld)
        check_hidden(!contains(shown(o, text, out), secret), shown(o, text, out));
      break;
    }
    case 1: {  // free text: an error message, a notification payload
      const Outcome o = m.mask_text(text, out, counts);
      check(o != Outcome::kWithheld);
      check_hidden(!contains(shown(o, text, out), secret), shown(o, text, out));
      break;
    }
    case 2: {  // a COPY line, text or CSV, the secret in a field of no rule
      CopyFormat format{.known = true, .csv = in.ConsumeBool()};
      if (format.csv) format.delimiter = ',';
      const Outcome o = m.mask_copy_line(text, format, {}, out, counts);
      if (o != Outcome::kWithheld)
        check_hidden(!contains(shown(o, text, out), secret), shown(o, text, out));
      break;
    }
    case 3:    // json, text format
    case 4: {  // jsonb, binary format: version byte 1, then the text
      const bool binary = mode == 4;
      std::string value = planted_json(in, secret);
      if (value.empty()) return 0;
      if (binary) value.insert(0, 1, '\x01');
      const ColumnPlan plan = m.plan({.source = "public.events.payload",
                                      .name = "payload",
                                      .type_oid = binary ? 3802u : 114u,
                                      .format = static_cast<std::int16_t>(binary ? 1 : 0),
                                      .direct = true});
      const Outcome o = m.mask_value(plan, value, out, counts);
      if (o != Outcome::kWithheld) {
        const std::string_view got = shown(o, value, out);
        check_hidden(!contains(got, kProtected) && !contains(got, secret), got);
        if (o == Outcome::kRewritten) {
          const std::string_view json_text = binary ? got.substr(1) : got;
          check(!binary || (!got.empty() && got[0] == '\x01'));
          check(!Json::parse(json_text, nullptr, false).is_discarded());
        }
      }
      break;
    }
    case 5: {  // bytea, text format (hex): the bytes are looked into
      const std::string value = "\\x" + hex(text);
      const ColumnPlan plan = m.plan({.name = "blob", .type_oid = 17});
      const Outcome o = m.mask_value(plan, value, out, counts);
      if (o != Outcome::kWithheld) {
        const std::string_view got = shown(o, value, out);
        check_hidden(!contains(got, secret), got);
        if (got.starts_with("\\x")) check(!contains(unhex(got.substr(2)), secret));
      }
      break;
    }
    case 6: {  // a column a rule names: masked whole, whatever it holds
      const std::string value = before + std::string(kProtected) + after;
      const ColumnPlan plan = m.plan({.source = "public.users.password",
                                      .name = in.ConsumeRandomLengthString(12),
                                      .type_oid = 25});
      check(plan.column_rule >= 0);
      const Outcome o = m.mask_value(plan, value, out, counts);
      if (o != Outcome::kWithheld)
        check_hidden(!contains(shown(o, value, out), kProtected), shown(o, value, out));
      break;
    }
    default: {  // bigint, binary format, holding a card number
      std::string value(8, '\0');
      const std::uint64_t card = 4539578763621486ULL;
      for (int i = 0; i < 8; ++i) value[i] = static_cast<char>(card >> (56 - 8 * i));
      const ColumnPlan plan = m.plan({.name = "n", .type_oid = 20, .format = 1});
      const Outcome o = m.mask_value(plan, value, out, counts);
      check(o != Outcome::kUnchanged);
      if (o == Outcome::kRewritten) check(out != value);
      // And the same as text.
      std::string out_text;
      const Outcome t =
          m.mask_value(m.plan({.name = "n", .type_oid = 20}), "4539578763621486", out_text, counts);
      check(t == Outcome::kWithheld ||
            (t == Outcome::kRewritten && !contains(out_text, "4539578763621486")));
      break;
    }
  }
  return 0;
}
