// A persistent thread pool with sleeping (not spinning) idle workers, and work-sharing helpers.
// Part of the alal engine kernels (see kernels.cpp); every header is included once, into kernels.cpp.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>
#include <unistd.h>

#include "simd.h"

namespace {

// ------------------------------------------------------------------------------------------ threads

// run(nt, fn) calls fn(thread_index, nt) on the caller (index 0) and nt-1 pool workers, returning when all
// are done. Workers are created on demand and sleep between tasks. One task at a time (a mutex serialises
// callers from different Python threads). After fork() the child gets a fresh pool (the parent's worker
// threads do not exist there).
class ThreadPool {
  public:
    static ThreadPool& get() {
        static std::mutex create;
        static ThreadPool* pool = nullptr;
        static pid_t owner = 0;
        std::lock_guard<std::mutex> lock(create);
        if (pool == nullptr || owner != getpid()) {
            pool = new ThreadPool();  // a pool inherited through fork() is abandoned, never joined
            owner = getpid();
        }
        return *pool;
    }

    void run(int nt, const std::function<void(int, int)>& fn) {
        if (nt <= 1) {
            fn(0, 1);
            return;
        }
        std::lock_guard<std::mutex> one_task(run_mutex_);
        {
            std::lock_guard<std::mutex> lock(m_);
            while ((int)workers_.size() < nt - 1) {
                int index = (int)workers_.size() + 1;
                workers_.push_back(new std::thread([this, index] { loop(index); }));
            }
            task_ = &fn;
            active_ = nt - 1;
            pending_ = nt - 1;
            ++generation_;
        }
        start_.notify_all();
        fn(0, nt);
        std::unique_lock<std::mutex> lock(m_);
        done_.wait(lock, [this] { return pending_ == 0; });
        task_ = nullptr;
    }

  private:
    std::mutex m_, run_mutex_;
    std::condition_variable start_, done_;
    std::vector<std::thread*> workers_;
    const std::function<void(int, int)>* task_ = nullptr;
    int active_ = 0, pending_ = 0;
    uint64_t generation_ = 0;

    void loop(int index) {
        FlushDenormals ftz;
        uint64_t seen = 0;
        std::unique_lock<std::mutex> lock(m_);
        for (;;) {
            start_.wait(lock, [&] { return generation_ != seen; });
            seen = generation_;
            if (index > active_) continue;  // this task needs fewer threads
            const std::function<void(int, int)>* task = task_;
            const int nt = active_ + 1;
            lock.unlock();
            (*task)(index, nt);
            lock.lock();
            if (--pending_ == 0) done_.notify_all();
        }
    }
};

inline void parallel(int nt, const std::function<void(int, int)>& fn) {
    ThreadPool::get().run(std::max(1, nt), [&](int t, int tn) {
        FlushDenormals ftz;
        fn(t, tn);
    });
}

// [begin, end) of the t-th of tn equal parts of [0, n)
inline void split(int64_t n, int t, int tn, int64_t& begin, int64_t& end) {
    begin = n * t / tn;
    end = n * (t + 1) / tn;
}

// Work items handed out one chunk at a time (load balance when a core is shared or items differ in cost).
struct Dispenser {
    std::atomic<int64_t> next{0};
    int64_t n, chunk;
    Dispenser(int64_t n_, int64_t chunk_) : n(n_), chunk(chunk_) {}
    bool take(int64_t& begin, int64_t& end) {
        begin = next.fetch_add(chunk);
        if (begin >= n) return false;
        end = std::min(n, begin + chunk);
        return true;
    }
};

}  // namespace
