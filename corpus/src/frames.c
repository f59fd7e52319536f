/* Frames unwinders find hard: alloca, VLAs, over-aligned locals (stack realignment), heavy inlining. */
#include <alloca.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

volatile long sink;

__attribute__((noinline)) long leaf(long x) { sink = x; return x ^ 0x55; }

__attribute__((noinline)) long with_alloca(int n) {
    char *buf = alloca(n * 16 + 8);
    memset(buf, n, n * 16 + 8);
    return leaf(buf[n]) + buf[0];
}

__attribute__((noinline)) long with_vla(int n) {
    long vla[n + 1];
    for (int i = 0; i <= n; i++)
        vla[i] = i * n;
    return leaf(vla[n / 2]) + with_alloca(n % 9 + 1);
}

__attribute__((noinline)) long realigned(int n) {
    _Alignas(64) char block[200];
    memset(block, n, sizeof block);
    return leaf(block[n % 200]) + with_vla(n % 13 + 2);
}

static inline __attribute__((always_inline)) long inl3(long x) { return leaf(x + 3) * 2; }
static inline __attribute__((always_inline)) long inl2(long x) { return inl3(x * 5) + 1; }
static inline __attribute__((always_inline)) long inl1(long x) { return inl2(x - 7) + inl3(x); }

__attribute__((noinline)) long inlined_host(int n) { return inl1(n) + realigned(n); }

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 300;
    long total = 0;
    for (int i = 0; i < rounds; i++)
        total += inlined_host(i);
    printf("frames total=%ld\n", total);
    return 0;
}
