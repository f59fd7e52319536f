// Test program for linker layouts and C++ names: parks four threads (templates, a functor, lambdas
// run by std::thread, libc's pause) and the main thread, prints "ready PID", waits to be dumped.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

namespace shapes {
std::atomic<int> parked{0};

__attribute__((noinline)) void park() {
    parked++;
    for (;;) pause();
}

template <typename T>
struct Box {
    __attribute__((noinline)) static T deep(int n) {
        if (n == 0) {
            park();
            return T();
        }
        T r = deep(n - 1);
        __asm__ volatile("" : "+r"(r));
        return r + T(n);
    }
};

struct Worker {
    __attribute__((noinline)) void operator()(int n) const { Box<long>::deep(n); }
};
}  // namespace shapes

int main() {
    std::vector<std::thread> threads;
    threads.emplace_back(shapes::Worker(), 3);
    threads.emplace_back([] { shapes::Box<int>::deep(2); });
    threads.emplace_back([] {
        auto owned = std::make_unique<std::vector<int>>(10);
        shapes::park();
    });
    while (shapes::parked.load() < 3) usleep(1000);
    std::printf("ready %d\n", getpid());
    std::fflush(stdout);
    shapes::park();
}
