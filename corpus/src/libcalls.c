/* Calls into libc through the PLT, and libc calling back into us (qsort, bsearch). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long compares;

__attribute__((noinline)) int by_value(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    compares++;
    return (x > y) - (x < y);
}

__attribute__((noinline)) void fill(long *v, int n, unsigned seed) {
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        v[i] = (seed >> 8) % 100000;
    }
}

__attribute__((noinline)) long sort_and_search(int n, unsigned seed) {
    long *v = malloc(sizeof(long) * n);
    fill(v, n, seed);
    qsort(v, n, sizeof(long), by_value);
    long key = v[n / 3];
    long *hit = bsearch(&key, v, n, sizeof(long), by_value);
    char text[64];
    snprintf(text, sizeof text, "%ld", hit ? *hit : -1);
    long r = (long)strlen(text) + v[0];
    free(v);
    return r;
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 20;
    long total = 0;
    for (int i = 0; i < rounds; i++)
        total += sort_and_search(200 + i * 10, i);
    printf("libcalls total=%ld compares=%ld\n", total, compares);
    return 0;
}
