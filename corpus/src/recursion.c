/* Deep and mutual recursion, leaf functions and tail calls. */
#include <stdio.h>
#include <stdlib.h>

volatile long sink;

__attribute__((noinline)) long leaf(long x) { return x * 3 + 1; }

__attribute__((noinline)) long deep(int n) {
    if (n == 0)
        return leaf(n);
    long r = deep(n - 1);
    sink += r;
    return r + n;
}

long is_odd(long n);
__attribute__((noinline)) long is_even(long n) { return n == 0 ? 1 : is_odd(n - 1) + leaf(n) * 0; }
__attribute__((noinline)) long is_odd(long n) { return n == 0 ? 0 : is_even(n - 1) + leaf(n) * 0; }

__attribute__((noinline)) long tail_target(long x) { sink = x; return leaf(x) + x; }
__attribute__((noinline)) long tail_middle(long x) { return tail_target(x + 1); }
__attribute__((noinline)) long tail_top(long x) { sink = x; return tail_middle(x * 2); }

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 200;
    long total = 0;
    for (int i = 0; i < rounds; i++) {
        total += deep(40 + i % 7);
        total += is_even(30 + i % 5);
        total += tail_top(i);
    }
    printf("recursion total=%ld\n", total);
    return 0;
}
