// Second unit: with -flto its inline bodies are declared in the other unit's headers.
#include "shapes.h"
#include <numeric>

namespace shapes {

static int helper(int x) {
    int values[4] = {x, x + 1, x * 2, x ^ 5};
    return fold(values);
}

int lib_work(int seed) {
    Accumulator<int> acc;
    std::vector<int> items{seed, seed + 1, seed + 2};
    acc.apply(items, [](int v) { return helper(v) + mix(v, 3); });
    return acc.total;
}

double lib_average(const std::vector<double>& v) {
    Accumulator<double> acc;
    acc.apply(v, [](double d) { return d * 0.5; });
    return v.empty() ? 0.0 : acc.total / static_cast<double>(v.size());
}

}  // namespace shapes
