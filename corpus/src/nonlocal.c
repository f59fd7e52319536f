/* Non-local control flow: setjmp/longjmp out of deep frames, signal handlers that call functions. */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static jmp_buf env;
static volatile sig_atomic_t handled;
volatile long sink;

__attribute__((noinline)) long leaf(long x) { sink = x; return x + 1; }

__attribute__((noinline)) void dive(int depth, int target) {
    if (depth == target)
        longjmp(env, depth + 1);
    leaf(depth);
    dive(depth + 1, target);
    sink++;
}

__attribute__((noinline)) long in_handler(int sig) {
    long r = 0;
    for (int i = 0; i < 50; i++)
        r += leaf(i + sig);
    return r;
}

static void handler(int sig) {
    sink += in_handler(sig);
    handled++;
}

__attribute__((noinline)) void send_signal(int i) {
    leaf(i);
    raise(SIGUSR1);
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 30;
    struct sigaction sa = {0};
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    long total = 0;
    for (int i = 0; i < rounds; i++) {
        int v = setjmp(env);
        if (v == 0)
            dive(0, 5 + i % 11);
        total += v;
        send_signal(i);
    }
    printf("nonlocal total=%ld handled=%d\n", total, (int)handled);
    return 0;
}
