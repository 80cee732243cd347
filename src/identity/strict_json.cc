#include "identity/strict_json.h"

#include <unordered_set>
#include <vector>

namespace gh::identity {
namespace {

// Member names echoed in a reason are attacker-chosen: keep them short and printable.
std::string printable_name(const std::string& name) {
  std::string out;
  for (const char c : name) {
    if (out.size() >= 40) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u < 0x7F && c != '"' && c != '\\' ? c : '?');
  }
  return out;
}

}  // namespace

Expected<nlohmann::json> parse_strict_json(std::string_view text) {
  using Json = nlohmann::json;
  // One set of seen names per open object, innermost last.
  std::vector<std::unordered_set<std::string>> open_objects;
  std::string duplicate;
  bool found_duplicate = false;
  const Json::parser_callback_t track_keys = [&](int /*depth*/, Json::parse_event_t event,
                                                 Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
        open_objects.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!open_objects.empty() && parsed.is_string() &&
            !open_objects.back().insert(parsed.get_ref<const std::string&>()).second &&
            !found_duplicate) {
          found_duplicate = true;
          duplicate = parsed.get_ref<const std::string&>();
        }
        break;
      default:
        break;
    }
    return true;
  };
  Json value;
  try {
    value = Json::parse(text.begin(), text.end(), track_keys, /*allow_exceptions=*/false);
  } catch (const Json::exception&) {
    // allow_exceptions=false covers syntax errors; this is belt and braces so
    // that nothing from the parser can ever escape verify().
    return unexpected(std::string("not valid JSON"));
  }
  if (value.is_discarded()) return unexpected(std::string("not valid JSON"));
  if (found_duplicate) return unexpected("duplicate member \"" + printable_name(duplicate) + "\"");
  return value;
}

}  // namespace gh::identity
