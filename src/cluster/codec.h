// Approval requests, reviewers and review answers as JSON text, the form in
// which replicas hand them to each other through the shared store. Every
// field survives the round trip; text that is not one of these is refused.
#pragma once

#include <optional>
#include <string>

#include "cluster/peers.h"

namespace gh::cluster {

std::string encode_request(const approvals::Request& r);
std::optional<approvals::Request> decode_request(const std::string& text);

std::string encode_person(const approvals::Person& p);
std::optional<approvals::Person> decode_person(const std::string& text);

std::string encode_answer(const ReviewResult& answer);
// An answer that cannot be read is a refusal saying so.
ReviewResult decode_answer(const std::string& text);

}  // namespace gh::cluster
