// An OpenID provider's discovery side on loopback HTTPS, for tests of OIDC
// discovery: its metadata at <issuer>/.well-known/openid-configuration and
// its JWKS at /keys. What it publishes, the "issuer" and "jwks_uri" its
// metadata names and the status it answers with change while it runs; every
// request is kept, so tests count fetches.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "testbed/idp.h"

namespace gh::testbed {

class OidcIssuer {
 public:
  // Serves with `cert_file`/`key_file` (127.0.0.1 in the certificate's SAN);
  // `path` is the issuer's path ("/": the issuer is https://127.0.0.1:PORT/).
  // Publishes no key until told. Throws when it cannot listen.
  OidcIssuer(const std::string& cert_file, const std::string& key_file, std::string path = "/");
  ~OidcIssuer();  // stops and joins
  OidcIssuer(const OidcIssuer&) = delete;
  OidcIssuer& operator=(const OidcIssuer&) = delete;

  std::string issuer() const;
  std::string metadata_target() const;  // the request path of its metadata

  // The public keys of `idps` as its JWKS, from now on.
  void publish(const std::vector<TestIdp*>& idps);
  void publish_text(std::string jwks);        // any text, as is
  void set_metadata_issuer(std::string iss);  // "": its own issuer()
  void set_jwks_uri(std::string uri);         // "": its own /keys
  void set_status(int status);                // not 200: every request gets it
  // While held, a JWKS request waits (up to 10 s) for hold_keys(false).
  void hold_keys(bool hold);

  int count(const std::string& target) const;  // requests for that path
  int key_requests() const;                    // for its own /keys
  int total_requests() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gh::testbed
