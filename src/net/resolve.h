// Name resolution bounded in time. getaddrinfo cannot be interrupted, and
// asio's async_resolve runs it on a private thread that a cancel or a timer
// does not stop (the resolver service even joins that thread when its
// io_context goes away). So a lookup runs on a thread of its own, at most
// kMaxLookups at a time; the caller waits on a timer and, past the timeout,
// abandons it (the thread ends whenever getaddrinfo returns; its answer is
// dropped). Literal IP addresses never reach the resolver.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/expected.h"

namespace gh::net {

using Endpoints = std::vector<boost::asio::ip::tcp::endpoint>;

// Lookups waiting on the system resolver at once, across the process; past
// it a dial fails at once ("too many name lookups in progress") rather than
// start another thread that may hang as well.
inline constexpr std::size_t kMaxLookups = 16;

// host:port's addresses within `timeout`. Errors read "cannot resolve HOST:
// timed out after N ms", "cannot resolve HOST: <resolver's message>", …
boost::asio::awaitable<Expected<Endpoints>> resolve(boost::asio::any_io_executor ex,
                                                    const std::string& host, std::uint16_t port,
                                                    std::chrono::milliseconds timeout);

// The blocking lookup behind resolve() (getaddrinfo, by default). Tests
// replace it to stand for a resolver that hangs or fails, without a network;
// nothing in the configuration or on the wire reaches it. Null restores the default.
using Lookup = std::function<Expected<Endpoints>(const std::string& host, std::uint16_t port)>;
void set_lookup_for_tests(Lookup lookup);

// Lookups running now (abandoned ones included, until they return).
std::size_t lookups_in_flight();

}  // namespace gh::net
