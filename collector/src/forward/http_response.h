// One HTTP/1.1 response read off a connection, bounded in size: the status line and headers,
// then a body framed by Content-Length, by chunks, or by the server closing the connection.
// Knowing where a response ends is what lets a POST finish without waiting for a close that a
// keep-alive server never sends, and tell a truncated answer from a whole one.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/result.h"

namespace credsentry::collector {

struct HttpResponse {
  int status = 0;
  std::string body;
  int retry_after_s = -1;  // the Retry-After header in seconds, -1 without one
};

class ResponseReader {
 public:
  explicit ResponseReader(size_t max_bytes) : max_bytes_(max_bytes) {}

  // Takes the bytes one read returned. True while the response needs more of them; false once
  // it is whole or cannot be read (too large, malformed): then call Finish.
  bool Add(std::string_view bytes);
  // The response, or why there is none. `closed`: the server closed its side, which ends a
  // body that has neither a length nor chunks and cuts short any other.
  Result<HttpResponse> Finish(bool closed);

 private:
  enum class Framing { kNone, kLength, kChunked, kToClose };
  bool ParseHead();    // once the blank line after the headers is in
  bool ParseChunks();  // as far as whole chunks go; true at the last one

  size_t max_bytes_;
  std::string raw_;
  size_t body_at_ = std::string::npos;  // where the body starts in raw_, once the head is in
  Framing framing_ = Framing::kNone;
  size_t content_length_ = 0;
  size_t next_chunk_ = 0;  // where the next chunk's size line starts in raw_
  bool complete_ = false;
  std::string error_;
  HttpResponse response_;
};

}  // namespace credsentry::collector
