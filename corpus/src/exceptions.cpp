// C++ exceptions thrown through several frames, caught at different depths, with destructors running.
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

static long destroyed;
volatile long sink;

struct Guard {
    long v;
    explicit Guard(long x) : v(x) {}
    ~Guard() { destroyed += v; }
};

__attribute__((noinline)) long leaf(long x) { sink = x; return x * 2; }

__attribute__((noinline)) long thrower(int depth, int limit) {
    Guard g(depth);
    if (depth >= limit)
        throw std::runtime_error("deep");
    return leaf(depth) + thrower(depth + 1, limit);
}

__attribute__((noinline)) long catcher(int i) {
    try {
        return thrower(0, 3 + i % 6);
    } catch (const std::exception &e) {
        return leaf(i) + (long)e.what()[0];
    }
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? std::atoi(argv[1]) : 40;
    long total = 0;
    for (int i = 0; i < rounds; i++)
        total += catcher(i);
    std::printf("exceptions total=%ld destroyed=%ld\n", total, destroyed);
    return 0;
}
