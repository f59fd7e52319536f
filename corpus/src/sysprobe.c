/* Exercises the system calls the emulator implements; its output must not depend on pid, time or environment. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long r = syscall(999);
    printf("syscall999=%ld errno=%d\n", r, errno);
    struct utsname u;
    printf("uname=%d sysname=%s\n", uname(&u), u.sysname);
    int fd = open("/nonexistent/file", O_RDONLY);
    printf("open-missing=%d errno=%d\n", fd, errno);
    fd = open(argv[0], O_RDONLY);
    char head[4] = {0};
    struct stat st;
    long n = read(fd, head, 4);
    long end = lseek(fd, 0, SEEK_END);
    printf("self read=%ld magic=%.3s size-matches=%d\n", n, head + 1, fstat(fd, &st) == 0 && st.st_size == end);
    printf("close=%d close-again=%d\n", close(fd), close(fd));
    unsigned char rnd[16];
    printf("getrandom=%ld\n", (long)getrandom(rnd, sizeof rnd, 0));
    struct timespec ts;
    printf("clock=%d\n", clock_gettime(CLOCK_MONOTONIC, &ts));
    char *p = malloc(1 << 20);
    memset(p, 1, 1 << 20);
    printf("big-malloc=%d\n", p[12345]);
    free(p);
    fprintf(stderr, "to stderr\n");
    return 3;
}
