// Test helper: runs a client's writes through one EgressDecoder and keeps what a matcher and
// --stats-file would see of it: the decoded units, the counters and the connection's facts.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "chunk_recorder.h"
#include "stream/decoders/egress_decoder.h"

namespace credsentry::stream::decoders::testing {

struct Decoded {
  ChunkRecorder recorder;
  DecoderCounters counters;
  ConnectionFacts facts;
};

// Each element is one write of the client; `piece` > 0 cuts every write into pieces that size
// (each piece a write of its own, as a client sending byte by byte would).
inline Decoded DecodeWrites(const std::vector<std::string>& writes, size_t piece = 0,
                            DecoderLimits limits = {}) {
  Decoded out;
  EgressDecoder decoder(limits);
  auto sink = out.recorder.Sink();
  for (const std::string& w : writes) {
    size_t step = piece == 0 ? w.size() : piece;
    for (size_t at = 0; at < w.size(); at += step) {
      decoder.Feed(Bytes(w).subspan(at, std::min(step, w.size() - at)), sink);
    }
  }
  decoder.Finish(sink);
  out.counters = decoder.counters();
  out.facts = decoder.facts();
  return out;
}

}  // namespace credsentry::stream::decoders::testing
