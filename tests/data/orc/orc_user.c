/* User-space shapes for ORC tables made by objtool: sp-based frames, an rbp frame (alloca),
 * a realigned stack (aligned local), recursion, and a leaf.  Built by tests/data/orc/fixtures.py. */
#include <alloca.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

volatile int sink;

__attribute__((noinline)) int leaf(int x)
{
    sink = x;
    return x * 3 + 1;
}

__attribute__((noinline)) int with_buffer(int x)
{
    volatile char buf[64];
    buf[x & 63] = (char)x;
    return leaf(buf[x & 63]) + 2;
}

__attribute__((noinline)) int with_alloca(int n)
{
    char *p = alloca(n + 16);
    memset(p, n, n + 16);
    return with_buffer(p[n]) + p[0];
}

__attribute__((noinline)) int realigned(int n)
{
    volatile long block[8] __attribute__((aligned(64)));
    block[n & 7] = n;
    return with_alloca(n & 31) + (int)block[n & 7];
}

__attribute__((noinline)) int recurse(int depth, int n)
{
    if (depth == 0)
        return realigned(n);
    return recurse(depth - 1, n + 1) + 1;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 3;
    int total = 0;
    for (int i = 0; i < rounds; i++)
        total += recurse(3, i);
    printf("%d\n", total);
    return 0;
}
