// A throwaway PostgreSQL 15 cluster on a free loopback port, in a directory
// of its own, for the demo, the integration tests and the benchmarks.
// PostgreSQL refuses to run as root: when we are root, the cluster runs as
// the `postgres` user (runuser) in a directory that user owns.
#pragma once

#include <string>

#include "testbed/process.h"

namespace gh::testbed {

// Writes a self-signed certificate for localhost / 127.0.0.1 (EC P-256) with
// the openssl command; returns false and fills `error` on failure.
bool make_self_signed_cert(const std::string& cert_file, const std::string& key_file,
                           std::string* error);

class PgCluster {
 public:
  struct Options {
    bool ssl = true;         // the server offers TLS (its certificate: cert_file())
    std::string extra_conf;  // appended to postgresql.conf
  };

  // Creates, configures and starts a cluster under `parent_dir`. Throws
  // std::runtime_error with the tools' output on failure.
  static PgCluster create(const std::string& parent_dir, const Options& options);
  PgCluster() = default;
  PgCluster(PgCluster&&) noexcept;
  PgCluster& operator=(PgCluster&&) noexcept;
  ~PgCluster();

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  std::string cert_file() const { return dir_ + "/server.crt"; }

  // Runs SQL as the superuser over the Unix socket; throws if psql fails.
  std::string sql(const std::string& statements, const std::string& database = "postgres") const;
  RunResult try_sql(const std::string& statements, const std::string& database = "postgres") const;

  void start();
  void stop();  // fast shutdown: sessions are terminated
  bool running() const { return running_; }

 private:
  RunResult as_owner(const std::vector<std::string>& argv) const;
  std::string dir_;
  std::string data_;
  int port_ = 0;
  bool running_ = false;
};

}  // namespace gh::testbed
