// A C++ program with templates, lambdas and inlining across two units (symbolisation builds).
#include "shapes.h"
#include <cstdio>
#include <map>
#include <string>

namespace {

template <typename K, typename V>
V lookup_or(const std::map<K, V>& m, const K& key, V fallback) {
    auto it = m.find(key);
    return it == m.end() ? fallback : it->second;
}

struct Counter {
    std::map<std::string, int> counts;
    void bump(const std::string& name, int by) { counts[name] += by; }
    int get(const std::string& name) const { return lookup_or(counts, name, -1); }
};

__attribute__((noinline)) int drive(int rounds) {
    Counter c;
    int sum = 0;
    for (int i = 0; i < rounds; ++i) {
        c.bump(i % 2 ? "odd" : "even", shapes::lib_work(i));
        sum += c.get("odd") + shapes::fold((const int[3]){i, i + 1, i + 2});
    }
    std::vector<double> v{1.0, 2.5, static_cast<double>(sum)};
    return sum + static_cast<int>(shapes::lib_average(v));
}

}  // namespace

int main(int argc, char** argv) {
    (void)argv;
    std::printf("%d\n", drive(argc * 10));
    return 0;
}
