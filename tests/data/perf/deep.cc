// A deep C++ stack that lives long: a 250-300 node chain visited recursively through std::function,
// each node slow enough that many perf samples land in one visit (stitching, issue 14).
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>
struct Node { std::vector<Node> kids; long v; };
static Node build(int depth, long seed) {
    Node n{{}, seed};
    if (depth > 0) n.kids.push_back(build(depth - 1, seed * 31 + depth));
    return n;
}
__attribute__((noinline)) long visit(const Node &n, const std::function<long(long)> &f, int depth) {
    long s = f(n.v);
    for (const Node &k : n.kids) s += visit(k, f, depth + 1);
    if (depth % 16 == 0) { std::map<std::string, long> m; for (int i = 0; i < 40; i++) m[std::to_string(i + s % 7)] = i; s += m.size(); }
    return s;
}
int main() {
    long total = 0;
    for (int r = 0; r < 40; r++) {
        Node root = build(250 + r % 50, r);
        total += visit(root, [](long x) { long y = x; for (int i = 0; i < 30000; i++) y = y * 6364136223846793005L + 1; return y; }, 0);
    }
    std::printf("%ld\n", total);
}
