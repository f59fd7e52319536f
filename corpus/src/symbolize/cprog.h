/* Shared declarations of the C symbolisation program. */
#ifndef CPROG_H
#define CPROG_H
static inline unsigned clamp_add(unsigned a, unsigned b) { return a + b < a ? ~0u : a + b; }
unsigned table_sum(int n);
#endif
