/* Second unit of the C symbolisation program. */
#include "cprog.h"

static int square(int x) { return x * x; }

unsigned table_sum(int n)
{
    unsigned t = 0;
    for (int i = 0; i < n; i++)
        t = clamp_add(t, (unsigned)square(i));
    return t;
}
