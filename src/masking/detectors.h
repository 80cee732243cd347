// Content detectors: find sensitive values inside text in one pass over it.
// With Hyperscan (where the build has it) the detectors that start with a
// literal (emails, keys, tokens, PEM blocks, `::`) share one multi-pattern
// database and the digit-led ones (cards, SSNs, phones, IBANs, IP addresses)
// are found by one vectorised scan for digit runs; the portable engine runs
// Boost.Regex patterns for all of them. Patterns only locate candidates: each
// detector's own code then decides the exact value and validates it (Luhn,
// mod-97, SSN area rules, octet ranges, …), so both engines find the same
// values and order numbers, timestamps, UUIDs and version strings stay
// untouched.
// Pure computation: no I/O, no threads of its own; a Scanner is immutable
// once built and may scan from any number of threads at once.
#pragma once

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/expected.h"

namespace gh::masking {

enum class Detector : std::uint8_t {
  kEmail,
  kCreditCard,
  kUsSsn,
  kPhone,
  kIban,
  kIpAddress,
  kJwt,
  kAwsAccessKey,
  kPrivateKey,
  kGenericSecret,
};
inline constexpr std::size_t kDetectorCount = 10;
using DetectorSet = std::bitset<kDetectorCount>;

// The config.md name ("email", "credit_card", …) and back.
std::string_view detector_name(Detector d);
std::optional<Detector> detector_from_name(std::string_view name);
// What `redact` writes for it, without brackets: "EMAIL", "CREDIT_CARD", …
std::string_view detector_label(Detector d);
DetectorSet all_detectors();

// One sensitive value found in a text: bytes [begin, end) are to be masked.
struct Finding {
  std::size_t begin = 0;
  std::size_t end = 0;
  Detector detector = Detector::kEmail;
};

enum class Engine { kAuto, kHyperscan, kPortable };

class Scanner {
 public:
  // Compiles the patterns of `detectors`. kAuto picks Hyperscan when the
  // build has it. Fails only on an engine error (or kHyperscan without it).
  static Expected<std::unique_ptr<Scanner>, std::string> build(DetectorSet detectors,
                                                               Engine engine = Engine::kAuto);
  virtual ~Scanner() = default;

  // Appends to `out` the validated findings in `text`, ordered by begin and
  // never overlapping (the longest wins where candidates overlap). Leaves
  // `out` unchanged when nothing is found. Thread-safe; never throws.
  virtual void scan(std::string_view text, std::vector<Finding>& out) const = 0;
  // Cheapest possible "is there anything at all" check (no validation of
  // overlaps, same validators): true when scan() would find something.
  virtual bool any(std::string_view text) const = 0;

  DetectorSet detectors() const { return detectors_; }
  virtual std::string_view engine_name() const = 0;  // "hyperscan" | "portable"
  static bool hyperscan_available();

 protected:
  explicit Scanner(DetectorSet d) : detectors_(d) {}
  DetectorSet detectors_;
};

}  // namespace gh::masking
