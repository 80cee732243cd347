// libFuzzer target for the configuration loader: arbitrary text as gatehouse.yaml. Contracts:
//   - nothing throws out of load_string() and nothing crashes, whatever the YAML;
//   - a refused file lists at least one problem, each with a message and a line inside the
//     text (or 0 for none);
//   - no problem and no warning carries a secret: the value of an environment variable or
//     the content of a password file the text points at;
//   - the same text loads the same way twice.
//
// The text is loaded as <scratch dir>/gatehouse.yaml, where the files the test
// configurations name exist (a JWKS, certificates, a password file); every ${NAME} is set.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "config/config.h"

namespace {

namespace fs = std::filesystem;
using namespace gh::config;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

constexpr std::string_view kEnvSecret = "EnvSecret-9xq2Z";
constexpr std::string_view kFileSecret = "FileSecret-4kq8P";

// Made once, removed at exit; a pointer so that it outlives every static destructor.
const std::string& scratch() {
  static const std::string* const dir = [] {
    const fs::path d = fs::temp_directory_path() / ("gh-fuzz-config-" + std::to_string(::getpid()));
    fs::create_directories(d / "certs");
    fs::create_directories(d / "secrets");
    auto write = [&](const char* rel, std::string_view content) {
      std::ofstream(d / rel, std::ios::binary) << content;
    };
    write("idp-jwks.json", R"({"keys":[]})");
    write("certs/gw.crt", "-----BEGIN CERTIFICATE-----\n");
    write("certs/gw.key", "-----BEGIN PRIVATE KEY-----\n");
    write("certs/ca.crt", "-----BEGIN CERTIFICATE-----\n");
    write("secrets/billing.pw", std::string(kFileSecret) + "\n");
    return new std::string(d.string());
  }();
  static const bool cleanup = [] {
    return std::atexit([] {
             std::error_code ec;
             fs::remove_all(*dir, ec);
           }) == 0;
  }();
  (void)cleanup;
  return *dir;
}

bool leaks(std::string_view text) {
  return text.find(kEnvSecret) != std::string_view::npos ||
         text.find(kFileSecret) != std::string_view::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // What the text names itself is in it: a secret it spells out is not a leak.
  if (leaks(text)) return 0;
  const std::string path = scratch() + "/gatehouse.yaml";
  const EnvLookup env = [](const std::string&) -> std::optional<std::string> {
    return std::string(kEnvSecret);
  };
  int lines = 1;
  for (char c : text) lines += c == '\n';

  auto loaded = load_string(text, path, env);
  if (loaded) {
    for (const auto& w : loaded->warnings) check(!leaks(w));
  } else {
    check(!loaded.error().empty());
    for (const auto& p : loaded.error()) {
      check(!p.message.empty());
      check(p.line >= 0 && p.line <= lines + 1);
      check(!leaks(p.message) && !leaks(p.to_string()));
    }
  }
  auto again = load_string(text, path, env);
  check(again.has_value() == loaded.has_value());
  if (!again) check(again.error().size() == loaded.error().size());
  return 0;
}
