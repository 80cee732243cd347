#include "audit/stream.h"

#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "audit/chain.h"
#include "base/bytes.h"

namespace gh::audit {
namespace {

// zstd's fastest levels: a chunk is compressed on the writer thread, once, and
// statement records repeat themselves so much that level 1 already shrinks
// them several times over.
constexpr int kLevel = 1;

void put_u32(std::string& out, std::uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * i) & 0xff);
  out.append(b, 4);
}
void put_u64(std::string& out, std::uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i) & 0xff);
  out.append(b, 8);
}
std::uint64_t get_le(std::string_view in, std::size_t at, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i)
    v |=
        static_cast<std::uint64_t>(static_cast<unsigned char>(in[at + static_cast<std::size_t>(i)]))
        << (8 * i);
  return v;
}

std::string compress(const std::string& in) {
  thread_local std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> ctx(ZSTD_createCCtx(),
                                                                        ZSTD_freeCCtx);
  std::string out(ZSTD_compressBound(in.size()), '\0');
  const std::size_t n =
      ZSTD_compressCCtx(ctx.get(), out.data(), out.size(), in.data(), in.size(), kLevel);
  if (ZSTD_isError(n)) std::abort();  // only a bound too small fails, and it is zstd's own
  out.resize(n);
  return out;
}

// One zstd frame, decompressed. The output grows with what the frame really
// yields, not with the size its header claims (a damaged or forged header
// must not make a reader allocate 64 MiB for a few bytes).
Expected<std::string> decompress(std::string_view in) {
  const unsigned long long size = ZSTD_getFrameContentSize(in.data(), in.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN)
    return unexpected(std::string("not a compressed chunk"));
  if (size > kMaxChunkDecoded) return unexpected(std::string("chunk too large to be one"));
  thread_local std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> ctx(ZSTD_createDCtx(),
                                                                        ZSTD_freeDCtx);
  ZSTD_DCtx_reset(ctx.get(), ZSTD_reset_session_only);
  const auto declared = static_cast<std::size_t>(size);
  std::string out(std::min(declared, in.size() * 8 + 65536), '\0');
  ZSTD_inBuffer src{in.data(), in.size(), 0};
  std::size_t produced = 0;
  for (;;) {
    ZSTD_outBuffer dst{out.data() + produced, out.size() - produced, 0};
    const std::size_t left = ZSTD_decompressStream(ctx.get(), &dst, &src);
    if (ZSTD_isError(left))
      return unexpected(std::string("chunk damaged: ") + ZSTD_getErrorName(left));
    produced += dst.pos;
    if (left == 0) break;  // the frame is whole
    if (produced == out.size()) {
      if (out.size() >= declared)
        return unexpected(std::string("chunk damaged: longer than it says"));
      out.resize(std::min(declared, out.size() * 2));
    } else if (src.pos == src.size) {
      return unexpected(std::string("chunk damaged: cut short"));
    }
  }
  if (produced != declared || src.pos != src.size)
    return unexpected(std::string("chunk damaged: not the size it says"));
  out.resize(produced);
  return out;
}

}  // namespace

std::string chunk_key(std::string_view what, std::string_view value) {
  std::string k;
  k.reserve(what.size() + 1 + value.size());
  k.append(what).append(":").append(value);
  return k;
}

void statement_keys(const model::StatementEvent& e, std::set<std::string>& keys) {
  keys.insert(chunk_key("session", e.session_id));
  for (const auto& t : e.decision.tables) keys.insert(chunk_key("table", t));
  if (!e.decision.kind.empty()) {
    keys.insert(chunk_key("kind", e.decision.kind));
    keys.insert(chunk_key("decision", e.decision.decision));
    keys.insert(chunk_key("rule", e.decision.rule));
  }
  keys.insert(chunk_key("outcome", e.outcome));
}

void ChunkBuilder::add(std::int64_t seq, std::int64_t at_us, std::string_view hash_hex,
                       std::string_view canonical, std::string_view text) {
  if (chunk_.records == 0) {
    chunk_.first_seq = seq;
    chunk_.min_at_us = chunk_.max_at_us = at_us;
  }
  chunk_.last_seq = seq;
  chunk_.last_hash.assign(hash_hex);
  chunk_.min_at_us = std::min(chunk_.min_at_us, at_us);
  chunk_.max_at_us = std::max(chunk_.max_at_us, at_us);
  ++chunk_.records;
  put_u64(body_, static_cast<std::uint64_t>(seq));
  unsigned char hash[32] = {};
  (void)hash_bytes(hash_hex, hash);  // the writer's own chain hash: always 64 hex digits
  body_.append(reinterpret_cast<const char*>(hash), 32);
  put_u32(body_, static_cast<std::uint32_t>(canonical.size()));
  body_.append(canonical);
  put_u32(texts_, static_cast<std::uint32_t>(text.size()));
  texts_.append(text);
}

Chunk ChunkBuilder::finish() {
  chunk_.body = compress(body_);
  chunk_.texts = compress(texts_);
  body_.clear();
  texts_.clear();
  Chunk out = std::move(chunk_);
  chunk_ = Chunk{};
  return out;
}

namespace {

// Walks a decompressed body: row(seq, hash bytes, canonical) per record.
template <class Row>
Status<> walk_body(std::string_view in, Row&& row) {
  std::size_t at = 0;
  while (at < in.size()) {
    if (in.size() - at < 44) return unexpected(std::string("chunk damaged: a record is cut short"));
    const auto seq = static_cast<std::int64_t>(get_le(in, at, 8));
    const std::string_view hash = in.substr(at + 8, 32);
    const std::size_t len = get_le(in, at + 40, 4);
    at += 44;
    if (in.size() - at < len)
      return unexpected(std::string("chunk damaged: a record is cut short"));
    row(seq, hash, in.substr(at, len));
    at += len;
  }
  return Ok{};
}

}  // namespace

Expected<std::vector<ChunkRecord>> decode_chunk(std::string_view body) {
  auto raw = decompress(body);
  if (!raw) return unexpected(raw.error());
  std::vector<ChunkRecord> out;
  auto st =
      walk_body(*raw, [&](std::int64_t seq, std::string_view hash, std::string_view canonical) {
        out.push_back({seq, hex(as_bytes(hash)), std::string(canonical)});
      });
  if (!st) return unexpected(st.error());
  return out;
}

Expected<std::vector<RecordView>> view_chunk(std::string_view body, std::string& raw) {
  auto decoded = decompress(body);
  if (!decoded) return unexpected(decoded.error());
  raw = std::move(*decoded);
  std::vector<RecordView> out;
  auto st = walk_body(raw, [&](std::int64_t seq, std::string_view, std::string_view canonical) {
    out.push_back({seq, canonical});
  });
  if (!st) return unexpected(st.error());
  return out;
}

Expected<std::vector<std::string>> decode_texts(std::string_view texts) {
  auto raw = decompress(texts);
  if (!raw) return unexpected(raw.error());
  std::vector<std::string> out;
  std::string_view in = *raw;
  std::size_t at = 0;
  while (at < in.size()) {
    if (in.size() - at < 4) return unexpected(std::string("chunk texts damaged"));
    const std::size_t len = get_le(in, at, 4);
    at += 4;
    if (in.size() - at < len) return unexpected(std::string("chunk texts damaged"));
    out.emplace_back(in.substr(at, len));
    at += len;
  }
  return out;
}

}  // namespace gh::audit
