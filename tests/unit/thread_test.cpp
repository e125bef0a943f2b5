#include <pthread.h>
#include <time.h>

#include <atomic>
#include <catch2/catch.hpp>

#include "vmm/common/thread.hpp"

using berth::Thread;

namespace {

// The size of the calling thread's stack, as the C library set it up.
std::size_t own_stack_size() {
    pthread_attr_t attr;
    REQUIRE(::pthread_getattr_np(::pthread_self(), &attr) == 0);
    std::size_t size = 0;
    ::pthread_attr_getstacksize(&attr, &size);
    ::pthread_attr_destroy(&attr);
    return size;
}

}  // namespace

TEST_CASE("a Thread runs its body and join waits for it") {
    std::atomic<int> runs{0};
    Thread thread([&] { runs += 1; });
    CHECK(thread.joinable());
    thread.join();
    CHECK_FALSE(thread.joinable());
    CHECK(runs == 1);
    thread.join();  // a second join is a no-op
}

TEST_CASE("a Thread's stack is too small for a 2 MiB transparent huge page") {
    std::size_t size = 0;
    Thread([&] { size = own_stack_size(); }).join();
    CHECK(size >= Thread::stack_size);
    CHECK(size < std::size_t{2} << 20);
}

TEST_CASE("destroying a running Thread joins it") {
    std::atomic<bool> finished{false};
    {
        Thread thread([&] {
            struct timespec pause {
                0, 20'000'000
            };
            ::nanosleep(&pause, nullptr);
            finished = true;
        });
    }
    CHECK(finished);
}

TEST_CASE("moving a Thread moves the running thread") {
    std::atomic<int> runs{0};
    Thread first([&] { runs += 1; });
    Thread second(std::move(first));
    CHECK_FALSE(first.joinable());
    CHECK(second.joinable());
    Thread third;
    third = std::move(second);
    third.join();
    CHECK(runs == 1);
    // Move-assigning over a running thread joins it first.
    Thread a([&] { runs += 1; });
    a = Thread([&] { runs += 1; });
    a.join();
    CHECK(runs == 3);
}
