// Ownership of OpenSSL objects: every pointer OpenSSL hands us goes straight
// into one of these so no early return can leak it (the tests run under ASan).
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/params.h>

#include <memory>

namespace gh::identity::ossl {

template <class T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};

using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM, OSSL_PARAM_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG, ECDSA_SIG_free>>;

inline void free_bio(BIO* b) {
  BIO_free_all(b);
}
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, free_bio>>;

// OpenSSL keeps failures in a per-thread queue. A verification failure on an
// I/O thread must not leave entries behind: TLS code on the same thread asks
// that queue (SSL_get_error) and would misread them as its own. The mark keeps
// whatever the caller had queued before us.
struct ErrorQueueGuard {
  ErrorQueueGuard() { ERR_set_mark(); }
  ErrorQueueGuard(const ErrorQueueGuard&) = delete;
  ErrorQueueGuard& operator=(const ErrorQueueGuard&) = delete;
  ~ErrorQueueGuard() { ERR_pop_to_mark(); }
};

}  // namespace gh::identity::ossl
