// Replacement text for masked values.
//
// `partial` per detector (lengths are kept unless noted; every kept
// character is printable ASCII outside the forbidden set, anything else
// becomes '*', one per code point):
//   email           jane.doe@example.com        -> j*******@*******.com
//   credit_card     4111 1111 1111 1234         -> **** **** **** 1234
//   us_ssn          123-45-6789                 -> ***-**-6789
//   phone           +1 (555) 123-4567           -> +* (***) ***-**67
//   iban            DE89 3704 0044 0532 0130 00 -> DE** **** **** **** **30 00
//   ip_address      192.168.10.20               -> 192.168.*.*   (one star per octet)
//                   2001:db8::8a2e:370:7334     -> 2001:***::****:***:****
//   jwt             always eyJ*****.*****.*****  (fixed, reveals no length)
//   aws_access_key  AKIAIOSFODNN7EXAMPLE        -> AKIA****************
//   private_key     -----BEGIN RSA PRIVATE KEY-----[REDACTED]-----END RSA PRIVATE KEY-----
//   generic_secret  a well-known prefix (ghp_, sk_live_, xoxb-, AIza, …) if
//                   there is one, then exactly eight stars (reveals no length)
// Values with too few digits to hide (a card or SSN with fewer than 8 digits,
// a phone with fewer than 6, an IBAN with fewer than 12 characters) are
// starred completely.
#include "masking/styles.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <vector>

namespace gh::masking {

namespace {

// Printable ASCII that survives COPY, JSON, array literals and messages.
bool safe(char c) {
  return c >= 0x20 && c <= 0x7e && c != '"' && c != '\'' && c != '\\' && c != ',';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_alnum(char c) {
  return is_digit(c) || is_alpha(c);
}
bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// The byte length of the UTF-8 code point at i; 1 for an invalid sequence.
std::size_t cp_len(std::string_view v, std::size_t i) {
  const auto b = static_cast<unsigned char>(v[i]);
  std::size_t n = 1;
  if (b >= 0xc2 && b <= 0xdf) {
    n = 2;
  } else if (b >= 0xe0 && b <= 0xef) {
    n = 3;
  } else if (b >= 0xf0 && b <= 0xf4) {
    n = 4;
  } else {
    return 1;
  }
  if (i + n > v.size()) return 1;
  for (std::size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(v[i + k]) & 0xc0) != 0x80) return 1;
  }
  return n;
}

// One '*' per code point of v.
void stars(std::string_view v, std::string& out) {
  for (std::size_t i = 0; i < v.size(); i += cp_len(v, i)) out.push_back('*');
}

// Walks the code points of v; keep(index, char) decides whether an ASCII
// byte is written as is (only if safe) or starred.
template <class Keep>
void mask_each(std::string_view v, std::string& out, Keep keep) {
  for (std::size_t i = 0; i < v.size();) {
    const std::size_t n = cp_len(v, i);
    const char c = v[i];
    out.push_back(n == 1 && safe(c) && keep(i, c) ? c : '*');
    i += n;
  }
}

void first_then_stars(std::string_view v, std::string& out) {
  if (v.empty()) return;
  const std::size_t n = cp_len(v, 0);
  out.push_back(n == 1 && safe(v[0]) ? v[0] : '*');
  stars(v.substr(n), out);
}

std::size_t count_if_digit(std::string_view v) {
  std::size_t n = 0;
  for (char c : v) n += is_digit(c) ? 1 : 0;
  return n;
}

// Digits starred except the last `keep`; the given separators kept.
void keep_last_digits(std::string_view v, std::size_t keep, std::size_t min_digits,
                      std::string_view seps, bool keep_plus, std::string& out) {
  const std::size_t total = count_if_digit(v);
  const std::size_t from = total >= min_digits ? total - keep : total;
  std::size_t seen = 0;
  mask_each(v, out, [&](std::size_t i, char c) {
    if (is_digit(c)) return seen++ >= from;
    if (c == '+') return keep_plus && i == 0;
    return seps.find(c) != std::string_view::npos;
  });
}

void partial_email(std::string_view v, std::string& out) {
  const std::size_t at = v.rfind('@');
  if (at == std::string_view::npos) {
    first_then_stars(v, out);
    return;
  }
  first_then_stars(v.substr(0, at), out);
  out.push_back('@');
  const std::string_view domain = v.substr(at + 1);
  const std::size_t dot = domain.rfind('.');
  bool tld_ok = dot != std::string_view::npos && dot + 1 < domain.size();
  for (std::size_t i = dot + 1; tld_ok && i < domain.size(); ++i) tld_ok = is_alpha(domain[i]);
  if (!tld_ok) {
    stars(domain, out);
    return;
  }
  stars(domain.substr(0, dot), out);
  out.append(domain.substr(dot));
}

void partial_iban(std::string_view v, std::string& out) {
  std::size_t alnum = 0;
  for (char c : v) alnum += is_alnum(c) ? 1 : 0;
  const bool reveal = alnum >= 12 && v.size() >= 2 && is_alpha(v[0]) && is_alpha(v[1]);
  std::size_t seen = 0;
  mask_each(v, out, [&](std::size_t i, char c) {
    if (c == ' ') return true;
    if (!is_alnum(c)) return false;
    ++seen;
    return reveal && (i < 2 || seen > alnum - 4);
  });
}

void partial_ip(std::string_view v, std::string& out) {
  const std::size_t colon = v.find(':');
  if (colon != std::string_view::npos) {
    mask_each(v, out, [&](std::size_t i, char c) {
      if (c == ':' || c == '.') return true;
      return i < colon && is_hex(c);
    });
    return;
  }
  // IPv4: the first two octets, then one star for each further octet.
  const std::size_t d1 = v.find('.');
  const std::size_t d2 = d1 == std::string_view::npos ? d1 : v.find('.', d1 + 1);
  bool ok = d2 != std::string_view::npos && d1 > 0 && d2 > d1 + 1;
  for (std::size_t i = 0; ok && i < d2; ++i) ok = is_digit(v[i]) || v[i] == '.';
  if (!ok) {
    mask_each(v, out, [](std::size_t, char c) { return c == '.'; });
    return;
  }
  out.append(v.substr(0, d2));
  for (std::size_t i = d2; i < v.size(); ++i) {
    if (v[i] == '.') out.append(".*");
  }
}

void partial_aws(std::string_view v, std::string& out) {
  mask_each(v, out, [](std::size_t i, char c) { return i < 4 && is_alnum(c); });
}

void partial_private_key(std::string_view v, std::string& out) {
  constexpr std::string_view kBegin = "-----BEGIN ";
  constexpr std::string_view kTail = "PRIVATE KEY-----";
  std::string_view type;
  if (v.substr(0, kBegin.size()) == kBegin) {
    const std::size_t t = v.find(kTail, kBegin.size());
    if (t != std::string_view::npos && t - kBegin.size() <= 40) {
      type = v.substr(kBegin.size(), t - kBegin.size());
      for (char c : type) {
        if (!(c == ' ' || (c >= 'A' && c <= 'Z') || is_digit(c))) {
          type = {};
          break;
        }
      }
    }
  }
  out.append("-----BEGIN ").append(type).append("PRIVATE KEY-----[REDACTED]-----END ");
  out.append(type).append("PRIVATE KEY-----");
}

void partial_secret(std::string_view v, std::string& out) {
  static constexpr std::string_view kPrefixes[] = {
      "github_pat_", "sk-proj-", "sk_live_", "rk_live_", "sk_test_", "ghp_",  "gho_",
      "ghu_",        "ghs_",     "ghr_",     "xoxb-",    "xoxp-",    "xoxa-", "xoxr-",
      "xoxs-",       "glpat-",   "npm_",     "AIza",     "SG.",      "sk-",
  };
  for (std::string_view p : kPrefixes) {
    if (v.size() > p.size() && v.substr(0, p.size()) == p) {
      out.append(p);
      break;
    }
  }
  out.append("********");
}

void partial(Detector d, std::string_view v, std::string& out) {
  switch (d) {
    case Detector::kEmail:
      return partial_email(v, out);
    case Detector::kCreditCard:
    case Detector::kUsSsn:
      return keep_last_digits(v, 4, 8, " -", false, out);
    case Detector::kPhone:
      return keep_last_digits(v, 2, 6, " .-()", true, out);
    case Detector::kIban:
      return partial_iban(v, out);
    case Detector::kIpAddress:
      return partial_ip(v, out);
    case Detector::kJwt:
      out.append("eyJ*****.*****.*****");
      return;
    case Detector::kAwsAccessKey:
      return partial_aws(v, out);
    case Detector::kPrivateKey:
      return partial_private_key(v, out);
    case Detector::kGenericSecret:
      return partial_secret(v, out);
  }
  out.append("********");
}

// HMAC-SHA-256 with a per-thread context kept for the last key used, so a
// value costs one MAC computation rather than a fetch and a key setup.
class ThreadMac {
 public:
  ThreadMac() = default;
  ThreadMac(const ThreadMac&) = delete;
  ThreadMac& operator=(const ThreadMac&) = delete;
  ~ThreadMac() {
    if (!key_.empty()) OPENSSL_cleanse(key_.data(), key_.size());
    EVP_MAC_CTX_free(ctx_);
    EVP_MAC_free(mac_);
  }

  // False when OpenSSL fails; `md` then holds nothing useful.
  bool compute(HashKey key, std::string_view v, std::array<unsigned char, 32>& md) {
    if (ctx_ == nullptr) {
      mac_ = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
      ctx_ = mac_ != nullptr ? EVP_MAC_CTX_new(mac_) : nullptr;
      if (ctx_ == nullptr) return false;
    }
    const bool same_key =
        ready_ && key.size() == key_.size() && std::equal(key.begin(), key.end(), key_.begin());
    int ok = 0;
    if (same_key) {
      ok = EVP_MAC_init(ctx_, nullptr, 0, nullptr);
    } else {
      char digest[] = "SHA256";
      const OSSL_PARAM params[] = {
          OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
          OSSL_PARAM_construct_end()};
      static constexpr unsigned char kEmpty[1] = {0};
      ok = EVP_MAC_init(ctx_, key.empty() ? kEmpty : key.data(), key.size(), params);
      if (!key_.empty()) OPENSSL_cleanse(key_.data(), key_.size());
      key_.assign(key.begin(), key.end());
      ready_ = ok == 1;
    }
    if (ok != 1) return false;
    const auto* data = reinterpret_cast<const unsigned char*>(v.empty() ? "" : v.data());
    std::size_t len = 0;
    return EVP_MAC_update(ctx_, data, v.size()) == 1 &&
           EVP_MAC_final(ctx_, md.data(), &len, md.size()) == 1 && len == md.size();
  }

 private:
  EVP_MAC* mac_ = nullptr;
  EVP_MAC_CTX* ctx_ = nullptr;
  std::vector<std::uint8_t> key_;
  bool ready_ = false;
};

// "[LABEL:<16 hex>]"; "[LABEL]" if the MAC cannot be computed.
void hashed(std::string_view label, std::string_view v, HashKey key, std::string& out) {
  thread_local ThreadMac mac;
  std::array<unsigned char, 32> md{};
  const bool ok = mac.compute(key, v, md);
  out.push_back('[');
  out.append(label);
  if (!ok) {
    out.push_back(']');
    return;
  }
  static constexpr char kHexDigits[] = "0123456789abcdef";
  out.push_back(':');
  for (std::size_t i = 0; i < 8; ++i) {
    out.push_back(kHexDigits[md[i] >> 4]);
    out.push_back(kHexDigits[md[i] & 0xf]);
  }
  out.push_back(']');
}

}  // namespace

std::string_view style_name(Style s) {
  switch (s) {
    case Style::kPartial:
      return "partial";
    case Style::kRedact:
      return "redact";
    case Style::kHash:
      return "hash";
  }
  return "unknown";
}

std::optional<Style> style_from_name(std::string_view name) {
  if (name == "partial") return Style::kPartial;
  if (name == "redact") return Style::kRedact;
  if (name == "hash") return Style::kHash;
  return std::nullopt;
}

void mask_found(Detector detector, Style style, std::string_view value, HashKey key,
                std::string& out) {
  switch (style) {
    case Style::kPartial:
      partial(detector, value, out);
      return;
    case Style::kHash:
      hashed(detector_label(detector), value, key, out);
      return;
    case Style::kRedact:
      break;
  }
  out.push_back('[');
  out.append(detector_label(detector));
  out.push_back(']');
}

void mask_whole(Style style, std::string_view value, HashKey key, std::string& out) {
  switch (style) {
    case Style::kPartial:
      if (value.size() >= 6) {
        first_then_stars(value, out);
      } else {
        stars(value, out);
      }
      return;
    case Style::kHash:
      hashed("MASKED", value, key, out);
      return;
    case Style::kRedact:
      break;
  }
  out.append("[MASKED]");
}

}  // namespace gh::masking
