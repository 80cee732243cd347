// Detector rules and the two scanning engines.
//
// How a value is found. Every rule has one prefilter pattern that is only a
// loose locator; the exact token is then determined by the rule's C++
// extractor, deterministically, from the text alone. Two kinds of rules:
//
//  * Region rules (email, card, SSN, phone, IBAN, IPv4, IPv6, JWT, AWS key).
//    Each has a character class; a "region" is a maximal run of that class.
//    The pattern uses only characters of the class, so every match lies
//    inside exactly one region. A reported match only names its region; the
//    extractor then examines the whole region once. Hyperscan reports every
//    match and Boost.Regex only non-overlapping ones, but both report at least
//    one match inside every region that has any, so both engines examine the
//    same regions and produce the same findings. Work per region is linear in
//    its length, and a region is examined once however many matches it holds
//    (1 MB of digits is one region), so scanning stays linear.
//
//  * Match rules (private key blocks, well-known token prefixes, key=value
//    assignments, URL credentials). The extractor starts from the match end.
//    Their patterns are such that matches never overlap, or a match starting
//    inside an earlier one is always rejected by the start boundary check
//    (the character before it belongs to the token alphabet), so again both
//    engines yield the same findings.
//
// Only end offsets are needed, so Hyperscan patterns are compiled without
// start-of-match tracking, which keeps the database small and the scan fast.
// Digit-led rules have no literal Hyperscan could anchor on; the Hyperscan
// engine locates them with a vectorised digit-chain pass instead (see
// "The digit-chain pass" below), and runs Hyperscan for the rest.
#include "masking/detectors.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <climits>
#include <cstring>
#include <exception>
#include <locale>
#include <utility>

#include <boost/regex.hpp>

#ifdef GH_HAVE_HYPERSCAN
#include <hs/hs.h>
#if defined(__SSE2__)
#include <immintrin.h>
#endif
#endif

namespace gh::masking {

namespace {

// ---------------------------------------------------------------------------
// Character classes (bytes >= 0x80 belong only to the email local part).

using CharClass = std::array<bool, 256>;

constexpr CharClass make_class(std::string_view members) {
  CharClass c{};
  for (std::size_t i = 0; i < members.size(); ++i) {
    if (i + 2 < members.size() && members[i + 1] == '~') {
      for (int ch = static_cast<unsigned char>(members[i]);
           ch <= static_cast<unsigned char>(members[i + 2]); ++ch) {
        c[static_cast<std::size_t>(ch)] = true;
      }
      i += 2;
    } else {
      c[static_cast<unsigned char>(members[i])] = true;
    }
  }
  return c;
}

// "a~z" denotes a range in these member lists; a "~" at the end is literal.
constexpr CharClass kDigit = make_class("0~9");
constexpr CharClass kAlpha = make_class("a~zA~Z");
constexpr CharClass kAlnum = make_class("a~zA~Z0~9");
// Local parts may hold UTF-8 (RFC 6531); domains must be ASCII (IDNs in
// punycode) so that punctuation after an address is never taken for a TLD.
constexpr CharClass kEmailRegion = make_class("a~zA~Z0~9._%+@-\x80~\xff");
constexpr CharClass kEmailLocal = make_class("a~zA~Z0~9._%+-\x80~\xff");
constexpr CharClass kDomainChar = make_class("a~zA~Z0~9.-");
constexpr CharClass kLabelChar = make_class("a~zA~Z0~9-");
constexpr CharClass kDigitSep = make_class("0~9 -");
constexpr CharClass kPhoneRegion = make_class("0~9 +().-");
constexpr CharClass kIbanRegion = make_class("a~zA~Z0~9 ");
constexpr CharClass kIpv4Region = make_class("0~9.");
constexpr CharClass kIpv6Region = make_class("a~fA~F0~9:.");
constexpr CharClass kJwtRegion = make_class("a~zA~Z0~9_.-");
constexpr CharClass kB64Url = make_class("a~zA~Z0~9_-");
constexpr CharClass kAlnumUnderscore = make_class("a~zA~Z0~9_");
constexpr CharClass kAlnumDash = make_class("a~zA~Z0~9-");
constexpr CharClass kTokenBoundary = make_class("a~zA~Z0~9_.-");
constexpr CharClass kBearerToken = make_class("a~zA~Z0~9._+/=-~");  // a final ~ is literal
constexpr CharClass kIdentChar = make_class("a~zA~Z0~9_.-");
constexpr CharClass kSchemeChar = make_class("a~zA~Z0~9+.-");

inline bool in(const CharClass& c, char ch) {
  return c[static_cast<unsigned char>(ch)];
}
inline bool is_digit(char ch) {
  return in(kDigit, ch);
}
inline bool is_alnum(char ch) {
  return in(kAlnum, ch);
}
inline char to_lower(char ch) {
  return (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch + 32) : ch;
}
inline char to_upper(char ch) {
  return (ch >= 'a' && ch <= 'z') ? static_cast<char>(ch - 32) : ch;
}

// text[i] when it exists, else NUL (which is in no class).
inline char at(std::string_view t, std::size_t i) {
  return i < t.size() ? t[i] : '\0';
}
// text[i - 1] when it exists, else NUL.
inline char before(std::string_view t, std::size_t i) {
  return i > 0 ? t[i - 1] : '\0';
}

std::size_t run_end(std::string_view t, std::size_t i, const CharClass& c,
                    std::size_t limit = std::string_view::npos) {
  const std::size_t stop = std::min(t.size(), limit);
  while (i < stop && in(c, t[i])) ++i;
  return i;
}

// ---------------------------------------------------------------------------
// Where findings go during one scan.

struct Sink {
  std::vector<Finding> found;
  bool stop_at_first = false;
  bool stopped = false;
  bool done() const { return stopped; }
  void add(std::size_t b, std::size_t e, Detector d) {
    if (e <= b) return;
    found.push_back(Finding{b, e, d});
    stopped = stop_at_first;
  }
};

// Per-scan memory that keeps some extractors linear.
struct ScanMemo {
  // Private keys: the first "-----END …PRIVATE KEY-----" at or after
  // pem_from, as [pem_end_begin, pem_end_end), or npos when there is none.
  std::size_t pem_from = std::string_view::npos;
  std::size_t pem_end_begin = 0;
  std::size_t pem_end_end = 0;
  // Unquoted assignment values: the first stop character at or after
  // value_from is value_stop (so overlapping values are not rescanned).
  std::size_t value_from = std::string_view::npos;
  std::size_t value_stop = 0;
};

// ---------------------------------------------------------------------------
// Validators.

bool luhn_ok(std::string_view digits) {
  int sum = 0;
  bool dbl = false;
  for (std::size_t i = digits.size(); i-- > 0;) {
    int d = digits[i] - '0';
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    dbl = !dbl;
  }
  return sum % 10 == 0;
}

int prefix_num(std::string_view digits, std::size_t n) {
  int v = 0;
  for (std::size_t i = 0; i < n && i < digits.size(); ++i) v = v * 10 + (digits[i] - '0');
  return v;
}

// A known issuer prefix with a length that issuer uses.
bool issuer_ok(std::string_view d) {
  const std::size_t n = d.size();
  const int p1 = prefix_num(d, 1), p2 = prefix_num(d, 2), p3 = prefix_num(d, 3),
            p4 = prefix_num(d, 4);
  auto len_in = [n](std::size_t lo, std::size_t hi) { return n >= lo && n <= hi; };
  if (p1 == 4) return n == 13 || n == 16 || n == 19;                              // Visa
  if (p2 >= 51 && p2 <= 55) return n == 16;                                       // Mastercard
  if (p4 >= 2221 && p4 <= 2720) return n == 16;                                   // Mastercard
  if (p4 >= 2200 && p4 <= 2204) return len_in(16, 19);                            // Mir
  if (p2 == 34 || p2 == 37) return n == 15;                                       // Amex
  if (p4 == 6011 || (p3 >= 644 && p3 <= 649) || p2 == 65) return len_in(16, 19);  // Discover
  if (p4 >= 3528 && p4 <= 3589) return len_in(16, 19);                            // JCB
  if ((p3 >= 300 && p3 <= 305) || p4 == 3095 || p2 == 36 || p2 == 38 || p2 == 39) {
    return len_in(14, 19);  // Diners Club
  }
  if (p2 == 62) return len_in(16, 19);                            // UnionPay
  if (p2 == 50 || (p2 >= 56 && p2 <= 69)) return len_in(12, 19);  // Maestro
  return false;
}

// ISO 13616 IBAN lengths by country.
int iban_length(char a, char b) {
  struct Entry {
    char cc[3];
    int len;
  };
  static constexpr Entry kTable[] = {
      {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16},
      {"BG", 22}, {"BH", 22}, {"BI", 27}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22},
      {"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DJ", 27}, {"DK", 18}, {"DO", 28}, {"EE", 20},
      {"EG", 29}, {"ES", 24}, {"FI", 18}, {"FK", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22},
      {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27}, {"GT", 28}, {"HR", 21}, {"HU", 28},
      {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26}, {"IT", 27}, {"JO", 30}, {"KW", 30},
      {"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20}, {"LU", 20}, {"LV", 21},
      {"LY", 25}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MN", 20}, {"MR", 27},
      {"MT", 31}, {"MU", 30}, {"NI", 28}, {"NL", 18}, {"NO", 15}, {"OM", 23}, {"PK", 24},
      {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"RU", 33},
      {"SA", 24}, {"SC", 31}, {"SD", 18}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27},
      {"SO", 23}, {"ST", 25}, {"SV", 28}, {"TL", 23}, {"TN", 24}, {"TR", 26}, {"UA", 29},
      {"VA", 22}, {"VG", 24}, {"XK", 20}, {"YE", 30},
  };
  a = to_upper(a);
  b = to_upper(b);
  for (const auto& e : kTable) {
    if (e.cc[0] == a && e.cc[1] == b) return e.len;
  }
  return 0;
}

// `chars` is the IBAN without spaces, in one letter case. Every national
// format has at least eight digits in a row in its BBAN; requiring them keeps
// random alphanumeric identifiers out.
bool iban_ok(std::string_view chars) {
  if (chars.size() < 15) return false;
  std::size_t run = 0, best_run = 0;
  for (char c : chars) {
    run = is_digit(c) ? run + 1 : 0;
    best_run = std::max(best_run, run);
  }
  if (best_run < 8) return false;
  bool upper = false, lower = false;
  for (char c : chars) {
    if (c >= 'A' && c <= 'Z') upper = true;
    if (c >= 'a' && c <= 'z') lower = true;
  }
  if (upper && lower) return false;
  if (!in(kAlpha, chars[0]) || !in(kAlpha, chars[1]) || !is_digit(chars[2]) ||
      !is_digit(chars[3])) {
    return false;
  }
  int rem = 0;
  auto feed = [&rem](char c) {
    if (is_digit(c)) {
      rem = (rem * 10 + (c - '0')) % 97;
    } else {
      const int v = to_upper(c) - 'A' + 10;
      rem = (rem * 100 + v) % 97;
    }
  };
  for (std::size_t i = 4; i < chars.size(); ++i) feed(chars[i]);
  for (std::size_t i = 0; i < 4; ++i) feed(chars[i]);
  return rem == 1;
}

// ---------------------------------------------------------------------------
// Digit groups of a [0-9 -] or phone region.

struct Group {
  std::size_t b, e;  // digits [b, e)
};

// The digit runs of region [rb, re) in order.
void digit_groups(std::string_view t, std::size_t rb, std::size_t re, std::vector<Group>& g) {
  g.clear();
  std::size_t i = rb;
  while (i < re) {
    if (!is_digit(t[i])) {
      ++i;
      continue;
    }
    const std::size_t b = i;
    while (i < re && is_digit(t[i])) ++i;
    g.push_back({b, i});
  }
}

// Keeps per-thread buffers small after an unusually large region.
void release_if_large(std::vector<Group>& g) {
  if (g.capacity() > 4096) std::vector<Group>().swap(g);
}

// The single separator between groups a and b, or NUL if not exactly one char.
char single_sep(std::string_view t, const Group& a, const Group& b) {
  return b.b == a.e + 1 ? t[a.e] : '\0';
}

// ---------------------------------------------------------------------------
// Region extractors.

// True when the local part starting at q is the user (or password) of a URL
// ("scheme://user@host", "scheme://user:password@host"): not an address.
bool is_url_userinfo(std::string_view t, std::size_t q) {
  std::size_t i = q;
  if (before(t, i) == ':') {
    --i;
    while (i > 0 && in(kEmailLocal, t[i - 1]) && q - i < 256) --i;
  }
  return i >= 2 && t[i - 1] == '/' && t[i - 2] == '/';
}

void extract_email(std::string_view t, std::size_t rb, std::size_t re, Sink& s) {
  for (std::size_t p = rb; p < re && !s.done(); ++p) {
    if (t[p] != '@') continue;
    // Local part: the run of local characters before '@' (at most 64).
    std::size_t q = p;
    while (q > rb && in(kEmailLocal, t[q - 1]) && p - q <= 64) --q;
    if (p - q > 64) continue;
    while (q < p && t[q] == '.') ++q;  // leading dots are punctuation
    if (q == p || t[p - 1] == '.') continue;
    if (is_url_userinfo(t, q)) continue;
    bool double_dot = false;
    for (std::size_t i = q + 1; i < p; ++i) double_dot |= (t[i] == '.' && t[i - 1] == '.');
    if (double_dot) continue;
    // Domain: the longest prefix of valid labels whose last label is a TLD.
    const std::size_t de = run_end(t, p + 1, kDomainChar, std::min(re, p + 1 + 255));
    std::size_t label_b = p + 1, best = 0;
    int labels = 0;
    while (label_b < de) {
      const std::size_t label_e = run_end(t, label_b, kLabelChar, de);
      const std::size_t len = label_e - label_b;
      if (len == 0 || len > 63 || t[label_b] == '-' || t[label_e - 1] == '-') break;
      ++labels;
      if (labels >= 2 && len >= 2 && len <= 24) {
        bool letters = true;
        for (std::size_t i = label_b; i < label_e; ++i) letters &= in(kAlpha, t[i]);
        if (letters) best = label_e;
      }
      if (label_e >= de || t[label_e] != '.') break;
      label_b = label_e + 1;
    }
    if (best != 0) s.add(q, best, Detector::kEmail);
  }
}

// Printed groupings: 4-4-4-4(-3), 4-4-4-1, 4-4-5 and the 4-6-5 / 4-6-4 of
// Amex and Diners; anything else joined by separators is some other number.
bool card_grouping_ok(const std::vector<Group>& g, std::size_t i, std::size_t j) {
  auto len = [&g](std::size_t k) { return g[k].e - g[k].b; };
  if (i == j) return true;
  if (len(i) != 4) return false;
  if (j == i + 2 && len(i + 1) == 6 && (len(j) == 4 || len(j) == 5)) return true;
  for (std::size_t k = i + 1; k < j; ++k) {
    if (len(k) != 4) return false;
  }
  return len(j) >= 1 && len(j) <= 5;
}

void extract_card(std::string_view t, std::size_t rb, std::size_t re, Sink& s) {
  thread_local std::vector<Group> g;
  digit_groups(t, rb, re, g);
  std::string digits;
  for (std::size_t i = 0; i < g.size() && !s.done(); ++i) {
    const std::size_t b = g[i].b;
    if (b == rb && in(kAlpha, before(t, rb))) continue;
    // "ref-4111…" and "…-a16e" are parts of identifiers.
    if (before(t, b) == '-' && b >= 2 && is_alnum(t[b - 2])) continue;
    std::size_t total = 0, best_end = 0;
    char sep = '\0';
    digits.clear();
    for (std::size_t j = i; j < g.size(); ++j) {
      if (j > i) {
        const char c = single_sep(t, g[j - 1], g[j]);
        if (c == '\0' || (sep != '\0' && c != sep)) break;
        sep = c;
      }
      total += g[j].e - g[j].b;
      if (total > 19) break;
      digits.append(t.substr(g[j].b, g[j].e - g[j].b));
      if (total < 13) continue;
      const std::size_t e = g[j].e;
      if (e == re && in(kAlpha, at(t, re))) continue;
      if (at(t, e) == '-' && is_alnum(at(t, e + 1))) continue;
      if (card_grouping_ok(g, i, j) && issuer_ok(digits) && luhn_ok(digits)) best_end = e;
    }
    if (best_end != 0) s.add(b, best_end, Detector::kCreditCard);
  }
  release_if_large(g);
}

void extract_ssn(std::string_view t, std::size_t rb, std::size_t re, Sink& s) {
  thread_local std::vector<Group> g;
  digit_groups(t, rb, re, g);
  for (std::size_t i = 0; i + 2 < g.size() && !s.done(); ++i) {
    const Group &a = g[i], &b = g[i + 1], &c = g[i + 2];
    if (a.e - a.b != 3 || b.e - b.b != 2 || c.e - c.b != 4) continue;
    const char sep = single_sep(t, a, b);
    if (sep == '\0' || single_sep(t, b, c) != sep) continue;
    // Not part of a longer chain of groups joined by the same separator.
    if (a.b == rb ? in(kAlpha, before(t, rb))
                  : (before(t, a.b) == sep && i > 0 && g[i - 1].e + 1 == a.b)) {
      continue;
    }
    if (c.e == re ? in(kAlpha, at(t, re))
                  : (at(t, c.e) == sep && i + 3 < g.size() && g[i + 3].b == c.e + 1)) {
      continue;
    }
    const int area = prefix_num(t.substr(a.b, 3), 3);
    const int group = prefix_num(t.substr(b.b, 2), 2);
    const int serial = prefix_num(t.substr(c.b, 4), 4);
    if (area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0) continue;
    s.add(a.b, c.e, Detector::kUsSsn);
  }
  release_if_large(g);
}

// Phones ------------------------------------------------------------------

bool is_phone_sep(char c) {
  return c == ' ' || c == '.' || c == '-';
}
// Characters that, between two alphanumerics, make a number part of a
// longer token (dates, versions, order numbers, addresses).
bool is_chain_char(char c) {
  return c == '.' || c == '-' || c == ':' || c == '/' || c == '_';
}

bool phone_start_ok(std::string_view t, std::size_t s) {
  const char p = before(t, s);
  if (is_alnum(p)) return false;
  if (is_chain_char(p) && s >= 2 && is_alnum(t[s - 2])) return false;
  return true;
}

bool phone_end_ok(std::string_view t, std::size_t e) {
  const char n = at(t, e);
  if (is_alnum(n)) return false;
  if (is_chain_char(n) && is_alnum(at(t, e + 1))) return false;
  return true;
}

// The length of the digit run at i, capped at 20 (longer runs are never valid).
std::size_t digit_run(std::string_view t, std::size_t i) {
  return run_end(t, i, kDigit, i + 20) - i;
}

// "+<cc> …": returns the end or 0.
std::size_t parse_intl(std::string_view t, std::size_t s) {
  if (at(t, s) != '+' || at(t, s + 1) < '1' || at(t, s + 1) > '9') return 0;
  std::size_t i = s + 1, digits = 0, best = 0;
  bool used_paren = false;
  while (true) {
    bool paren = false;
    if (at(t, i) == '(' && !used_paren) {
      paren = used_paren = true;
      ++i;
    }
    const std::size_t n = digit_run(t, i);
    if (n == 0) break;
    if (digits + n > 15) break;
    digits += n;
    i += n;
    if (paren) {
      if (at(t, i) != ')') break;
      ++i;
    }
    if (digits >= 7) best = i;
    // The separator to the next group: one of " .-", optionally with '('.
    std::size_t j = i;
    if (is_phone_sep(at(t, j))) ++j;
    if (j == i && at(t, j) != '(' && !paren) break;
    if (!is_digit(at(t, j)) && !(at(t, j) == '(' && !used_paren)) break;
    i = j;
  }
  return best;
}

// NANP "(555) 123-4567", "555-123-4567", "555.123.4567", optional "1-".
std::size_t parse_nanp(std::string_view t, std::size_t s) {
  std::size_t i = s;
  char prefix_sep = '\0';
  if (at(t, i) == '1' && is_phone_sep(at(t, i + 1)) &&
      (at(t, i + 2) == '(' || is_digit(at(t, i + 2)))) {
    prefix_sep = t[i + 1];
    i += 2;
  }
  bool paren = false;
  if (at(t, i) == '(') {
    paren = true;
    ++i;
  }
  if (digit_run(t, i) != 3 || t[i] < '2') return 0;
  i += 3;
  char sep = '\0';
  if (paren) {
    if (at(t, i) != ')') return 0;
    ++i;
    if (at(t, i) == ' ') ++i;
    if (prefix_sep != '\0' && prefix_sep != ' ') return 0;
  } else {
    sep = at(t, i);
    if (sep != '-' && sep != '.') return 0;
    if (prefix_sep != '\0' && prefix_sep != sep) return 0;
    ++i;
  }
  if (digit_run(t, i) != 3) return 0;
  i += 3;
  const char sep2 = at(t, i);
  if (paren ? !is_phone_sep(sep2) : sep2 != sep) return 0;
  ++i;
  if (digit_run(t, i) != 4) return 0;
  return i + 4;
}

// Trunk-prefixed national "020 7946 0958", "06-12345678", "(030) 1234 5678".
std::size_t parse_trunk(std::string_view t, std::size_t s) {
  std::size_t i = s;
  bool paren = false;
  if (at(t, i) == '(') {
    paren = true;
    ++i;
  }
  const std::size_t n0 = digit_run(t, i);
  if (n0 < 2 || n0 > 5 || t[i] != '0' || t[i + 1] == '0') return 0;
  i += n0;
  std::size_t digits = n0, best = 0;
  char sep = '\0';
  if (paren) {
    if (at(t, i) != ')') return 0;
    ++i;
    sep = ' ';
    if (at(t, i) == ' ') ++i;
  } else {
    sep = at(t, i);
    if (!is_phone_sep(sep)) return 0;
    ++i;
  }
  while (true) {
    const std::size_t n = digit_run(t, i);
    if (n < 2 || digits + n > 11) break;
    digits += n;
    i += n;
    if (digits >= 9) best = i;
    if (at(t, i) != sep || !is_digit(at(t, i + 1))) break;
    ++i;
  }
  // Space-grouped: not a slice of a longer run of digit groups.
  if (best != 0 && sep == ' ' &&
      ((before(t, s) == ' ' && s >= 2 && is_digit(t[s - 2])) ||
       (at(t, best) == ' ' && is_digit(at(t, best + 1))))) {
    return 0;
  }
  return best;
}

void extract_phone(std::string_view t, std::size_t rb, std::size_t re, Sink& s) {
  for (std::size_t p = rb; p < re && !s.done(); ++p) {
    const char c = t[p];
    if (c == '+') {
      if (is_alnum(before(t, p))) continue;  // "tel:+49…" is fine, "3+49…" is not
    } else if (c != '(' && !(is_digit(c) && !is_digit(before(t, p)))) {
      continue;
    } else if (!phone_start_ok(t, p)) {
      continue;
    }
    std::size_t end = std::max({parse_intl(t, p), parse_nanp(t, p), parse_trunk(t, p)});
    if (end != 0 && phone_end_ok(t, end)) s.add(p, end, Detector::kPhone);
  }
}

void extract_iban(std::string_view t, std::size_t rb, std::size_t re, Sink& s) {
  std::string chars;
  for (std::size_t p = rb; p + 4 <= re && !s.done(); ++p) {
    if (!in(kAlpha, t[p]) || is_alnum(before(t, p))) continue;
    if (!in(kAlpha, t[p + 1]) || !is_digit(t[p + 2]) || !is_digit(t[p + 3])) continue;
    const std::size_t len = static_cast<std::size_t>(iban_length(t[p], t[p + 1]));
    if (len == 0) continue;
    const std::size_t first = run_end(t, p, kAlnum, std::min(re, p + 35)) - p;
    std::size_t end = 0;
    if (first == len) {
      end = p + len;
      chars.assign(t.substr(p, len));
    } else if (first == 4) {
      // Groups of four separated by single spaces, the last one shorter.
      chars.assign(t.substr(p, 4));
      std::size_t i = p + 4;
      while (chars.size() < len && at(t, i) == ' ') {
        const std::size_t n = run_end(t, i + 1, kAlnum, re) - (i + 1);
        if (n == 0 || n > 4 || chars.size() + n > len) break;
        chars.append(t.substr(i + 1, n));
        i += 1 + n;
        if (n < 4) break;
      }
      if (chars.size() == len) end = i;
    }
    if (end != 0 && !is_alnum(at(t, end)) && iban_ok(chars)) {
      s.add(p, end, Detector::kIban);
      p = end - 1;
    }
  }
}

void extract_ipv4(std::string_view t, std::size_t rb, std::size_t re, Sink& s) {
  for (std::size_t p = rb; p < re && !s.done(); ++p) {
    if (!is_digit(t[p]) || is_digit(before(t, p))) continue;
    if (p == rb) {
      if (is_alnum(before(t, p))) continue;
    } else if (p - rb >= 2) {
      continue;  // preceded by "<digit>." or "..": part of a longer dotted token
    } else if (is_alnum(before(t, rb))) {
      continue;  // ".1.2.3.4" after a word character
    }
    std::size_t i = p;
    bool ok = true;
    for (int octet = 0; octet < 4 && ok; ++octet) {
      if (octet > 0) {
        if (at(t, i) != '.') {
          ok = false;
          break;
        }
        ++i;
      }
      const std::size_t n = digit_run(t, i);
      if (n == 0 || n > 3 || (n > 1 && t[i] == '0') || prefix_num(t.substr(i, n), n) > 255) {
        ok = false;
        break;
      }
      i += n;
    }
    if (!ok) continue;
    if (is_alnum(at(t, i)) || (at(t, i) == '.' && is_digit(at(t, i + 1)))) continue;
    s.add(p, i, Detector::kIpAddress);
  }
}

void extract_ipv6(std::string_view t, std::size_t rb, std::size_t re, Sink& s) {
  std::size_t b = rb, e = re;
  bool trimmed_front = false;
  if (e - b >= 2 && t[b] == ':' && t[b + 1] != ':') {
    ++b;
    trimmed_front = true;
  }
  while (e > b && t[e - 1] == '.') --e;
  if (e - b >= 2 && t[e - 1] == ':' && t[e - 2] != ':') --e;
  if (e - b < 3 || e - b > 45) return;
  if (!trimmed_front) {
    const char p = before(t, rb);
    if (is_alnum(p) || p == '_') return;
  }
  const char n = at(t, re);
  if (is_alnum(n) || n == '_') return;
  bool digit = false;
  for (std::size_t i = b; i < e; ++i) digit |= is_digit(t[i]);
  if (!digit) return;
  char buf[64];
  std::memcpy(buf, t.data() + b, e - b);
  buf[e - b] = '\0';
  unsigned char addr[16];
  if (inet_pton(AF_INET6, buf, addr) == 1) s.add(b, e, Detector::kIpAddress);
}

void extract_jwt(std::string_view t, std::size_t rb, std::size_t re, Sink& s) {
  for (std::size_t p = rb; p + 3 <= re && !s.done(); ++p) {
    if (t.compare(p, 3, "eyJ") != 0 || in(kB64Url, before(t, p))) continue;
    const std::size_t e1 = run_end(t, p, kB64Url, re);
    if (e1 - p < 10 || at(t, e1) != '.' || e1 + 1 >= re) continue;
    const std::size_t p2 = e1 + 1;
    if (t.compare(p2, 3, "eyJ") != 0) continue;
    const std::size_t e2 = run_end(t, p2, kB64Url, re);
    if (e2 - p2 < 10 || e2 >= re || t[e2] != '.') continue;
    std::size_t end = run_end(t, e2 + 1, kB64Url, re);
    // Encrypted tokens have five segments; take all of them.
    for (int seg = 3;
         seg < 5 && end < re && t[end] == '.' && end + 1 < re && in(kB64Url, t[end + 1]); ++seg) {
      end = run_end(t, end + 1, kB64Url, re);
    }
    s.add(p, end, Detector::kJwt);
    p = end - 1;
  }
}

void extract_aws(std::string_view t, std::size_t rb, std::size_t re, Sink& s) {
  if (re - rb != 20) return;
  static constexpr std::string_view kPrefixes[] = {"AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA",
                                                   "AIPA", "ANPA", "ANVA", "APKA", "AROA", "ASCA"};
  const std::string_view v = t.substr(rb, 20);
  if (std::none_of(std::begin(kPrefixes), std::end(kPrefixes),
                   [v](std::string_view p) { return v.substr(0, 4) == p; })) {
    return;
  }
  for (char c : v.substr(4)) {
    if (!((c >= 'A' && c <= 'Z') || is_digit(c))) return;
  }
  s.add(rb, re, Detector::kAwsAccessKey);
}

// ---------------------------------------------------------------------------
// Match extractors (given the end of a pattern match).

constexpr std::string_view kPemBegin = "-----BEGIN ";
constexpr std::string_view kPemEnd = "-----END ";
constexpr std::string_view kPemTail = "PRIVATE KEY-----";

// The first END line at or after `from`: [begin, end), or npos.
std::pair<std::size_t, std::size_t> find_pem_end(std::string_view t, std::size_t from,
                                                 ScanMemo& m) {
  if (m.pem_from != std::string_view::npos && m.pem_from <= from &&
      (m.pem_end_begin == std::string_view::npos || m.pem_end_begin >= from)) {
    return {m.pem_end_begin, m.pem_end_end};
  }
  std::size_t pos = from;
  std::pair<std::size_t, std::size_t> r{std::string_view::npos, 0};
  while ((pos = t.find(kPemEnd, pos)) != std::string_view::npos) {
    std::size_t i = pos + kPemEnd.size();
    const std::size_t limit = i + 41;
    while (i < t.size() && i < limit && (in(kAlnum, t[i]) || t[i] == ' ') &&
           t.compare(i, kPemTail.size(), kPemTail) != 0) {
      ++i;
    }
    if (t.compare(i, kPemTail.size(), kPemTail) == 0) {
      r = {pos, i + kPemTail.size()};
      break;
    }
    pos += kPemEnd.size();
  }
  m.pem_from = from;
  m.pem_end_begin = r.first;
  m.pem_end_end = r.second;
  return r;
}

void extract_private_key(std::string_view t, std::size_t end, Sink& s, ScanMemo& m) {
  const std::size_t lo = end >= 80 ? end - 80 : 0;
  const std::size_t b = t.substr(0, end).rfind(kPemBegin);
  if (b == std::string_view::npos || b < lo) return;
  const auto [eb, ee] = find_pem_end(t, end, m);
  s.add(b, eb == std::string_view::npos ? t.size() : ee, Detector::kPrivateKey);
}

// Well-known token formats: a fixed-width pattern of `width` bytes whose
// body from `body` on extends over `body_class`.
struct TokenRule {
  std::size_t width;
  std::size_t finding_offset;  // where the finding starts inside the match
  const CharClass* body_class;
  const CharClass* boundary;  // the character before must not be in it
  bool needs_digit;
};

void extract_token(const TokenRule& r, std::string_view t, std::size_t end, Sink& s) {
  if (end < r.width) return;
  const std::size_t start = end - r.width;
  if (in(*r.boundary, before(t, start))) return;
  const std::size_t e = run_end(t, end, *r.body_class);
  const std::size_t b = start + r.finding_offset;
  if (r.needs_digit && std::none_of(t.begin() + static_cast<std::ptrdiff_t>(b),
                                    t.begin() + static_cast<std::ptrdiff_t>(e), is_digit)) {
    return;
  }
  s.add(b, e, Detector::kGenericSecret);
}

// The longest assignment value taken (longer ones are masked up to here).
constexpr std::size_t kMaxValue = 4096;

bool key_name_ok(std::string_view ident) {
  static constexpr std::string_view kKeys[] = {
      "password",  "passwd",       "pwd",          "secret",      "api_key",    "apikey",
      "api-key",   "access_key",   "access-key",   "accesskey",   "secret_key", "secret-key",
      "secretkey", "access_token", "access-token", "accesstoken", "auth_token", "auth-token",
      "authtoken", "token",        "private_key",  "private-key", "privatekey",
  };
  std::string lower(ident.size(), '\0');
  std::transform(ident.begin(), ident.end(), lower.begin(), to_lower);
  const std::string_view l = lower;
  for (std::string_view k : kKeys) {
    if (l.size() < k.size() || l.substr(l.size() - k.size()) != k) continue;
    const std::size_t at_pos = l.size() - k.size();
    if (at_pos == 0 || l[at_pos - 1] == '_' || l[at_pos - 1] == '-' || l[at_pos - 1] == '.') {
      return true;
    }
  }
  return false;
}

// `key = value` style assignments; the finding is the value. The pattern
// only locates a key-like word before ':' or '=' (it says "passw…" rather
// than "password|passwd", which Hyperscan matches much faster); the key name
// is checked here.
void extract_assignment(std::string_view t, std::size_t end, Sink& s, ScanMemo& m) {
  if (end == 0) return;
  // Back over the separator, blanks and an optional closing quote of the key.
  std::size_t k = end - 1;
  while (k > 0 && (t[k - 1] == ' ' || t[k - 1] == '\t')) --k;
  if (k > 0 && (t[k - 1] == '"' || t[k - 1] == '\'')) --k;
  std::size_t kb = k;
  while (kb > 0 && in(kIdentChar, t[kb - 1]) && k - kb < 128) --kb;
  if (kb == k || !key_name_ok(t.substr(kb, k - kb))) return;
  // The value.
  std::size_t v = end;
  while (v < t.size() && (t[v] == ' ' || t[v] == '\t')) ++v;
  std::size_t vb = v, ve = v;
  const char q = at(t, v);
  const std::size_t limit = std::min(t.size(), v + 1 + kMaxValue);
  if (q == '"' || q == '\'') {
    vb = ve = v + 1;
    while (ve < limit && t[ve] != q && t[ve] != '\n' && t[ve] != '\r') {
      ve += (t[ve] == '\\' && ve + 1 < limit && t[ve + 1] != '\n') ? 2 : 1;
    }
    ve = std::min(ve, limit);
  } else {
    auto stops = [](char c) {
      return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' ||
             c == '"' || c == '\'' || c == ',' || c == ';' || c == '&';
    };
    if (m.value_from == std::string_view::npos || v < m.value_from || v > m.value_stop) {
      std::size_t stop = v;
      while (stop < t.size() && !stops(t[stop])) ++stop;
      m.value_from = v;
      m.value_stop = stop;
    }
    ve = std::min(m.value_stop, v + kMaxValue);
  }
  if (ve - vb < 6) return;
  if (std::all_of(t.begin() + static_cast<std::ptrdiff_t>(vb),
                  t.begin() + static_cast<std::ptrdiff_t>(ve), [](char c) { return c == '*'; })) {
    return;
  }
  s.add(vb, ve, Detector::kGenericSecret);
}

// scheme://user:password@host: the finding is the password.
void extract_url_password(std::string_view t, std::size_t end, Sink& s) {
  if (end < 4 || !in(kSchemeChar, t[end - 4])) return;
  std::size_t i = end, at_pos = std::string_view::npos, colon = std::string_view::npos;
  const std::size_t limit = std::min(t.size(), end + 512);
  for (; i < limit; ++i) {
    const char c = t[i];
    if (c == '/' || c == '?' || c == '#' || c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
        c == '"' || c == '\'' || c == '<' || c == '>' || c == ',' || c == ';') {
      break;
    }
    if (c == '@') at_pos = i;
    if (c == ':' && colon == std::string_view::npos) colon = i;
  }
  if (at_pos == std::string_view::npos || colon == std::string_view::npos || colon > at_pos) {
    return;
  }
  s.add(colon + 1, at_pos, Detector::kGenericSecret);
}

// ---------------------------------------------------------------------------
// The rule table.

using RegionFn = void (*)(std::string_view, std::size_t, std::size_t, Sink&);

// Rules the Hyperscan engine locates with the digit-chain pass.
enum ChainBit : unsigned {
  kChainCard = 1,
  kChainSsn = 2,
  kChainPhone = 4,
  kChainIban = 8,
  kChainIpv4 = 16,
  kChainIpv6 = 32,  // full-form addresses (compressed ones contain "::")
};
using MatchFn = void (*)(std::string_view, std::size_t, Sink&, ScanMemo&);

struct Rule {
  Detector detector;
  const char* pattern;
  bool caseless;
  const CharClass* region;  // region rules
  RegionFn region_fn;
  MatchFn match_fn;  // match rules
  // A string every match contains (case-sensitive), if any: the portable
  // engine skips the rule when the text lacks it.
  const char* required = nullptr;
  // The Hyperscan engine's trigger when it differs from `pattern`; "" when
  // that engine has none and relies on the digit-chain pass alone.
  const char* hs_pattern = nullptr;
  // The digit-chain pass bit that locates this rule in the Hyperscan engine.
  unsigned chain = 0;
};

template <const TokenRule& R>
void token_fn(std::string_view t, std::size_t end, Sink& s, ScanMemo&) {
  extract_token(R, t, end, s);
}
void assignment_fn(std::string_view t, std::size_t end, Sink& s, ScanMemo& m) {
  extract_assignment(t, end, s, m);
}
void url_fn(std::string_view t, std::size_t end, Sink& s, ScanMemo&) {
  extract_url_password(t, end, s);
}

constexpr TokenRule kGithub{40, 0, &kAlnum, &kTokenBoundary, false};
constexpr TokenRule kGithubPat{33, 0, &kAlnumUnderscore, &kTokenBoundary, false};
constexpr TokenRule kSlack{15, 0, &kAlnumDash, &kTokenBoundary, false};
constexpr TokenRule kStripe{24, 0, &kAlnum, &kTokenBoundary, false};
constexpr TokenRule kOpenAi{23, 0, &kB64Url, &kTokenBoundary, true};
constexpr TokenRule kGoogle{39, 0, &kB64Url, &kTokenBoundary, false};
constexpr TokenRule kGitlab{26, 0, &kB64Url, &kTokenBoundary, false};
constexpr TokenRule kNpm{40, 0, &kAlnum, &kTokenBoundary, false};
constexpr TokenRule kSendgrid{69, 0, &kB64Url, &kTokenBoundary, false};
constexpr TokenRule kBearer{23, 7, &kBearerToken, &kBearerToken, false};

const std::vector<Rule>& rules() {
  static const std::vector<Rule> kRules = {
      {Detector::kEmail, R"([A-Za-z0-9._%+-]@[A-Za-z0-9-]+\.[A-Za-z0-9])", false, &kEmailRegion,
       extract_email, nullptr, "@"},
      {Detector::kCreditCard, R"([0-9](?:[ -]?[0-9]){12,18})", false, &kDigitSep, extract_card,
       nullptr, nullptr, "", kChainCard},
      {Detector::kUsSsn, R"([0-9]{3}[ -][0-9]{2}[ -][0-9]{4})", false, &kDigitSep, extract_ssn,
       nullptr, nullptr, "", kChainSsn},
      {Detector::kPhone,
       R"(\+[1-9](?:[ .()-]{0,2}[0-9]){6,14}|\(?[2-9][0-9]{2}\)?[ .-]?[0-9]{3}[ .-][0-9]{4}|0[1-9][0-9]{0,3}(?:\)[ .-]?|[ .-])[0-9]{2})",
       false, &kPhoneRegion, extract_phone, nullptr, nullptr,
       R"(\+[1-9](?:[ .()-]{0,2}[0-9]){6,14})", kChainPhone},
      {Detector::kIban, R"([A-Za-z]{2}[0-9]{2} ?[A-Za-z0-9]{4})", false, &kIbanRegion, extract_iban,
       nullptr, nullptr, "", kChainIban},
      {Detector::kIpAddress, R"([0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})", false,
       &kIpv4Region, extract_ipv4, nullptr, ".", "", kChainIpv4},
      {Detector::kIpAddress, R"(:[0-9A-Fa-f]{0,4}:)", false, &kIpv6Region, extract_ipv6, nullptr,
       ":", "::", kChainIpv6},
      {Detector::kJwt, R"(eyJ[A-Za-z0-9_-]{7})", false, &kJwtRegion, extract_jwt, nullptr, "eyJ"},
      {Detector::kAwsAccessKey,
       R"((?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)[A-Z0-9]{16})", false,
       &kAlnum, extract_aws, nullptr},
      {Detector::kPrivateKey, R"(-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----)", false, nullptr,
       nullptr, extract_private_key, "-----BEGIN "},
      {Detector::kGenericSecret, R"(gh[pousr]_[A-Za-z0-9]{36})", false, nullptr, nullptr,
       token_fn<kGithub>, "gh"},
      {Detector::kGenericSecret, R"(github_pat_[A-Za-z0-9_]{22})", false, nullptr, nullptr,
       token_fn<kGithubPat>, "github_pat_"},
      {Detector::kGenericSecret, R"(xox[bpars]-[A-Za-z0-9-]{10})", false, nullptr, nullptr,
       token_fn<kSlack>, "xox"},
      {Detector::kGenericSecret, R"((?:[sr]k_live|sk_test)_[A-Za-z0-9]{16})", false, nullptr,
       nullptr, token_fn<kStripe>, "k_"},
      {Detector::kGenericSecret, R"(sk-[A-Za-z0-9_-]{20})", false, nullptr, nullptr,
       token_fn<kOpenAi>, "sk-"},
      {Detector::kGenericSecret, R"(AIza[A-Za-z0-9_-]{35})", false, nullptr, nullptr,
       token_fn<kGoogle>, "AIza"},
      {Detector::kGenericSecret, R"(glpat-[A-Za-z0-9_-]{20})", false, nullptr, nullptr,
       token_fn<kGitlab>, "glpat-"},
      {Detector::kGenericSecret, R"(npm_[A-Za-z0-9]{36})", false, nullptr, nullptr, token_fn<kNpm>,
       "npm_"},
      {Detector::kGenericSecret, R"(SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43})", false, nullptr,
       nullptr, token_fn<kSendgrid>, "SG."},
      {Detector::kGenericSecret, R"(bearer [A-Za-z0-9._~+/=-]{16})", true, nullptr, nullptr,
       token_fn<kBearer>},
      {Detector::kGenericSecret,
       R"((?:passw[a-z]{0,3}|pwd|secret|api[_-]?key|access[_-]?key|secret[_-]?key|access[_-]?token|auth[_-]?token|token|private[_-]?key)["']?[ \t]*[:=])",
       true, nullptr, nullptr, assignment_fn},
      {Detector::kGenericSecret, R"(://)", false, nullptr, nullptr, url_fn, "://"},
  };
  return kRules;
}

std::vector<std::size_t> rules_for(DetectorSet set) {
  std::vector<std::size_t> r;
  const auto& all = rules();
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (set.test(static_cast<std::size_t>(all[i].detector))) r.push_back(i);
  }
  return r;
}

// The maximal run of `c` around position p (which is inside it).
std::pair<std::size_t, std::size_t> region_at(std::string_view t, std::size_t p,
                                              const CharClass& c) {
  std::size_t b = p;
  while (b > 0 && in(c, t[b - 1])) --b;
  return {b, run_end(t, p, c)};
}

// Sorts, removes duplicates and overlaps (earliest first, then longest, then
// the lower detector), and appends the result to `out`.
void resolve(std::vector<Finding>& f, std::vector<Finding>& out) {
  std::sort(f.begin(), f.end(), [](const Finding& a, const Finding& b) {
    if (a.begin != b.begin) return a.begin < b.begin;
    if (a.end != b.end) return a.end > b.end;
    return a.detector < b.detector;
  });
  std::size_t last_end = 0;
  bool any = false;
  for (const Finding& x : f) {
    if (any && x.begin < last_end) continue;
    out.push_back(x);
    last_end = x.end;
    any = true;
  }
}

// ---------------------------------------------------------------------------
// Portable engine.

class PortableScanner final : public Scanner {
 public:
  static Expected<std::unique_ptr<PortableScanner>, std::string> make(DetectorSet set) {
    auto s = std::unique_ptr<PortableScanner>(new PortableScanner(set));
    try {
      for (std::size_t idx : rules_for(set)) {
        const Rule& r = rules()[idx];
        boost::regex re;
        re.imbue(std::locale::classic());
        boost::regex::flag_type flags = boost::regex::perl;
        if (r.caseless) flags = flags | boost::regex::icase;
        re.assign(r.pattern, flags);
        s->compiled_.push_back({idx, std::move(re)});
      }
    } catch (const std::exception& e) {
      return unexpected(std::string("masking: pattern compilation failed: ") + e.what());
    }
    return s;
  }

  void scan(std::string_view text, std::vector<Finding>& out) const override {
    Sink sink;
    run(text, sink);
    if (!sink.found.empty()) resolve(sink.found, out);
  }

  bool any(std::string_view text) const override {
    Sink sink;
    sink.stop_at_first = true;
    run(text, sink);
    return !sink.found.empty();
  }

  std::string_view engine_name() const override { return "portable"; }

  void run(std::string_view text, Sink& sink) const {
    const char* const base = text.data();
    const char* const stop = base + text.size();
    for (const auto& [idx, re] : compiled_) {
      const Rule& rule = rules()[idx];
      if (rule.required != nullptr && text.find(rule.required) == std::string_view::npos) {
        continue;
      }
      ScanMemo memo;
      std::size_t pos = 0;
      while (pos < text.size() && !sink.done()) {
        boost::cmatch m;
        bool hit = false;
        try {
          boost::match_flag_type flags = boost::match_default | boost::match_not_dot_newline;
          if (pos > 0) flags = flags | boost::match_prev_avail;
          hit = boost::regex_search(base + pos, stop, m, re, flags);
        } catch (const std::exception&) {
          hit = false;  // resource limits: nothing more from this rule
        }
        if (!hit) break;
        const std::size_t mb = static_cast<std::size_t>(m[0].first - base);
        const std::size_t me = static_cast<std::size_t>(m[0].second - base);
        if (me <= mb) {
          pos = mb + 1;
          continue;
        }
        if (rule.region != nullptr) {
          const auto [rb, re_] = region_at(text, mb, *rule.region);
          rule.region_fn(text, rb, re_, sink);
          pos = std::max(re_, me);
        } else {
          rule.match_fn(text, me, sink, memo);
          pos = me;
        }
      }
      if (sink.done()) return;
    }
  }

 private:
  explicit PortableScanner(DetectorSet d) : Scanner(d) {}
  struct Compiled {
    std::size_t rule;
    boost::regex re;
  };
  std::vector<Compiled> compiled_;
};

// ---------------------------------------------------------------------------
// Hyperscan engine.

#ifdef GH_HAVE_HYPERSCAN

std::atomic<std::uint64_t> g_next_scanner_id{1};

// One scratch per thread, grown for every database it has been used with.
struct ThreadScratch {
  hs_scratch_t* scratch = nullptr;
  std::vector<std::uint64_t> sized_for;
  ThreadScratch() = default;
  ThreadScratch(const ThreadScratch&) = delete;
  ThreadScratch& operator=(const ThreadScratch&) = delete;
  ~ThreadScratch() {
    if (scratch != nullptr) hs_free_scratch(scratch);
  }
};

// This thread's scratch, large enough for the database of scanner `id`.
hs_scratch_t* scratch_for(std::uint64_t id, const hs_database_t* db) {
  thread_local ThreadScratch tls;
  if (std::find(tls.sized_for.begin(), tls.sized_for.end(), id) != tls.sized_for.end()) {
    return tls.scratch;
  }
  if (hs_alloc_scratch(db, &tls.scratch) != HS_SUCCESS) return nullptr;
  if (tls.sized_for.size() >= 256) tls.sized_for.clear();
  tls.sized_for.push_back(id);
  return tls.scratch;
}

// ---------------------------------------------------------------------------
// The digit-chain pass.
//
// Digit-led rules (cards, SSNs, national phone numbers, IBANs, IPv4) have no
// literal for Hyperscan to anchor on; on text full of timestamps and ids each
// would cost a full automaton pass. The Hyperscan engine locates them with
// one vectorised pass instead. A chain is a sequence of digit groups in which
// consecutive groups are separated by one or two of " ().-". Every value
// those rules accept lies in one chain of at least 7 bytes with 8 or more
// digits (IPv4: 3 or more dots); a check on the chain's group lengths
// (chain_rules) tells which rules could accept something in it, and only
// their extractors then examine the regions around the chain. Full-form IPv6 addresses (those
// without "::") are located the same way, as runs of 15 or more of [0-9A-Fa-f:.] with at least six
// colons. The portable engine locates the same rules with its patterns, and both engines produce
// the same findings because every extractor finding satisfies both.

constexpr CharClass kChainChar = make_class("0~9 ().-");

#if defined(__SSE2__)
inline __m128i digits16(__m128i v) {
  const __m128i d = _mm_sub_epi8(v, _mm_set1_epi8('0'));
  return _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d);
}
inline __m128i eq(__m128i v, char c) {
  return _mm_cmpeq_epi8(v, _mm_set1_epi8(c));
}

// Per 64 bytes at p: digits, digits-or-gap bytes, dots, and IPv6 bytes.
struct ChainMasks {
  std::uint64_t digit = 0, chain = 0, dot = 0, v6 = 0, colon = 0;
};

#if defined(__GNUC__) && defined(__x86_64__)
// The same masks, 32 bytes at a time, on CPUs that have AVX2.
__attribute__((target("avx2"))) ChainMasks chain_masks_avx2(const char* p) {
  ChainMasks m;
  for (int k = 0; k < 2; ++k) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32 * k));
    const __m256i dd = _mm256_sub_epi8(v, _mm256_set1_epi8('0'));
    const __m256i d = _mm256_cmpeq_epi8(_mm256_min_epu8(dd, _mm256_set1_epi8(9)), dd);
    const __m256i dot = _mm256_cmpeq_epi8(v, _mm256_set1_epi8('.'));
    const __m256i colon = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(':'));
    const __m256i gap = _mm256_or_si256(
        _mm256_or_si256(_mm256_cmpeq_epi8(v, _mm256_set1_epi8(' ')),
                        _mm256_cmpeq_epi8(v, _mm256_set1_epi8('-'))),
        _mm256_or_si256(_mm256_or_si256(dot, _mm256_cmpeq_epi8(v, _mm256_set1_epi8('('))),
                        _mm256_cmpeq_epi8(v, _mm256_set1_epi8(')'))));
    const __m256i l =
        _mm256_sub_epi8(_mm256_or_si256(v, _mm256_set1_epi8(0x20)), _mm256_set1_epi8('a'));
    const __m256i hex_letter = _mm256_cmpeq_epi8(_mm256_min_epu8(l, _mm256_set1_epi8(5)), l);
    const __m256i v6 = _mm256_or_si256(_mm256_or_si256(d, hex_letter), _mm256_or_si256(colon, dot));
    const int sh = 32 * k;
    m.digit |= static_cast<std::uint64_t>(static_cast<std::uint32_t>(_mm256_movemask_epi8(d)))
               << sh;
    m.chain |= static_cast<std::uint64_t>(
                   static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_or_si256(d, gap))))
               << sh;
    m.dot |= static_cast<std::uint64_t>(static_cast<std::uint32_t>(_mm256_movemask_epi8(dot)))
             << sh;
    m.v6 |= static_cast<std::uint64_t>(static_cast<std::uint32_t>(_mm256_movemask_epi8(v6))) << sh;
    m.colon |= static_cast<std::uint64_t>(static_cast<std::uint32_t>(_mm256_movemask_epi8(colon)))
               << sh;
  }
  return m;
}
#endif

ChainMasks chain_masks_sse2(const char* p) {
  ChainMasks m;
  for (int k = 0; k < 4; ++k) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * k));
    const __m128i d = digits16(v);
    const __m128i dot = eq(v, '.');
    const __m128i gap = _mm_or_si128(_mm_or_si128(eq(v, ' '), eq(v, '-')),
                                     _mm_or_si128(_mm_or_si128(dot, eq(v, '(')), eq(v, ')')));
    const __m128i l = _mm_sub_epi8(_mm_or_si128(v, _mm_set1_epi8(0x20)), _mm_set1_epi8('a'));
    const __m128i hex_letter = _mm_cmpeq_epi8(_mm_min_epu8(l, _mm_set1_epi8(5)), l);
    const __m128i v6 = _mm_or_si128(_mm_or_si128(d, hex_letter), _mm_or_si128(eq(v, ':'), dot));
    const int sh = 16 * k;
    m.digit |= static_cast<std::uint64_t>(_mm_movemask_epi8(d) & 0xffff) << sh;
    m.chain |= static_cast<std::uint64_t>(_mm_movemask_epi8(_mm_or_si128(d, gap)) & 0xffff) << sh;
    m.dot |= static_cast<std::uint64_t>(_mm_movemask_epi8(dot) & 0xffff) << sh;
    m.v6 |= static_cast<std::uint64_t>(_mm_movemask_epi8(v6) & 0xffff) << sh;
    m.colon |= static_cast<std::uint64_t>(_mm_movemask_epi8(eq(v, ':')) & 0xffff) << sh;
  }
  return m;
}

using MasksFn = ChainMasks (*)(const char*);
MasksFn pick_chain_masks() {
#if defined(__GNUC__) && defined(__x86_64__)
  __builtin_cpu_init();  // this runs from a static initialiser
  if (__builtin_cpu_supports("avx2")) return chain_masks_avx2;
#endif
  return chain_masks_sse2;
}
const MasksFn chain_masks = pick_chain_masks();
#else
struct ChainMasks {
  std::uint64_t digit = 0, chain = 0, dot = 0, v6 = 0, colon = 0;
};
ChainMasks chain_masks(const char* p) {
  ChainMasks m;
  for (int i = 0; i < 64; ++i) {
    m.digit |= static_cast<std::uint64_t>(is_digit(p[i])) << i;
    m.chain |= static_cast<std::uint64_t>(in(kChainChar, p[i])) << i;
    m.dot |= static_cast<std::uint64_t>(p[i] == '.') << i;
    m.v6 |= static_cast<std::uint64_t>(in(kIpv6Region, p[i])) << i;
    m.colon |= static_cast<std::uint64_t>(p[i] == ':') << i;
  }
  return m;
}
#endif

ChainMasks chain_masks_at(std::string_view t, std::size_t off) {
  if (off >= t.size()) return {};
  if (t.size() - off >= 64) return chain_masks(t.data() + off);
  char buf[64] = {};
  std::memcpy(buf, t.data() + off, t.size() - off);
  return chain_masks(buf);
}

// Population count without relying on the POPCNT instruction.
inline unsigned bit_count(std::uint64_t x) {
  x = x - ((x >> 1) & 0x5555555555555555ull);
  x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
  x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
  return static_cast<unsigned>((x * 0x0101010101010101ull) >> 56);
}

// Bit i set when bits i .. i+N-1 of w are all set (N <= 64).
template <std::size_t N>
inline unsigned __int128 runs_of(unsigned __int128 w) {
  unsigned __int128 r = w;
  std::size_t have = 1;
  while (have < N) {  // unrolled: N is a constant
    const std::size_t step = std::min(have, N - have);
    r &= r >> step;
    have += step;
  }
  return r;
}

// Which chain-located rules could accept something in the chain `g`.
unsigned chain_rules(std::string_view t, const Group* g, std::size_t k, unsigned enabled) {
  unsigned m = 0;
  auto len = [g](std::size_t i) { return g[i].e - g[i].b; };
  auto sep = [&](std::size_t i) { return single_sep(t, g[i - 1], g[i]); };  // before group i
  std::size_t digits = 0;
  for (std::size_t i = 0; i < k; ++i) digits += len(i);
  // Everything but IPv4 needs eight digits or more.
  if (digits < 8) enabled &= kChainIpv4;
  for (std::size_t i = 0; i < k && (m & enabled) != enabled; ++i) {
    const std::size_t li = len(i);
    // Cards: 13+ digits joined by one repeated ' ' or '-'; IBANs: 8+ digits
    // joined by single spaces.
    std::size_t sum = li, iban_sum = li;
    char s0 = '\0';
    if (sum >= 13) m |= kChainCard;
    if (iban_sum >= 8) m |= kChainIban;
    // Bounded: at most 13 groups, as a '-' ends the IBAN run.
    for (std::size_t j = i + 1; j < k && (sum < 13 || (s0 != '-' && iban_sum < 8)); ++j) {
      const char c = sep(j);
      if ((c != ' ' && c != '-') || (s0 != '\0' && c != s0)) break;
      s0 = c;
      sum += len(j);
      if (sum >= 13) m |= kChainCard;
      if (c == ' ') {
        iban_sum += len(j);
        if (iban_sum >= 8) m |= kChainIban;
      }
    }
    if (i + 2 < k) {
      const char c = sep(i + 1);
      if (li == 3 && len(i + 1) == 2 && len(i + 2) == 4 && (c == ' ' || c == '-') &&
          sep(i + 2) == c) {
        m |= kChainSsn;
      }
      if (li == 3 && len(i + 1) == 3 && len(i + 2) == 4) m |= kChainPhone;  // NANP
    }
    if (t[g[i].b] == '0' && li >= 2 && li <= 5) {  // trunk-prefixed national
      std::size_t total = li;
      for (std::size_t j = i + 1; j < k && total <= 11; ++j) {
        total += len(j);
        if (total >= 9 && total <= 11) {
          m |= kChainPhone;
          break;
        }
      }
    }
    if (i + 3 < k && li <= 3 && len(i + 1) <= 3 && len(i + 2) <= 3 && len(i + 3) <= 3 &&
        sep(i + 1) == '.' && sep(i + 2) == '.' && sep(i + 3) == '.') {
      m |= kChainIpv4;
    }
  }
  return m;
}

struct HsContext {
  std::string_view text;
  const std::vector<std::size_t>* rule_of;                            // pattern id -> rule index
  std::array<std::pair<std::size_t, std::size_t>, 64> last_region{};  // per pattern id
  ScanMemo memo;
  Sink* sink;
};

int on_match(unsigned int id, unsigned long long /*from*/, unsigned long long to,
             unsigned int /*flags*/, void* ctx) {
  auto& c = *static_cast<HsContext*>(ctx);
  const Rule& rule = rules()[(*c.rule_of)[id]];
  const std::size_t end = static_cast<std::size_t>(to);
  if (end == 0 || end > c.text.size()) return 0;
  if (rule.region != nullptr) {
    auto& last = c.last_region[id];
    if (end - 1 >= last.first && end - 1 < last.second) return 0;
    last = region_at(c.text, end - 1, *rule.region);
    rule.region_fn(c.text, last.first, last.second, *c.sink);
  } else {
    rule.match_fn(c.text, end, *c.sink, c.memo);
  }
  return c.sink->done() ? 1 : 0;
}

class HyperscanScanner final : public Scanner {
 public:
  static Expected<std::unique_ptr<HyperscanScanner>, std::string> make(DetectorSet set) {
    auto fallback = PortableScanner::make(set);
    if (!fallback) return unexpected(fallback.error());
    if (rules().size() > 64) return unexpected(std::string("masking: too many rules"));
    auto s = std::unique_ptr<HyperscanScanner>(new HyperscanScanner(set));
    s->fallback_ = std::move(*fallback);
    std::vector<const char*> exprs;
    std::vector<unsigned int> flags, ids;
    for (std::size_t idx : rules_for(set)) {
      const Rule& r = rules()[idx];
      if (r.chain != 0) s->chain_rules_.push_back(idx);
      const char* p = r.hs_pattern != nullptr ? r.hs_pattern : r.pattern;
      if (*p == '\0') continue;
      ids.push_back(static_cast<unsigned int>(s->rule_of_.size()));
      s->rule_of_.push_back(idx);
      exprs.push_back(p);
      flags.push_back(r.caseless ? HS_FLAG_CASELESS : 0u);
    }
    if (exprs.empty()) return s;
    hs_compile_error_t* err = nullptr;
    if (hs_compile_multi(exprs.data(), flags.data(), ids.data(),
                         static_cast<unsigned int>(exprs.size()), HS_MODE_BLOCK, nullptr, &s->db_,
                         &err) != HS_SUCCESS) {
      std::string msg = "masking: hyperscan compilation failed";
      if (err != nullptr) {
        if (err->message != nullptr) msg += std::string(": ") + err->message;
        hs_free_compile_error(err);
      }
      return unexpected(std::move(msg));
    }
    // Size this thread's scratch now so that a broken database shows up here.
    if (scratch_for(s->id_, s->db_) == nullptr) {
      return unexpected(std::string("masking: hyperscan scratch allocation failed"));
    }
    return s;
  }

  ~HyperscanScanner() override {
    if (db_ != nullptr) hs_free_database(db_);
  }

  void scan(std::string_view text, std::vector<Finding>& out) const override {
    Sink sink;
    if (!run(text, sink)) {
      fallback_->scan(text, out);
      return;
    }
    if (!sink.found.empty()) resolve(sink.found, out);
  }

  bool any(std::string_view text) const override {
    Sink sink;
    sink.stop_at_first = true;
    if (!run(text, sink)) return fallback_->any(text);
    return !sink.found.empty();
  }

  std::string_view engine_name() const override { return "hyperscan"; }

 private:
  explicit HyperscanScanner(DetectorSet d) : Scanner(d) {}

  // False when Hyperscan could not scan (the portable engine then does).
  bool run(std::string_view text, Sink& sink) const {
    if (text.empty()) return true;
    if (db_ != nullptr) {
      if (text.size() > UINT_MAX) return false;
      hs_scratch_t* scratch = scratch_for(id_, db_);
      if (scratch == nullptr) return false;
      HsContext ctx{text, &rule_of_, {}, {}, &sink};
      const hs_error_t rc = hs_scan(db_, text.data(), static_cast<unsigned int>(text.size()), 0,
                                    scratch, on_match, &ctx);
      if (rc != HS_SUCCESS && rc != HS_SCAN_TERMINATED) {
        sink.found.clear();
        return false;
      }
    }
    if (!chain_rules_.empty() && !sink.done()) run_chains(text, sink);
    return true;
  }

  void run_chains(std::string_view t, Sink& sink) const {
    unsigned enabled = 0;
    for (std::size_t idx : chain_rules_) enabled |= rules()[idx].chain;
    std::array<std::size_t, 64> last_end{};  // per rule index
    auto examine = [&](unsigned bits, std::size_t b, std::size_t e, const Group* g, std::size_t k) {
      for (std::size_t idx : chain_rules_) {
        const Rule& r = rules()[idx];
        if ((r.chain & bits) == 0) continue;
        if (r.chain == kChainIpv6) {
          if (b >= last_end[idx]) {
            r.region_fn(t, b, e, sink);
            last_end[idx] = e;
          }
          continue;
        }
        for (std::size_t i = 0; i < k; ++i) {
          if (g[i].b < last_end[idx]) continue;
          const auto [rb, re] = region_at(t, g[i].b, *r.region);
          r.region_fn(t, rb, re, sink);
          last_end[idx] = re;
        }
        if (sink.done()) return;
      }
    };
    // Splits the digit groups of one run into chains (groups at most two
    // bytes apart) and examines those that could hold something.
    auto chains = [&](std::size_t b, std::size_t e, const Group* g, std::size_t k) {
      std::size_t first = 0;
      for (std::size_t i = 1; i <= k && !sink.done(); ++i) {
        if (i < k && g[i].b - g[i - 1].e <= 2) continue;
        const unsigned bits = chain_rules(t, g + first, i - first, enabled) & enabled;
        if (bits != 0) examine(bits, b, e, g + first, i - first);
        first = i;
      }
    };
    auto v6run = [&](std::size_t b, std::size_t e) {
      if (std::count(t.begin() + static_cast<std::ptrdiff_t>(b),
                     t.begin() + static_cast<std::ptrdiff_t>(e), ':') >= 6) {
        examine(kChainIpv6, b, e, nullptr, 0);
      }
    };
    scan_chain_runs(t, sink, (enabled & ~kChainIpv6) != 0, (enabled & kChainIpv4) != 0,
                    (enabled & kChainIpv6) != 0, chains, v6run);
  }

  // One vectorised pass: calls chains(b, e, groups, count) for every run of
  // at least 7 chain bytes that has 8+ digits (or 3+ dots when IPv4 is
  // wanted), with the run's digit groups; and v6run(b, e) for every run of
  // at least 15 IPv6 bytes.
  template <class Chains, class V6Run>
  static void scan_chain_runs(std::string_view t, const Sink& sink, bool digits, bool ipv4,
                              bool ipv6, Chains&& chains, V6Run&& v6run) {
    const std::size_t n = t.size();
    std::array<Group, 32> small;
    thread_local std::vector<Group> big;
    std::size_t cursor = 0, cursor6 = 0;
    ChainMasks next = chain_masks_at(t, 0);
    auto wide = [](std::uint64_t lo, std::uint64_t hi) {
      return lo | (static_cast<unsigned __int128>(hi) << 64);
    };
    auto from = [](std::uint64_t z, std::size_t cur, std::size_t base) -> std::uint64_t {
      if (cur <= base) return z;
      return cur - base >= 64 ? 0 : z & (~std::uint64_t{0} << (cur - base));
    };
    for (std::size_t base = 0; base < n && !sink.done(); base += 64) {
      const ChainMasks cur = next;
      next = chain_masks_at(t, base + 64);
      // A full-form address has six colons after hex digits within 128
      // bytes of its start.
      const unsigned __int128 w6 = wide(cur.v6, next.v6);
      const unsigned __int128 hex_colons = wide(cur.colon, next.colon) & (w6 << 1);
      if (ipv6 && bit_count(static_cast<std::uint64_t>(hex_colons)) +
                          bit_count(static_cast<std::uint64_t>(hex_colons >> 64)) >=
                      6) {
        std::uint64_t z = from(static_cast<std::uint64_t>(runs_of<15>(w6)), cursor6, base);
        while (z != 0) {
          const std::size_t b = base + static_cast<std::size_t>(__builtin_ctzll(z));
          const std::size_t e = run_end(t, b, kIpv6Region);
          v6run(b, e);
          cursor6 = e;
          z = from(z, e, base);
        }
      }
      // Runs without digits close by hold nothing; a long run that goes on
      // is picked up in a later chunk, with the same digit groups.
      if (!digits || (cur.digit | next.digit) == 0) continue;
      const unsigned __int128 wc = wide(cur.chain, next.chain);
      const unsigned __int128 wd = wide(cur.digit, next.digit);
      const unsigned __int128 wp = wide(cur.dot, next.dot);
      std::uint64_t z = from(static_cast<std::uint64_t>(runs_of<7>(wc)), cursor, base);
      while (z != 0 && !sink.done()) {
        const std::size_t off = static_cast<std::size_t>(__builtin_ctzll(z));
        const std::size_t b = base + off;
        const auto c64 = static_cast<std::uint64_t>(wc >> off);
        std::size_t e = 0;
        if (~c64 != 0) {
          // The run ends within 64 bytes: its digit groups come from the mask.
          const auto len = static_cast<std::size_t>(__builtin_ctzll(~c64));
          e = b + len;
          const std::uint64_t in_run = (std::uint64_t{1} << len) - 1;
          std::uint64_t d = static_cast<std::uint64_t>(wd >> off) & in_run;
          const bool worth =
              bit_count(d) >= 8 ||
              (ipv4 && bit_count(static_cast<std::uint64_t>(wp >> off) & in_run) >= 3);
          if (worth) {
            std::size_t k = 0;
            while (d != 0) {
              const auto gs = static_cast<std::size_t>(__builtin_ctzll(d));
              const auto gl = static_cast<std::size_t>(__builtin_ctzll(~(d >> gs)));
              small[k++] = {b + gs, b + gs + gl};
              d &= ~std::uint64_t{0} << (gs + gl);
            }
            chains(b, e, small.data(), k);
          }
        } else {
          e = run_end(t, b, kChainChar);
          big.clear();
          digit_groups(t, b, e, big);
          chains(b, e, big.data(), big.size());
          release_if_large(big);
        }
        cursor = e;
        z = from(z, e, base);
      }
    }
  }

  const std::uint64_t id_ = g_next_scanner_id.fetch_add(1);
  hs_database_t* db_ = nullptr;
  std::vector<std::size_t> rule_of_;      // Hyperscan pattern id -> rule index
  std::vector<std::size_t> chain_rules_;  // rules the digit-chain pass locates
  std::unique_ptr<PortableScanner> fallback_;
};

#endif  // GH_HAVE_HYPERSCAN

constexpr std::string_view kNames[kDetectorCount] = {
    "email",      "credit_card", "us_ssn",         "phone",       "iban",
    "ip_address", "jwt",         "aws_access_key", "private_key", "generic_secret",
};
constexpr std::string_view kLabels[kDetectorCount] = {
    "EMAIL",      "CREDIT_CARD", "US_SSN",         "PHONE",       "IBAN",
    "IP_ADDRESS", "JWT",         "AWS_ACCESS_KEY", "PRIVATE_KEY", "SECRET",
};

}  // namespace

std::string_view detector_name(Detector d) {
  const auto i = static_cast<std::size_t>(d);
  return i < kDetectorCount ? kNames[i] : std::string_view("unknown");
}

std::optional<Detector> detector_from_name(std::string_view name) {
  for (std::size_t i = 0; i < kDetectorCount; ++i) {
    if (kNames[i] == name) return static_cast<Detector>(i);
  }
  return std::nullopt;
}

std::string_view detector_label(Detector d) {
  const auto i = static_cast<std::size_t>(d);
  return i < kDetectorCount ? kLabels[i] : std::string_view("MASKED");
}

DetectorSet all_detectors() {
  return DetectorSet().set();
}

bool Scanner::hyperscan_available() {
#ifdef GH_HAVE_HYPERSCAN
  return hs_valid_platform() == HS_SUCCESS;
#else
  return false;
#endif
}

Expected<std::unique_ptr<Scanner>, std::string> Scanner::build(DetectorSet detectors,
                                                               Engine engine) {
  try {
    if (engine != Engine::kPortable && hyperscan_available()) {
#ifdef GH_HAVE_HYPERSCAN
      auto s = HyperscanScanner::make(detectors);
      if (!s) return unexpected(s.error());
      return std::unique_ptr<Scanner>(std::move(*s));
#endif
    }
    if (engine == Engine::kHyperscan) {
      return unexpected(std::string("masking: hyperscan is not available in this build"));
    }
    auto s = PortableScanner::make(detectors);
    if (!s) return unexpected(s.error());
    return std::unique_ptr<Scanner>(std::move(*s));
  } catch (const std::exception& e) {
    return unexpected(std::string("masking: ") + e.what());
  }
}

}  // namespace gh::masking
