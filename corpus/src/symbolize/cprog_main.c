/* A C program with static inline helpers and a second unit (symbolisation builds). */
#include <stdio.h>
#include <string.h>
#include "cprog.h"

static inline unsigned rotate(unsigned x, int k) { return (x << k) | (x >> (32 - k)); }

static unsigned checksum(const char *text)
{
    unsigned h = 2166136261u;
    for (size_t i = 0; i < strlen(text); i++)
        h = rotate(h ^ (unsigned char)text[i], 5) * 16777619u;
    return h;
}

int main(int argc, char **argv)
{
    unsigned total = 0;
    for (int i = 0; i < argc; i++)
        total += checksum(argv[i]) + table_sum(i + 3);
    printf("%u\n", clamp_add(total, 7));
    return 0;
}
