/* Test program for core-file unwinding: parks its threads in known states, prints
 * "ready" and waits to be dumped with gcore.  Thread shapes: deep recursion, a thread
 * stopped inside a signal handler that interrupted a busy loop, a comparator under
 * libc's qsort, a thread blocked in libc's pause(), a handler running on an alternate
 * signal stack (sigaltstack), and the main thread. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define NTHREADS 5
static atomic_int parked;
static volatile int spinning, spinning_alt;
static char altstack[64 * 1024] __attribute__((aligned(16)));

/* Block forever in a raw pause(2) issued from this frame, so frame 0 is our own code. */
__attribute__((noinline)) void park(void)
{
    atomic_fetch_add(&parked, 1);
    for (;;) {
        long ret = 34; /* SYS_pause */
        __asm__ volatile("syscall" : "+a"(ret) : : "rcx", "r11", "memory");
    }
}

__attribute__((noinline)) int recurse(int n)
{
    int r;
    if (n == 0) {
        park();
        return 0;
    }
    r = recurse(n - 1);
    __asm__ volatile("" : "+r"(r)); /* no tail call, no accumulator loop */
    return r + n;
}

__attribute__((noinline)) void in_handler(int depth)
{
    if (depth == 0)
        park();
    else
        in_handler(depth - 1);
    __asm__ volatile("");
}

static void on_usr1(int sig)
{
    in_handler(sig & 3);
}

__attribute__((noinline)) void spin(void)
{
    spinning = 1;
    for (unsigned long i = 0;; i++)
        __asm__ volatile("" : "+r"(i));
}

__attribute__((noinline)) int compare(const void *a, const void *b)
{
    static atomic_int calls;
    if (atomic_fetch_add(&calls, 1) == 5)
        park();
    return *(const int *)a - *(const int *)b;
}

static void *recursion_thread(void *arg)
{
    recurse((int)(long)arg);
    return NULL;
}

static void *signal_thread(void *arg)
{
    (void)arg;
    spin();
    return NULL;
}

static void on_usr2(int sig)
{
    in_handler(sig & 1); /* SIGUSR2 = 12: park right away */
}

__attribute__((noinline)) void spin_alt(void)
{
    spinning_alt = 1;
    for (unsigned long i = 0;; i++)
        __asm__ volatile("" : "+r"(i));
}

static void *altstack_thread(void *arg)
{
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
    (void)arg;
    sigaltstack(&ss, NULL);
    spin_alt();
    return NULL;
}

static void *qsort_thread(void *arg)
{
    int values[64];
    (void)arg;
    for (int i = 0; i < 64; i++)
        values[i] = (i * 37) % 64;
    qsort(values, 64, sizeof values[0], compare);
    return NULL;
}

__attribute__((noinline)) void wait_in_libc(void)
{
    atomic_fetch_add(&parked, 1);
    for (;;)
        pause();
}

static void *libc_thread(void *arg)
{
    (void)arg;
    wait_in_libc();
    return NULL;
}

int main(int argc, char **argv)
{
    pthread_t threads[NTHREADS];
    pthread_attr_t attr;
    struct sigaction sa = {.sa_handler = on_usr1};
    int depth = argc > 1 ? atoi(argv[1]) : 40;

    struct sigaction alt = {.sa_handler = on_usr2, .sa_flags = SA_ONSTACK};

    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigemptyset(&alt.sa_mask);
    sigaction(SIGUSR2, &alt, NULL);
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024); /* small stacks keep the cores small */
    pthread_create(&threads[0], &attr, recursion_thread, (void *)(long)depth);
    pthread_create(&threads[1], &attr, signal_thread, NULL);
    pthread_create(&threads[2], &attr, qsort_thread, NULL);
    pthread_create(&threads[3], &attr, libc_thread, NULL);
    pthread_create(&threads[4], &attr, altstack_thread, NULL);
    while (!spinning || !spinning_alt)
        usleep(1000);
    pthread_kill(threads[1], SIGUSR1);
    pthread_kill(threads[4], SIGUSR2);
    while (atomic_load(&parked) < NTHREADS)
        usleep(1000);
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    park();
    return 0;
}
