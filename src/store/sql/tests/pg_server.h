// A real PostgreSQL 15 for the store's tests: one cluster per test suite
// (started on first use, stopped and removed by the suite's teardown), a
// fresh database per test, and a libpq connection of the test's own — over
// the cluster's Unix socket, as its superuser — to look at and tamper with
// what the store wrote, as someone with psql would.
#pragma once

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "testbed/pg_cluster.h"
#include "testbed/process.h"

namespace gh::store::pgtest {

class PgServer {
 public:
  void start() {
    if (cluster_) return;
    dir_ = testbed::make_temp_dir("gh-store-pg");
    cluster_.emplace(testbed::PgCluster::create(dir_, {.ssl = false}));
  }

  void stop() {
    if (!cluster_) return;
    cluster_->stop();
    cluster_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // A new, empty database; its name.
  std::string create_database() {
    const std::string name = "t_" + std::to_string(++databases_);
    cluster_->sql("CREATE DATABASE " + name + ";\n");
    return name;
  }

  // The database over the cluster's Unix socket, as the superuser (trust).
  std::string url(const std::string& database) const {
    return "postgresql:///" + database + "?host=" + cluster_->dir() +
           "&port=" + std::to_string(cluster_->port()) + "&user=postgres";
  }

  int port() const { return cluster_->port(); }
  const testbed::PgCluster& cluster() const { return *cluster_; }

 private:
  std::string dir_;
  std::optional<testbed::PgCluster> cluster_;
  int databases_ = 0;
};

// A plain libpq connection: what the store wrote, seen from outside it.
class PgClient {
 public:
  explicit PgClient(const std::string& url) : conn_(PQconnectdb(url.c_str())) {
    EXPECT_EQ(PQstatus(conn_), CONNECTION_OK) << PQerrorMessage(conn_);
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
  }
  ~PgClient() { PQfinish(conn_); }
  PgClient(const PgClient&) = delete;
  PgClient& operator=(const PgClient&) = delete;

  // Runs one or more statements (one implicit transaction); "" or the error.
  std::string exec(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    const auto status = PQresultStatus(r);
    std::string error;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      error = PQresultErrorMessage(r);
      if (error.empty()) error = PQerrorMessage(conn_);
    }
    PQclear(r);
    return error;
  }

  // The first column of each row ("NULL" for NULL).
  std::vector<std::string> column(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    std::vector<std::string> out;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      ADD_FAILURE() << sql << ": " << PQresultErrorMessage(r);
    } else {
      for (int i = 0; i < PQntuples(r); ++i)
        out.push_back(
            PQgetisnull(r, i, 0)
                ? "NULL"
                : std::string(PQgetvalue(r, i, 0), static_cast<std::size_t>(PQgetlength(r, i, 0))));
    }
    PQclear(r);
    return out;
  }

  // The first column of the first row; "<none>" without a row.
  std::string scalar(const std::string& sql) {
    auto rows = column(sql);
    return rows.empty() ? "<none>" : rows[0];
  }

 private:
  PGconn* conn_;
};

}  // namespace gh::store::pgtest
