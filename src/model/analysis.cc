#include "model/analysis.h"

#include <array>

namespace gh::model {

namespace {

struct KindInfo {
  std::string_view name;
  StatementClass cls;
};

using C = StatementClass;
// One line per kind: its name in the configuration and its action class
// (config.md, "Statement classes").
constexpr std::array<KindInfo, static_cast<std::size_t>(Kind::kCount_)> kKinds = {{
    {"unknown", C::kUnknown},
    {"select", C::kRead},
    {"insert", C::kWrite},
    {"update", C::kWrite},
    {"delete", C::kWrite},
    {"merge", C::kWrite},
    {"copy_to", C::kRead},
    {"copy_from", C::kWrite},
    {"copy_to_file", C::kAdmin},
    {"copy_from_file", C::kAdmin},
    {"copy_to_program", C::kAdmin},
    {"copy_from_program", C::kAdmin},
    {"create", C::kDdl},
    {"create_function", C::kDdl},
    {"create_extension", C::kAdmin},
    {"create_role", C::kAdmin},
    {"alter", C::kDdl},
    {"alter_system", C::kAdmin},
    {"alter_role", C::kAdmin},
    {"drop", C::kDdl},
    {"truncate", C::kDdl},
    {"comment", C::kDdl},
    {"grant", C::kAdmin},
    {"revoke", C::kAdmin},
    {"do", C::kAdmin},
    {"call", C::kAdmin},
    {"prepare", C::kSession},
    {"execute", C::kSession},  // takes the class of what was prepared
    {"deallocate", C::kSession},
    {"explain", C::kRead},
    {"explain_analyze", C::kRead},  // plus the class of what it runs
    {"set", C::kSession},
    {"set_role", C::kAdmin},
    {"show", C::kRead},
    {"transaction", C::kSession},
    {"vacuum", C::kAdmin},
    {"analyze", C::kAdmin},
    {"reindex", C::kAdmin},
    {"cluster", C::kAdmin},
    {"checkpoint", C::kAdmin},
    {"load", C::kAdmin},
    {"lock", C::kWrite},
    {"refresh", C::kWrite},
    {"listen", C::kSession},
    {"unlisten", C::kSession},
    {"notify", C::kWrite},
    {"discard", C::kSession},
    {"declare", C::kRead},  // plus the class of its query
    {"fetch", C::kRead},
    {"close", C::kSession},
    {"function_call", C::kAdmin},
}};

constexpr std::array<std::string_view, 6> kClasses = {"session", "read",  "write",
                                                      "ddl",     "admin", "unknown"};

}  // namespace

std::string_view kind_name(Kind k) {
  auto i = static_cast<std::size_t>(k);
  return i < kKinds.size() ? kKinds[i].name : "unknown";
}

Kind kind_from_name(std::string_view name) {
  for (std::size_t i = 0; i < kKinds.size(); ++i)
    if (kKinds[i].name == name) return static_cast<Kind>(i);
  return Kind::kCount_;
}

StatementClass class_of(Kind k) {
  auto i = static_cast<std::size_t>(k);
  return i < kKinds.size() ? kKinds[i].cls : C::kUnknown;
}

std::string_view class_name(StatementClass c) {
  auto i = static_cast<std::size_t>(c);
  return i < kClasses.size() ? kClasses[i] : "unknown";
}

}  // namespace gh::model
