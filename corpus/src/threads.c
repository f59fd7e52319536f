/* Several threads with their own deep stacks, a mutex and joins: per-thread truth and tids. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long shared;
volatile long sink;

__attribute__((noinline)) long leaf(long x) { sink = x; return x * 7 + 1; }

__attribute__((noinline)) long climb(int n, long seed) {
    if (n == 0)
        return leaf(seed);
    return climb(n - 1, seed + n) + 1;
}

static void *worker(void *arg) {
    long id = (long)arg, local = 0;
    for (int i = 0; i < 300; i++) {
        local += climb(10 + (int)id * 3, id + i);
        if (i % 50 == 0) {
            pthread_mutex_lock(&lock);
            shared += local % 1000;
            pthread_mutex_unlock(&lock);
        }
    }
    return (void *)local;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 3;
    pthread_t tids[8];
    long total = 0;
    for (long i = 0; i < n && i < 8; i++)
        pthread_create(&tids[i], NULL, worker, (void *)i);
    for (long i = 0; i < n && i < 8; i++) {
        void *result;
        pthread_join(tids[i], &result);
        total += (long)result;
    }
    printf("threads total=%ld shared=%ld\n", total, shared);
    return 0;
}
