/* Deep recursion whose depth changes from round to round (40-240 frames of ~100 bytes): stacks far
 * deeper than a perf stack copy, whose outer frames stay put while the inner ones come and go. */
#include <stdio.h>
#include <stdlib.h>

volatile long sink;

__attribute__((noinline)) long leaf(long x) {
    for (int i = 0; i < 20; i++)
        sink += x + i;
    return x * 3 + 1;
}

__attribute__((noinline)) long descend(int n, long acc) {
    volatile long pad[8];  /* a real frame: locals the stack copy has to hold */
    pad[n & 7] = acc;
    if (n == 0)
        return leaf(acc);
    long r = descend(n - 1, acc + n) + pad[n & 7];
    if ((n & 15) == 0)
        r += leaf(r);
    return r;
}

__attribute__((noinline)) long round_of(int depth) { return descend(depth, depth); }

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 60;
    unsigned seed = 12345;
    long total = 0;
    for (int i = 0; i < rounds; i++) {
        seed = seed * 1103515245u + 12345u;
        total += round_of(40 + (int)(seed >> 16) % 200);
    }
    printf("deeprec total=%ld\n", total);
    return 0;
}
