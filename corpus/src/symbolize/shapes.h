// Templates and inline functions shared by shapes_main.cpp and shapes_lib.cpp (symbolisation builds).
#pragma once
#include <cstddef>
#include <vector>

namespace shapes {

template <typename T>
struct Accumulator {
    T total{};
    inline void add(T value) { total += value * value - value / 3; }
    template <typename F>
    void apply(const std::vector<T>& items, F f) {
        for (const T& item : items) add(f(item));
    }
};

static inline int mix(int a, int b) { return (a * 31) ^ (b + 7); }

template <typename T, std::size_t N>
T fold(const T (&values)[N]) {
    T acc = 0;
    for (std::size_t i = 0; i < N; ++i) acc = static_cast<T>(mix(static_cast<int>(acc), static_cast<int>(values[i])));
    return acc;
}

int lib_work(int seed);
double lib_average(const std::vector<double>& v);

}  // namespace shapes
