// Looks up relation and column names by OID on a side connection to the
// upstream (the session's own credential, a short-lived connection), for the
// relation catalog that masking rules resolve source columns through; and the
// database's own routines, for the function catalog that judges the calls of
// functions that are not built-ins.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "adapters/pg/upstream.h"
#include "base/expected.h"
#include "config/config.h"
#include "gateway/function_catalog.h"
#include "gateway/relation_catalog.h"

namespace gh::adapters::pg {

// The catalog query for these OIDs (numbers only: nothing of the client's).
std::string relation_names_query(const std::vector<std::uint32_t>& oids);

// The catalog query for a relation by the name a statement used ("schema.table"),
// quoted as an identifier inside a literal: nothing of it can escape.
std::string relation_named_query(const std::string& qualified_name);

// The relation a name resolves to (through `to_regclass`); nullopt when none.
boost::asio::awaitable<Expected<std::optional<gateway::RelationInfo>>> fetch_relation_named(
    boost::asio::any_io_executor ex, const config::Connection& c, const config::Credentials& cred,
    const UpstreamTls& tls, const std::string& qualified_name);

// Relations by the names statements use (each "schema.table" or "table", as
// written), with column types and view definitions: what column lineage
// reads. Every name is in the result; one that resolves to nothing has
// `exists` false. Names are quoted as identifiers inside one array literal.
std::string relation_shapes_query(const std::vector<std::string>& names);
boost::asio::awaitable<Expected<std::map<std::string, gateway::RelationInfo>>>
fetch_relation_shapes(boost::asio::any_io_executor ex, const config::Connection& c,
                      const config::Credentials& cred, const UpstreamTls& tls,
                      const std::vector<std::string>& names);

// The routines defined outside the system schemas (user functions and
// procedures), by name, and whether each may write.
std::string user_functions_query();
boost::asio::awaitable<Expected<gateway::UserFunctionMap>> fetch_user_functions(
    boost::asio::any_io_executor ex, const config::Connection& c, const config::Credentials& cred,
    const UpstreamTls& tls);

// OIDs the catalog does not know (dropped since) are absent from the result.
boost::asio::awaitable<Expected<std::map<std::uint32_t, gateway::RelationInfo>>> fetch_relations(
    boost::asio::any_io_executor ex, const config::Connection& c, const config::Credentials& cred,
    const UpstreamTls& tls, const std::vector<std::uint32_t>& oids);

}  // namespace gh::adapters::pg
