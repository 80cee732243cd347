#include "testbed/pg_cluster.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>

namespace gh::testbed {

namespace {

const std::string kBin = "/usr/lib/postgresql/15/bin/";

bool is_root() {
  return geteuid() == 0;
}

void chown_to_postgres(const std::string& path) {
  if (!is_root()) return;
  passwd* pw = getpwnam("postgres");
  if (pw == nullptr)
    throw std::runtime_error("running as root needs the postgres user (postgresql package)");
  for (auto& entry : std::filesystem::recursive_directory_iterator(path)) {
    if (chown(entry.path().c_str(), pw->pw_uid, pw->pw_gid) != 0)
      throw std::runtime_error("chown failed: " + entry.path().string());
  }
  if (chown(path.c_str(), pw->pw_uid, pw->pw_gid) != 0)
    throw std::runtime_error("chown failed: " + path);
}

}  // namespace

bool make_self_signed_cert(const std::string& cert_file, const std::string& key_file,
                           std::string* error) {
  auto r =
      run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
           "-nodes", "-keyout", key_file, "-out", cert_file, "-days", "30", "-subj",
           "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"});
  if (r.exit_code != 0) {
    if (error) *error = "openssl req failed: " + r.output;
    return false;
  }
  chmod(key_file.c_str(), 0600);
  return true;
}

PgCluster PgCluster::create(const std::string& parent_dir, const Options& options) {
  PgCluster c;
  c.dir_ = parent_dir + "/pg";
  c.data_ = c.dir_ + "/data";
  std::filesystem::create_directories(c.dir_);
  if (is_root()) chmod(parent_dir.c_str(), 0755);  // the postgres user must reach its directory
  c.port_ = free_port();
  if (options.ssl) {
    std::string error;
    if (!make_self_signed_cert(c.dir_ + "/server.crt", c.dir_ + "/server.key", &error))
      throw std::runtime_error(error);
  }
  chown_to_postgres(c.dir_);
  auto r = c.as_owner({kBin + "initdb", "-D", c.data_, "-U", "postgres", "--auth-local=trust",
                       "--auth-host=scram-sha-256", "--no-sync", "-E", "UTF8", "--locale=C"});
  if (r.exit_code != 0) throw std::runtime_error("initdb failed: " + r.output);

  std::string conf = "\nlisten_addresses = '127.0.0.1'\nport = " + std::to_string(c.port_) +
                     "\nunix_socket_directories = '" + c.dir_ + "'\nmax_connections = 300\n" +
                     "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n";
  if (options.ssl)
    conf += "ssl = on\nssl_cert_file = '" + c.dir_ + "/server.crt'\nssl_key_file = '" + c.dir_ +
            "/server.key'\n";
  conf += options.extra_conf + "\n";
  std::string confpath = c.data_ + "/postgresql.conf";
  write_file(confpath, read_file(confpath) + conf, 0600);
  // Per-role methods so the gateway's SCRAM, MD5 and cleartext paths all meet
  // a real server, and one that asks for no password (`trust`) to be refused.
  write_file(c.data_ + "/pg_hba.conf",
             "local all all trust\n"
             "host all gh_md5 127.0.0.1/32 md5\n"
             "host all gh_plain 127.0.0.1/32 password\n"
             "host all gh_trust 127.0.0.1/32 trust\n"
             "host all all 127.0.0.1/32 scram-sha-256\n",
             0600);
  chown_to_postgres(c.dir_);
  c.start();
  return c;
}

PgCluster::PgCluster(PgCluster&& o) noexcept
    : dir_(std::move(o.dir_)), data_(std::move(o.data_)), port_(o.port_), running_(o.running_) {
  o.running_ = false;
}

PgCluster& PgCluster::operator=(PgCluster&& o) noexcept {
  if (this != &o) {
    if (running_) stop();
    dir_ = std::move(o.dir_);
    data_ = std::move(o.data_);
    port_ = o.port_;
    running_ = o.running_;
    o.running_ = false;
  }
  return *this;
}

PgCluster::~PgCluster() {
  if (running_) stop();
}

RunResult PgCluster::as_owner(const std::vector<std::string>& argv) const {
  std::vector<std::string> full;
  if (is_root()) full = {"runuser", "-u", "postgres", "--"};
  full.insert(full.end(), argv.begin(), argv.end());
  return run(full);
}

void PgCluster::start() {
  auto r = as_owner(
      {kBin + "pg_ctl", "-D", data_, "-l", dir_ + "/server.log", "-w", "-t", "60", "start"});
  if (r.exit_code != 0)
    throw std::runtime_error("pg_ctl start failed: " + r.output + read_file(dir_ + "/server.log"));
  running_ = true;
}

void PgCluster::stop() {
  as_owner({kBin + "pg_ctl", "-D", data_, "-m", "fast", "-w", "-t", "60", "stop"});
  running_ = false;
}

RunResult PgCluster::try_sql(const std::string& statements, const std::string& database) const {
  // Through stdin, so that each statement runs on its own (CREATE DATABASE
  // cannot share the implicit transaction of a multi-statement -c).
  return run({"psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", dir_, "-p",
              std::to_string(port_), "-U", "postgres", "-d", database, "-f", "-"},
             {}, std::chrono::seconds(120), statements);
}

std::string PgCluster::sql(const std::string& statements, const std::string& database) const {
  auto r = try_sql(statements, database);
  if (r.exit_code != 0) throw std::runtime_error("psql failed: " + r.output);
  return r.output;
}

}  // namespace gh::testbed
