#!/bin/sh
# Build the core-file test programs into OUTDIR and, with --cores, dump a gcore of each
# while its threads are parked (OUTDIR/NAME.core), then kill it.
#   fp     -O2 -fno-omit-frame-pointer          (RBP chain everywhere in our code)
#   nofp   -O2 -fomit-frame-pointer             (CFI only)
#   nocfi  -O2 -fno-omit-frame-pointer, no -g and no .eh_frame for our code (frame pointers only)
#   orc    nofp plus .orc_unwind from objtool --orc (when linux-kbuild-6.1 is installed)
# With --cores it also lets the kernel dump the fp build (SIGABRT, `ulimit -c unlimited`, written
# per /proc/sys/kernel/core_pattern; OUTDIR/kernel.core when that pattern is a plain file name).
# Usage: build.sh OUTDIR [--cores]
set -eu
out=$1
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
cc=${CC:-gcc}
$cc -O2 -g -pthread -fno-omit-frame-pointer "$here/parked.c" -o "$out/fp"
$cc -O2 -g -pthread -fomit-frame-pointer "$here/parked.c" -o "$out/nofp"
$cc -O2 -pthread -fno-omit-frame-pointer -fno-asynchronous-unwind-tables -fno-unwind-tables \
    "$here/parked.c" -o "$out/nocfi"
names="fp nofp nocfi"
# orc: the nofp build given .orc_unwind by the kernel's objtool (6.1), as the orc tests build user code
objtool=${OBJTOOL:-/usr/lib/linux-kbuild-6.1/tools/objtool/objtool}
if [ -x "$objtool" ]; then
    $cc -O2 -g -pthread -fomit-frame-pointer -c "$here/parked.c" -o "$out/orc.o"
    "$objtool" --orc "$out/orc.o" > /dev/null 2>&1   # warns about park's raw syscall; still writes ORC
    $cc -pthread "$out/orc.o" -o "$out/orc"
    names="$names orc"
fi
[ "${2:-}" = "--cores" ] || exit 0
for name in $names; do
    fifo="$out/$name.ready"
    rm -f "$fifo" "$out/$name.core"
    mkfifo "$fifo"
    "$out/$name" 40 > "$fifo" &
    pid=$!
    read -r line < "$fifo"            # "ready PID": every thread is parked
    gcore -o "$out/$name.core.tmp" "$pid" > /dev/null 2>&1
    kill -9 "$pid"
    wait "$pid" 2> /dev/null || true
    mv "$out/$name.core.tmp.$pid" "$out/$name.core"
    rm -f "$fifo"
    echo "$name $pid $line" >> "$out/pids"
done
# The kernel's own dump (NT_FILE offsets in pages, where gcore writes bytes).
pattern=$(cat /proc/sys/kernel/core_pattern 2> /dev/null || echo "|")
case "$pattern" in
    "|"* | */* | *%*) exit 0 ;;   # piped to a helper, or elsewhere: no kernel core here
esac
fifo="$out/kernel.ready"
rm -f "$fifo" "$out/$pattern"
mkfifo "$fifo"
(
    cd "$out"
    ulimit -c unlimited
    ./fp 5 > "$fifo" &
    pid=$!
    read -r line < "$fifo"
    kill -ABRT "$pid"
    wait "$pid" 2> /dev/null || true
    [ -f "$pattern" ] && mv "$pattern" kernel.core
) || true
rm -f "$fifo"
