// Test helper: records the decoded-chunk stream of a decoder and reassembles its units, so tests
// can assert what the matcher would see. Secrets are synthetic ("tok-" + random).
#pragma once

#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "stream/decoders/decoded_chunk.h"

namespace credsentry::stream::decoders::testing {

inline std::string RandomToken(size_t n = 32) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device rd;
  std::mt19937_64 rng(rd());
  std::uniform_int_distribution<size_t> pick(0, sizeof(kAlphabet) - 2);
  std::string token = "tok-";
  for (size_t i = 0; i < n; ++i) token.push_back(kAlphabet[pick(rng)]);
  return token;
}

struct Unit {
  std::string layer;
  uint64_t unit_id = 0;
  std::string bytes;
  std::vector<std::string> decoding;
  bool complete = false;
};

class ChunkRecorder {
 public:
  ChunkSink Sink() {
    return [this](const DecodedChunk& chunk) { Record(chunk); };
  }

  void Record(const DecodedChunk& chunk) {
    auto key = std::make_pair(std::string(chunk.layer), chunk.unit_id);
    auto it = open_.find(key);
    if (it == open_.end()) {
      units_.push_back(Unit{key.first, chunk.unit_id, {}, *chunk.decoding, false});
      it = open_.emplace(key, units_.size() - 1).first;
    }
    Unit& unit = units_[it->second];
    unit.bytes.append(reinterpret_cast<const char*>(chunk.bytes.data()), chunk.bytes.size());
    unit.decoding = *chunk.decoding;
    ++chunks_;
    if (chunk.unit_end) {
      unit.complete = true;
      open_.erase(it);
    }
  }

  // The first unit whose bytes contain `needle`, optionally only in `layer`.
  const Unit* Find(const std::string& needle, const std::string& layer = "") const {
    for (const auto& unit : units_) {
      if ((layer.empty() || unit.layer == layer) && unit.bytes.find(needle) != std::string::npos) {
        return &unit;
      }
    }
    return nullptr;
  }
  std::vector<const Unit*> InLayer(const std::string& layer) const {
    std::vector<const Unit*> out;
    for (const auto& unit : units_) {
      if (unit.layer == layer) out.push_back(&unit);
    }
    return out;
  }
  const std::vector<Unit>& units() const { return units_; }
  size_t chunks() const { return chunks_; }

 private:
  std::vector<Unit> units_;
  std::map<std::pair<std::string, uint64_t>, size_t> open_;
  size_t chunks_ = 0;
};

inline std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace credsentry::stream::decoders::testing
