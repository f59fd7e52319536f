# Symbols that make libdwfl (eu-stack, eu-addr2line -S) choose differently from perf and llvm-symbolizer:
# labels (NOTYPE, size 0) inside and after sized functions, aliases of every binding at one address,
# nested sized symbols, zero-size FUNCs, OBJECT and sized NOTYPE symbols in code, an absolute symbol.
# Built by tests/unwind/test_symtable.py: gcc -no-pie -nostartfiles -e main -o OUT dwfl_labels.s

        .text
        .globl  main
        .type   main, @function
main:                                   # sized global: labels inside it never win
        xor     %eax, %eax
inside_main:
        nop
        nop
        ret
        .size   main, .-main
after_main:                             # global label right after main: names what follows
        .globl  after_main
        nop
        nop
local_after:                            # a local label after a global one: the globals pass wins
        nop
        nop

        .p2align 4
        .globl  alias_global
        .type   alias_global, @function
        .weak   alias_weak
        .type   alias_weak, @function
        .type   alias_local, @function
alias_local:                            # three sizes at one address, three bindings
alias_weak:
alias_global:
        .fill   40, 1, 0x90                # 40 nops: past the global (24) and the weak (40) alias
        ret
        .size   alias_global, 24
        .size   alias_weak, 40
        .size   alias_local, 8

        .p2align 4
        .type   zero_func, @function
        .globl  zero_func
zero_func:                              # a FUNC of size 0: a label to libdwfl
        nop
        nop
        nop
        nop

        .p2align 4
        .globl  outer
        .type   outer, @function
outer:                                  # a global holding a weak nested symbol
        nop
        nop
        .weak   nested
        .type   nested, @function
nested:
        nop
        nop
        nop
        nop
        .size   nested, .-nested
        nop
        nop
        ret
        .size   outer, .-outer

        .p2align 4
        .type   table_in_text, @object
table_in_text:                          # a local OBJECT in code
        .quad   0, 0
        .size   table_in_text, .-table_in_text
        .type   sized_notype, @notype
sized_notype:                           # a sized NOTYPE local
        nop
        nop
        nop
        .size   sized_notype, .-sized_notype
        nop
two_a:                                  # two local labels at one address
two_b:
        nop
        nop
        .globl  later_global
later_global:                           # a global label after the two locals
        nop
        ret
        nop
        nop

        .globl  absolute_here
        .set    absolute_here, 0x12345
