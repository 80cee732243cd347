#include "cluster/codec.h"

#include <nlohmann/json.hpp>

namespace gh::cluster {
namespace {

using Json = nlohmann::json;
using approvals::ReviewRefusal;
using approvals::Status;

constexpr std::pair<Status, const char*> kStatuses[] = {
    {Status::kPending, "pending"}, {Status::kApproved, "approved"},   {Status::kDenied, "denied"},
    {Status::kLapsed, "lapsed"},   {Status::kWithdrawn, "withdrawn"}, {Status::kUsed, "used"},
};
constexpr std::pair<ReviewRefusal, const char*> kRefusals[] = {
    {ReviewRefusal::kNotFound, "not_found"},
    {ReviewRefusal::kOwnRequest, "own_request"},
    {ReviewRefusal::kNotApprover, "not_approver"},
    {ReviewRefusal::kAlreadyDecided, "already_decided"},
    {ReviewRefusal::kAlreadyReviewed, "already_reviewed"},
    {ReviewRefusal::kUnavailable, "unavailable"},
};

template <class E, std::size_t N>
const char* name_of(const std::pair<E, const char*> (&table)[N], E v) {
  for (const auto& [e, n] : table)
    if (e == v) return n;
  return "";
}
template <class E, std::size_t N>
std::optional<E> value_of(const std::pair<E, const char*> (&table)[N], const std::string& n) {
  for (const auto& [e, name] : table)
    if (n == name) return e;
  return std::nullopt;
}

Json person_json(const approvals::Person& p) {
  return {{"subject", p.subject},
          {"issuer", p.issuer},
          {"issued_by", p.issued_by},
          {"groups", p.groups}};
}

approvals::Person person_of(const Json& j) {
  approvals::Person p;
  p.subject = j.at("subject").get<std::string>();
  p.issuer = j.at("issuer").get<std::string>();
  p.issued_by = j.at("issued_by").get<std::string>();
  p.groups = j.at("groups").get<std::vector<std::string>>();
  return p;
}

Json request_json(const approvals::Request& r) {
  Json reviews = Json::array();
  for (const auto& rv : r.reviews)
    reviews.push_back({{"subject", rv.subject},
                       {"issued_by", rv.issued_by},
                       {"approve", rv.approve},
                       {"reason", rv.reason},
                       {"at_us", rv.at_us}});
  const auto& b = r.binding;
  return {{"id", r.id},
          {"rule", r.rule},
          {"status", name_of(kStatuses, r.status)},
          {"binding",
           {{"kind", b.kind == approvals::Binding::Kind::kConnect ? "connect" : "statement"},
            {"subject", b.subject},
            {"issuer", b.issuer},
            {"connection", b.connection},
            {"text_hash", b.text_hash},
            {"fingerprint", b.fingerprint},
            {"params_hash", b.params_hash},
            {"policy_version", b.policy_version}}},
          {"requester", person_json(r.requester)},
          {"statement", r.statement},
          {"session_id", r.session_id},
          {"reason", r.reason},
          {"mode", r.mode == approvals::Mode::kWait ? "wait" : "reject"},
          {"created_at_us", r.created_at_us},
          {"expires_at_us", r.expires_at_us},
          {"decided_at_us", r.decided_at_us},
          {"approver_groups", r.approver_groups},
          {"count", r.count},
          {"grant_seconds", r.grant_seconds},
          {"grant_until_us", r.grant_until_us},
          {"reviews", reviews}};
}

approvals::Request request_of(const Json& j) {
  approvals::Request r;
  r.id = j.at("id").get<std::string>();
  r.rule = j.at("rule").get<std::string>();
  auto status = value_of(kStatuses, j.at("status").get<std::string>());
  if (!status) throw std::invalid_argument("status");
  r.status = *status;
  const Json& b = j.at("binding");
  r.binding.kind = b.at("kind").get<std::string>() == "connect"
                       ? approvals::Binding::Kind::kConnect
                       : approvals::Binding::Kind::kStatement;
  r.binding.subject = b.at("subject").get<std::string>();
  r.binding.issuer = b.value("issuer", std::string());  // absent from replicas before it
  r.binding.connection = b.at("connection").get<std::string>();
  r.binding.text_hash = b.at("text_hash").get<std::string>();
  r.binding.fingerprint = b.at("fingerprint").get<std::string>();
  r.binding.params_hash = b.at("params_hash").get<std::string>();
  r.binding.policy_version = b.at("policy_version").get<std::uint64_t>();
  r.requester = person_of(j.at("requester"));
  r.statement = j.at("statement").get<std::string>();
  r.session_id = j.at("session_id").get<std::string>();
  r.reason = j.at("reason").get<std::string>();
  r.mode =
      j.at("mode").get<std::string>() == "wait" ? approvals::Mode::kWait : approvals::Mode::kReject;
  r.created_at_us = j.at("created_at_us").get<std::int64_t>();
  r.expires_at_us = j.at("expires_at_us").get<std::int64_t>();
  r.decided_at_us = j.at("decided_at_us").get<std::int64_t>();
  r.approver_groups = j.at("approver_groups").get<std::vector<std::string>>();
  r.count = j.at("count").get<int>();
  r.grant_seconds = j.at("grant_seconds").get<std::int64_t>();
  r.grant_until_us = j.at("grant_until_us").get<std::int64_t>();
  for (const auto& rv : j.at("reviews")) {
    r.reviews.push_back({rv.at("subject").get<std::string>(), rv.at("issued_by").get<std::string>(),
                         rv.at("approve").get<bool>(), rv.at("reason").get<std::string>(),
                         rv.at("at_us").get<std::int64_t>()});
  }
  return r;
}

}  // namespace

std::string encode_request(const approvals::Request& r) {
  // Replacement of bad UTF-8 rather than an exception: the statement text is
  // whatever the client sent.
  return request_json(r).dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::optional<approvals::Request> decode_request(const std::string& text) {
  try {
    return request_of(Json::parse(text));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string encode_person(const approvals::Person& p) {
  return person_json(p).dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::optional<approvals::Person> decode_person(const std::string& text) {
  try {
    return person_of(Json::parse(text));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string encode_answer(const ReviewResult& answer) {
  Json j;
  if (answer) {
    j = {{"ok", true}, {"request", request_json(*answer)}};
  } else {
    j = {{"ok", false},
         {"code", name_of(kRefusals, answer.error().code)},
         {"message", answer.error().message}};
  }
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

ReviewResult decode_answer(const std::string& text) {
  try {
    const Json j = Json::parse(text);
    if (j.at("ok").get<bool>()) return request_of(j.at("request"));
    auto code = value_of(kRefusals, j.at("code").get<std::string>());
    if (!code) throw std::invalid_argument("code");
    return unexpected(approvals::ReviewError{*code, j.at("message").get<std::string>()});
  } catch (const std::exception&) {
    return unexpected(approvals::ReviewError{ReviewRefusal::kUnavailable,
                                             "the replica's answer could not be read"});
  }
}

}  // namespace gh::cluster
