// Helpers for walking libpg_query's JSON parse trees, shared by statement
// analysis and column lineage (internal to src/sql).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace gh::sql::tree {

// The string member `key` of an object node; empty when absent or not a string.
inline const std::string& str(const nlohmann::json& j, const char* key) {
  static const std::string kEmpty;
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return kEmpty;
  return it->get_ref<const std::string&>();
}

// Where the stack is now (it grows down on every platform the gateway runs
// on): what bounds a walk's stack use whatever a level costs in the build.
inline std::uintptr_t stack_position() {
  return reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
}

}  // namespace gh::sql::tree
