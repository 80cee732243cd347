// Waiting for an issuer's keys to be fetched again (OIDC discovery), from a
// coroutine: the thread that runs it goes on serving others meanwhile. Kept
// out of services.h so that only the code that awaits includes Asio.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <string>

namespace gh::gateway {

class Services;

// True once fresh keys of `issuer` are in place (verify the token again);
// false when nothing new was fetched, or after `wait`.
boost::asio::awaitable<bool> keys_refreshed(
    Services& services, const std::string& issuer,
    std::chrono::milliseconds wait = std::chrono::seconds(5));

}  // namespace gh::gateway
