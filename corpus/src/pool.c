/* A thread pool: workers take tasks from a shared queue and run each in a deep recursive call
 * chain of changing depth, so every worker thread has its own deep stack under its thread start. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define TASKS 48
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int next_task;
static long results[TASKS];
volatile long sink;

__attribute__((noinline)) long work(long x) {
    for (int i = 0; i < 30; i++)
        sink += x ^ i;
    return x + 1;
}

__attribute__((noinline)) long nest(int n, long seed) {
    volatile long pad[6];
    pad[n % 6] = seed;
    if (n == 0)
        return work(seed);
    long r = nest(n - 1, seed * 3 + n) + pad[n % 6];
    if (n % 20 == 0)
        r += work(r);
    return r;
}

__attribute__((noinline)) long run_task(int task) { return nest(40 + (task * 37) % 200, task); }

static void *worker(void *arg) {
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&lock);
        int task = next_task < TASKS ? next_task++ : -1;
        pthread_mutex_unlock(&lock);
        if (task < 0)
            return NULL;
        results[task] = run_task(task);
    }
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 3;
    pthread_t tids[8];
    for (int i = 0; i < n && i < 8; i++)
        pthread_create(&tids[i], NULL, worker, NULL);
    for (int i = 0; i < n && i < 8; i++)
        pthread_join(tids[i], NULL);
    long total = 0;
    for (int i = 0; i < TASKS; i++)
        total += results[i];
    printf("pool total=%ld\n", total);
    return 0;
}
