"""gdb script: stop once at every instruction of the given functions and record registers, stack and gdb's backtrace.

Run as `gdb -nx -batch -x gdb_capture.py --args PROGRAM ARGS` with ORC_CAPTURE_OUT (a .jsonl path) and
ORC_CAPTURE_FUNCS ("vaddr:size,..." in hex, ELF virtual addresses).  One JSON line per stop:
{"regs": {dwarf number: value}, "stack_base", "stack" (hex, sp .. top of [stack]), "gdb": [pc, ...]
(physical frames only),
 "mappings": [[start, end, offset, path], ...] of the program itself}.
"""

import json
import os

import gdb

REGS = ["rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp",
        "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip"]


def mappings_of(exe):
    own, stack = [], None
    for line in gdb.execute("info proc mappings", to_string=True).splitlines():
        parts = line.split()
        if len(parts) < 5 or not parts[0].startswith("0x"):
            continue
        start, end, _size, offset = (int(p, 16) for p in parts[:4])
        path = parts[-1]
        if path == exe:
            own.append([start, end, offset, path])
        elif path == "[stack]":
            stack = (start, end)
    return own, stack


def main():
    out = open(os.environ["ORC_CAPTURE_OUT"], "w")
    funcs = [tuple(int(x, 16) for x in f.split(":")) for f in os.environ["ORC_CAPTURE_FUNCS"].split(",")]
    for command in ("set pagination off", "set confirm off", "set backtrace past-main on", "set backtrace limit 64"):
        gdb.execute(command)
    gdb.execute("starti", to_string=True)
    own, stack = mappings_of(gdb.current_progspace().filename)
    bias = min(start - offset for start, _, offset, _ in own)
    arch = gdb.selected_frame().architecture()
    for vaddr, size in funcs:
        for insn in arch.disassemble(bias + vaddr, bias + vaddr + size - 1):
            gdb.execute(f"tbreak *{insn['addr']:#x}", to_string=True)
    ulong = gdb.lookup_type("unsigned long")
    while True:
        try:
            gdb.execute("continue", to_string=True)
            frame = gdb.newest_frame()
        except gdb.error:
            break
        regs = {i: int(frame.read_register(name).cast(ulong)) for i, name in enumerate(REGS)}
        sp = regs[7]
        memory = gdb.selected_inferior().read_memory(sp, stack[1] - sp).tobytes()
        pcs = []
        while frame is not None:
            if frame.type() != gdb.INLINE_FRAME:  # inlined calls share their caller's physical frame
                pcs.append(frame.pc())
            frame = frame.older()
        out.write(json.dumps({"regs": regs, "stack_base": sp, "stack": memory.hex(), "gdb": pcs,
                              "mappings": own}) + "\n")
    out.close()


main()
