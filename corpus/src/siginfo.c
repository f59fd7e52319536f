/* Signal delivery details a handler can observe: siginfo, the saved ucontext, masks, SA_ flags, the alternate stack. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

static char altstack[65536];
static volatile int depth;

static void info_handler(int sig, siginfo_t *si, void *ctx) {
    ucontext_t *uc = ctx;
    char local;
    int on_alt = (uintptr_t)&local >= (uintptr_t)altstack && (uintptr_t)&local < (uintptr_t)altstack + sizeof altstack;
    printf("sig=%d signo=%d code=%d pid-ok=%d uc_link=%p ss_flags=%d on_alt=%d\n", sig, si->si_signo, si->si_code,
           si->si_pid == getpid(), (void *)uc->uc_link, uc->uc_stack.ss_flags, on_alt);
    printf("  saved rip-raise=%ld rsp-below-local=%d usr2-saved-blocked=%d\n",
           (long)(uc->uc_mcontext.gregs[REG_RIP] - (greg_t)(uintptr_t)raise),
           (uintptr_t)uc->uc_mcontext.gregs[REG_RSP] > (uintptr_t)&local || on_alt,
           sigismember(&uc->uc_sigmask, SIGUSR2));
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    printf("  in-handler blocked: self=%d usr2=%d\n", sigismember(&now, sig), sigismember(&now, SIGUSR2));
    if (depth++ == 0 && sig == SIGUSR1)
        raise(SIGUSR1); /* SA_NODEFER: delivered again right here */
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0); /* the run ends with SIGTERM: nothing may wait in a buffer */
    struct sigaction sa = {0};
    sa.sa_sigaction = info_handler;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR2);
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);

    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
    sigaltstack(&ss, NULL);
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
    sigaction(SIGUSR2, &sa, NULL);
    depth = 1;
    kill(getpid(), SIGUSR2);
    struct sigaction now;
    sigaction(SIGUSR2, NULL, &now);
    printf("after resethand: default=%d\n", now.sa_handler == SIG_DFL);

    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, NULL);
    depth = 1;
    raise(SIGUSR1);
    printf("blocked: not yet delivered\n");
    sigprocmask(SIG_UNBLOCK, &block, NULL);
    printf("unblocked: delivered before this line\n");
    signal(SIGTERM, SIG_DFL);
    raise(SIGTERM);
    printf("not reached\n");
    return 0;
}
