// Hyperscan scratch per thread (Hyperscan forbids sharing one between concurrent scans), grown
// for whichever database of type Db the thread last used. Keyed by the database's generation,
// not its address: a reloaded database may land at a freed one's address.
#pragma once

#include <hs/hs.h>

#include <cstdint>

namespace credsentry::match {

template <class Db>
class ThreadScratch {
 public:
  ThreadScratch() = default;
  ThreadScratch(const ThreadScratch&) = delete;
  ThreadScratch& operator=(const ThreadScratch&) = delete;
  ~ThreadScratch() {
    if (scratch_) hs_free_scratch(scratch_);
  }
  // Scratch fit for `db`, or null when Hyperscan cannot allocate it.
  hs_scratch_t* For(const Db& db) {
    if (generation_ != db.generation()) {
      if (hs_alloc_scratch(db.hs(), &scratch_) != HS_SUCCESS) return nullptr;
      generation_ = db.generation();
    }
    return scratch_;
  }

 private:
  hs_scratch_t* scratch_ = nullptr;
  uint64_t generation_ = 0;
};

}  // namespace credsentry::match
