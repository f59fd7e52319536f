/* An interpreter-like loop: a dispatch function calls handlers through a table, and the `call`
 * handler re-enters the dispatcher for a nested function, so dispatch/handler pairs repeat deeply
 * with the same return addresses (one call site in dispatch for every handler). */
#include <stdio.h>
#include <stdlib.h>

enum { OP_PUSH, OP_ADD, OP_MUL, OP_CALL, OP_RET };
typedef struct { int op, arg; } insn_t;
typedef long (*handler_t)(const insn_t *, long *, int *, int);

volatile long sink;
static insn_t program[16][8];

long dispatch(int fn, int depth);

__attribute__((noinline)) long op_push(const insn_t *i, long *stack, int *sp, int depth) {
    stack[(*sp)++] = i->arg + depth;
    return 0;
}

__attribute__((noinline)) long op_add(const insn_t *i, long *stack, int *sp, int depth) {
    long b = stack[--*sp], a = stack[--*sp];
    for (int k = 0; k < 8; k++)
        sink += a ^ k;
    stack[(*sp)++] = a + b + i->arg + depth;
    return 0;
}

__attribute__((noinline)) long op_mul(const insn_t *i, long *stack, int *sp, int depth) {
    long b = stack[--*sp], a = stack[--*sp];
    stack[(*sp)++] = a * (b | 1) + i->arg;
    return 0;
}

__attribute__((noinline)) long op_call(const insn_t *i, long *stack, int *sp, int depth) {
    stack[(*sp)++] = depth < 60 + i->arg % 50 ? dispatch((i->arg + depth) & 15, depth + 1) : depth;
    return 0;
}

static const handler_t handlers[] = {op_push, op_add, op_mul, op_call};

__attribute__((noinline)) long dispatch(int fn, int depth) {
    long stack[16];
    int sp = 0;
    for (const insn_t *i = program[fn]; i->op != OP_RET; i++)
        handlers[i->op](i, stack, &sp, depth);
    return sp ? stack[sp - 1] : 0;
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 40;
    unsigned seed = 777;
    for (int f = 0; f < 16; f++) {  /* push, push, add|mul, call, add, ret: every function nests */
        seed = seed * 1103515245u + 12345u;
        int r = (int)(seed >> 16);
        program[f][0] = (insn_t){OP_PUSH, r & 7};
        program[f][1] = (insn_t){OP_PUSH, f};
        program[f][2] = (insn_t){(r & 8) ? OP_ADD : OP_MUL, f};
        program[f][3] = (insn_t){OP_CALL, r % 60};
        program[f][4] = (insn_t){OP_ADD, 1};
        program[f][5] = (insn_t){OP_RET, 0};
    }
    long total = 0;
    for (int k = 0; k < rounds; k++)
        total += dispatch(k & 15, k % 30);
    printf("interp total=%ld\n", total);
    return 0;
}
