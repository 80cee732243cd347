// A small HTTPS (or plain HTTP) server on a free loopback port for tests that
// need a peer the gateway calls out to: an OIDC issuer publishing its metadata
// and keys, a webhook receiver. Requests are answered one at a time on the
// server's own thread by the handler the test gives; every request is kept.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace gh::testbed {

struct HttpRequest {
  std::string method;
  std::string target;                          // path and query
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::map<std::string, std::string> headers;
};

class HttpsServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  // `cert_file`/`key_file` empty: plain HTTP. Throws when it cannot listen.
  HttpsServer(Handler handler, const std::string& cert_file, const std::string& key_file);
  ~HttpsServer();  // stops and joins
  HttpsServer(const HttpsServer&) = delete;
  HttpsServer& operator=(const HttpsServer&) = delete;

  int port() const;
  std::string base_url() const;  // https://127.0.0.1:PORT (or http://)
  std::vector<HttpRequest> requests() const;
  void set_handler(Handler handler);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gh::testbed
