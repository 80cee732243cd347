#include "net/stream.h"

#include <sys/socket.h>

#include <cerrno>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cassert>
#include <cstring>
#include <vector>

#include "net/deadline.h"
#include "net/resolve.h"

namespace gh::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr auto kTlsHandshakeTimeout = std::chrono::seconds(15);

// No Nagle delay for a request/response protocol, and TCP keepalive so that a
// peer that vanished (NAT timeout, a laptop gone to sleep) is noticed within
// minutes instead of holding its upstream backend forever.
void tune(tcp::socket& s) {
  error_code ignored;
  s.set_option(tcp::no_delay(true), ignored);
  s.set_option(asio::socket_base::keep_alive(true), ignored);
  int fd = s.native_handle();
  int idle = 60, interval = 15, count = 4;
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}

// The kernel's view, without consuming anything: 0 bytes at the head of the
// receive queue is the peer's FIN, an error other than EAGAIN a reset.
bool socket_peer_closed(tcp::socket& s) {
  char c;
  const ssize_t n = ::recv(s.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return true;
  return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

class TcpStream final : public Stream {
 public:
  explicit TcpStream(tcp::socket s) : socket_(std::move(s)) { tune(socket_); }
  awaitable<std::size_t> read_some(std::span<std::uint8_t> buf, error_code& ec) override {
    co_return co_await socket_.async_read_some(asio::buffer(buf.data(), buf.size()),
                                               asio::redirect_error(asio::use_awaitable, ec));
  }
  awaitable<void> write_all(std::span<const std::uint8_t> buf, error_code& ec) override {
    co_await asio::async_write(socket_, asio::buffer(buf.data(), buf.size()),
                               asio::redirect_error(asio::use_awaitable, ec));
  }
  void close() override {
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }
  bool is_tls() const override { return false; }
  asio::any_io_executor executor() override { return socket_.get_executor(); }
  awaitable<void> wait_readable(error_code& ec) override {
    co_await socket_.async_wait(tcp::socket::wait_read,
                                asio::redirect_error(asio::use_awaitable, ec));
  }
  bool peer_closed() override { return socket_peer_closed(socket_); }
  tcp::socket release() { return std::move(socket_); }

 private:
  tcp::socket socket_;
};

// What OpenSSL reads from: a view of bytes just received (into the I/O
// thread's scratch buffer, so without a copy) or of `kept`, where the bytes
// OpenSSL did not take are moved before the coroutine can suspend. An idle
// connection holds no receive buffer of its own.
struct Inbox {
  std::span<const std::uint8_t> in;
  bool in_scratch = false;  // `in` is a view of the thread's scratch buffer
  std::vector<std::uint8_t> kept;
};

int inbox_read(BIO* b, char* out, int len) {
  auto* inbox = static_cast<Inbox*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  if (inbox->in.empty() || len <= 0) {
    BIO_set_retry_read(b);  // more has to be received first
    return -1;
  }
  const std::size_t n = std::min(inbox->in.size(), static_cast<std::size_t>(len));
  std::memcpy(out, inbox->in.data(), n);
  inbox->in = inbox->in.subspan(n);
  return static_cast<int>(n);
}

long inbox_ctrl(BIO* b, int cmd, long, void*) {
  switch (cmd) {
    case BIO_CTRL_PENDING:
      return static_cast<long>(static_cast<Inbox*>(BIO_get_data(b))->in.size());
    case BIO_CTRL_FLUSH:
      return 1;
    default:
      return 0;
  }
}

BIO_METHOD* inbox_method() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "gatehouse inbox");
    if (m == nullptr) return m;
    BIO_meth_set_read(m, &inbox_read);
    BIO_meth_set_ctrl(m, &inbox_ctrl);
    BIO_meth_set_create(m, [](BIO* b) {
      BIO_set_init(b, 1);
      return 1;
    });
    return m;
  }();
  return method;
}

// Receives go into one buffer per I/O thread: OpenSSL reads them before
// anything else can run on the thread (see TlsStream::receive_now).
constexpr std::size_t kScratch = 16 * 1024;
std::uint8_t* scratch() {
  thread_local std::unique_ptr<std::uint8_t[]> buf(new std::uint8_t[kScratch]);
  return buf.get();
}

// TLS with OpenSSL writing straight to the socket and reading from a BIO of
// the stream's own that the coroutine fills with one receive whenever
// OpenSSL wants more (WANT_READ), waiting for readability when a receive
// finds nothing. That is one recv per burst of records, where a socket BIO
// makes two or three per record; Asio's ssl::stream, with a memory-BIO pair
// and its engine, cost ~15 µs of CPU more per transaction. Every call
// happens on the session's one I/O thread, so a read and a write may
// interleave on the SSL object but never run at the same time; only
// read_some (and the handshake) ever receive.
class TlsStream final : public Stream {
 public:
  TlsStream(tcp::socket s, SSL_CTX* ctx) : socket_(std::move(s)), ssl_(SSL_new(ctx)) {
    tune(socket_);
    error_code ignored;
    socket_.non_blocking(true, ignored);
    if (ssl_) {
      BIO_METHOD* method = inbox_method();
      BIO* rbio = method ? BIO_new(method) : nullptr;
      BIO* wbio = BIO_new_socket(socket_.native_handle(), BIO_NOCLOSE);
      if (!rbio || !wbio) {
        BIO_free(rbio);
        BIO_free(wbio);
        SSL_free(ssl_);
        ssl_ = nullptr;
        return;
      }
      BIO_set_data(rbio, &inbox_);
      SSL_set_bio(ssl_, rbio, wbio);  // the SSL owns both now
      // RELEASE_BUFFERS: OpenSSL's record buffers (some 34 KiB) are freed
      // whenever they are empty, so an idle connection does not keep them.
      SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                             SSL_MODE_RELEASE_BUFFERS);
      // A write that would need to read (renegotiation) could race read_some's receive.
      SSL_set_options(ssl_, SSL_OP_NO_RENEGOTIATION);
    }
  }
  ~TlsStream() override {
    if (ssl_) SSL_free(ssl_);
  }
  SSL* ssl() { return ssl_; }

  // Runs SSL_accept / SSL_connect to completion; the error text on failure.
  awaitable<std::string> handshake(bool server) {
    if (!ssl_) co_return "TLS: cannot allocate a session";
    for (;;) {
      if (closed_) co_return std::string("TLS handshake interrupted");
      ERR_clear_error();
      int r = server ? SSL_accept(ssl_) : SSL_connect(ssl_);
      keep_unread();
      if (r == 1) co_return std::string();
      int err = SSL_get_error(ssl_, r);
      error_code ec;
      if (err == SSL_ERROR_WANT_READ) {
        const int got = receive_now(ec);
        if (got > 0) continue;  // straight to OpenSSL: nothing runs in between
        if (got == 0) {
          bool ready = co_await wait(tcp::socket::wait_read, ec);
          if (ready) continue;
        }
        co_return last_error("TLS handshake failed");
      }
      bool writable = err == SSL_ERROR_WANT_WRITE;
      if (writable) writable = co_await wait(tcp::socket::wait_write, ec);
      if (!writable) co_return last_error("TLS handshake failed");
    }
  }

  awaitable<std::size_t> read_some(std::span<std::uint8_t> buf, error_code& ec) override {
    if (closed_) {
      ec = asio::error::bad_descriptor;
      co_return 0;
    }
    for (;;) {
      ERR_clear_error();
      int n = SSL_read(ssl_, buf.data(),
                       static_cast<int>(std::min<std::size_t>(buf.size(), INT32_MAX)));
      keep_unread();
      if (n > 0) co_return static_cast<std::size_t>(n);
      int err = SSL_get_error(ssl_, n);
      if (err == SSL_ERROR_ZERO_RETURN) {
        ec = asio::error::eof;
        co_return 0;
      }
      if (err == SSL_ERROR_WANT_READ) {
        const int got = receive_now(ec);
        if (got > 0) continue;  // straight to OpenSSL: nothing runs in between
        if (got == 0) {
          bool ready = co_await wait(tcp::socket::wait_read, ec);
          if (ready) continue;
        }
        co_return 0;
      }
      // (co_await stays out of && and ||: GCC 12 can miscompile it there.)
      bool writable = err == SSL_ERROR_WANT_WRITE;  // an alert or key update to send
      if (writable) writable = co_await wait(tcp::socket::wait_write, ec);
      if (writable) continue;
      if (!ec) {
        // A peer that vanished without close_notify reads as EOF, as on plain TCP.
        if (err == SSL_ERROR_SYSCALL)
          ec = asio::error::eof;
        else
          ec = asio::error::connection_reset;
      }
      co_return 0;
    }
  }

  awaitable<void> write_all(std::span<const std::uint8_t> buf, error_code& ec) override {
    std::size_t done = 0;
    while (done < buf.size()) {
      if (closed_) {
        ec = asio::error::bad_descriptor;
        co_return;
      }
      ERR_clear_error();
      int n = SSL_write(ssl_, buf.data() + done,
                        static_cast<int>(std::min<std::size_t>(buf.size() - done, INT32_MAX)));
      if (n > 0) {
        done += static_cast<std::size_t>(n);
        continue;
      }
      int err = SSL_get_error(ssl_, n);
      // (co_await stays out of && and ||: GCC 12 can miscompile it there.)
      bool writable = err == SSL_ERROR_WANT_WRITE;
      if (writable) writable = co_await wait(tcp::socket::wait_write, ec);
      if (!writable) {
        if (!ec) ec = asio::error::broken_pipe;
        co_return;
      }
    }
  }

  void close() override {
    // Detach the descriptor from OpenSSL before it is closed: its number may
    // be reused at once by another connection or file, and a later SSL_write
    // must never reach that.
    closed_ = true;
    if (ssl_) BIO_set_fd(SSL_get_wbio(ssl_), -1, BIO_NOCLOSE);
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }
  bool is_tls() const override { return true; }
  asio::any_io_executor executor() override { return socket_.get_executor(); }
  awaitable<void> wait_readable(error_code& ec) override {
    // What OpenSSL has decrypted, or the inbox holds for it, is there without a receive.
    if (ssl_ && (SSL_pending(ssl_) > 0 || !inbox_.in.empty())) co_return;
    co_await socket_.async_wait(tcp::socket::wait_read,
                                asio::redirect_error(asio::use_awaitable, ec));
  }
  bool peer_closed() override { return socket_peer_closed(socket_); }

 private:
  // One receive without waiting, into the thread's scratch buffer, handed to
  // OpenSSL as it is: the caller must have it read (SSL_read, SSL_accept)
  // before it can suspend. 1: received; 0: nothing there yet; -1: failed or
  // EOF (ec set).
  int receive_now(error_code& ec) {
    if (closed_) {
      ec = asio::error::bad_descriptor;
      return -1;
    }
    for (;;) {
      const ssize_t n = ::recv(socket_.native_handle(), scratch(), kScratch, 0);
      if (n > 0) {
        inbox_.in = std::span<const std::uint8_t>(scratch(), static_cast<std::size_t>(n));
        inbox_.in_scratch = true;
        return 1;
      }
      if (n == 0) {
        ERR_clear_error();  // nothing of OpenSSL's to report: the socket ended
        ec = asio::error::eof;
        return -1;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      ERR_clear_error();
      ec = error_code(errno, asio::error::get_system_category());
      return -1;
    }
  }

  // After each call into OpenSSL: what it did not read of a receive moves
  // out of the scratch buffer (which the next receive on this thread, of any
  // connection, reuses), and an emptied copy is let go.
  void keep_unread() {
    if (inbox_.in_scratch) {
      inbox_.in_scratch = false;
      if (!inbox_.in.empty()) {
        inbox_.kept.assign(inbox_.in.begin(), inbox_.in.end());
        inbox_.in = inbox_.kept;
        return;
      }
    }
    if (inbox_.in.empty() && inbox_.kept.capacity() > 0) {
      std::vector<std::uint8_t>().swap(inbox_.kept);
      inbox_.in = {};
    }
  }

  // Waits until the socket is readable or writable. False when it failed
  // (closed, cancelled).
  awaitable<bool> wait(tcp::socket::wait_type what, error_code& ec) {
    co_await socket_.async_wait(what, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || closed_) {
      ERR_clear_error();  // nothing of OpenSSL's to report: the socket failed
      if (!ec) ec = asio::error::bad_descriptor;
      co_return false;
    }
    co_return true;
  }

  static std::string last_error(const std::string& what) {
    unsigned long e = ERR_get_error();
    if (e == 0) return what + ": connection closed";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return what + ": " + buf;
  }

  tcp::socket socket_;
  SSL* ssl_;
  bool closed_ = false;
  Inbox inbox_;  // what the SSL's read BIO hands it
};

std::string describe_tls_error(const error_code& ec) {
  std::string what = ec.message();
  if (ec.category() == asio::error::get_ssl_category()) {
    char buf[256];
    ERR_error_string_n(static_cast<unsigned long>(ec.value()), buf, sizeof buf);
    what = buf;
  }
  return what;
}

}  // namespace

std::unique_ptr<Stream> make_tcp_stream(tcp::socket socket) {
  return std::make_unique<TcpStream>(std::move(socket));
}

tcp::socket release_tcp_socket(std::unique_ptr<Stream> plain) {
  auto* tcp_stream = dynamic_cast<TcpStream*>(plain.get());
  assert(tcp_stream != nullptr && "release_tcp_socket needs a plain TCP stream");
  return tcp_stream->release();
}

awaitable<Expected<std::unique_ptr<Stream>>> tls_handshake_server(tcp::socket socket,
                                                                  asio::ssl::context& ctx) {
  auto tls = std::make_unique<TlsStream>(std::move(socket), ctx.native_handle());
  auto* raw = tls.get();
  Deadline deadline(tls->executor(), kTlsHandshakeTimeout, [raw] { raw->close(); });
  std::string err = co_await tls->handshake(true);
  if (deadline.fired()) co_return unexpected(std::string("TLS handshake timed out"));
  if (!err.empty()) co_return unexpected(err);
  co_return std::unique_ptr<Stream>(std::move(tls));
}

awaitable<Expected<std::unique_ptr<Stream>>> tls_handshake_client(tcp::socket socket,
                                                                  asio::ssl::context& ctx,
                                                                  const std::string& verify_host) {
  auto tls = std::make_unique<TlsStream>(std::move(socket), ctx.native_handle());
  if (!tls->ssl()) co_return unexpected(std::string("TLS: cannot allocate a session"));
  if (!verify_host.empty()) {
    // The peer's certificate must name the host we dialled: an IP address
    // against its IP SANs, a name against its DNS SANs (and SNI carries it).
    error_code ec;
    asio::ip::make_address(verify_host, ec);
    X509_VERIFY_PARAM* param = SSL_get0_param(tls->ssl());
    bool set = false;
    if (!ec) {
      set = X509_VERIFY_PARAM_set1_ip_asc(param, verify_host.c_str()) == 1;
    } else {
      SSL_set_tlsext_host_name(tls->ssl(), verify_host.c_str());
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      set = X509_VERIFY_PARAM_set1_host(param, verify_host.c_str(), 0) == 1;
    }
    // Never fall back to "any certificate from this CA" (a scoped IPv6 address, say).
    if (!set) {
      ERR_clear_error();
      co_return unexpected("TLS: cannot verify the peer as " + verify_host);
    }
  }
  auto* raw = tls.get();
  Deadline deadline(tls->executor(), kTlsHandshakeTimeout, [raw] { raw->close(); });
  std::string err = co_await tls->handshake(false);
  if (deadline.fired()) co_return unexpected(std::string("TLS handshake timed out"));
  if (!err.empty()) co_return unexpected(err);
  co_return std::unique_ptr<Stream>(std::move(tls));
}

Expected<std::shared_ptr<asio::ssl::context>> make_server_tls(const std::string& cert_file,
                                                              const std::string& key_file) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                   asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
  error_code ec;
  ctx->use_certificate_chain_file(cert_file, ec);
  if (ec)
    return unexpected("cannot load TLS certificate " + cert_file + ": " + describe_tls_error(ec));
  ctx->use_private_key_file(key_file, asio::ssl::context::pem, ec);
  if (ec) return unexpected("cannot load TLS key " + key_file + ": " + describe_tls_error(ec));
  // No session resumption: PostgreSQL clients do not resume, and a server
  // cache (or a ticket per connection) costs memory and CPU on every login.
  SSL_CTX_set_session_cache_mode(ctx->native_handle(), SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx->native_handle(), 0);
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1)
    return unexpected("TLS key " + key_file + " does not match certificate " + cert_file);
  return ctx;
}

Expected<std::shared_ptr<asio::ssl::context>> make_client_tls(bool verify,
                                                              const std::string& ca_file) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                   asio::ssl::context::no_tlsv1_1);
  if (verify) {
    error_code ec;
    if (!ca_file.empty()) {
      ctx->load_verify_file(ca_file, ec);
      if (ec) return unexpected("cannot load CA file " + ca_file + ": " + describe_tls_error(ec));
    } else {
      ctx->set_default_verify_paths(ec);
      if (ec) return unexpected("cannot load the system trust store: " + ec.message());
    }
    ctx->set_verify_mode(asio::ssl::verify_peer);
  } else {
    ctx->set_verify_mode(asio::ssl::verify_none);
  }
  return ctx;
}

awaitable<Expected<tcp::socket>> dial(asio::any_io_executor ex, const std::string& host,
                                      std::uint16_t port, std::chrono::milliseconds timeout) {
  // The timeout bounds the whole dial: the lookup (which asio could not
  // interrupt: see resolve.h), then the connect in what is left of it.
  const auto start = std::chrono::steady_clock::now();
  auto endpoints = co_await resolve(ex, host, port, timeout);
  if (!endpoints) co_return unexpected(endpoints.error());
  const auto left = timeout - std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::steady_clock::now() - start);
  tcp::socket socket(ex);
  bool timed_out = false;
  Deadline deadline(ex, std::max(left, std::chrono::milliseconds(1)), [&] {
    timed_out = true;
    error_code ignored;
    socket.close(ignored);
  });
  error_code ec;
  co_await asio::async_connect(socket, *endpoints, asio::redirect_error(asio::use_awaitable, ec));
  if (timed_out)
    co_return unexpected("timed out connecting to " + host + ":" + std::to_string(port) +
                         " after " + std::to_string(timeout.count()) + " ms");
  if (ec)
    co_return unexpected("cannot connect to " + host + ":" + std::to_string(port) + ": " +
                         ec.message());
  deadline.cancel();
  co_return std::move(socket);
}

}  // namespace gh::net
