# Fedora's MiniDebugInfo recipe (gdb manual, "MiniDebugInfo"; rpm's find-debuginfo), run in the directory
# of a built binary `m`: keep the function symbols .dynsym lacks, xz them, and add them as .gnu_debugdata
# to the stripped copy `m.mdi`. Used by tests/unwind/cli/test_symbolize_inputs.py and tests/fuzz/make_seeds.py.
set -e
nm -D m --format=posix --defined-only | awk '{ print $1 }' | sort > dynsyms
nm m --format=posix --defined-only | awk '{ if ($2 == "T" || $2 == "t" || $2 == "D") print $1 }' | sort > funcsyms
comm -13 dynsyms funcsyms > keep_symbols
objcopy --only-keep-debug m m.dbg
objcopy -S --remove-section .gdb_index --remove-section .comment --keep-symbols=keep_symbols m.dbg mini_debuginfo
strip --strip-all -R .comment m -o m.mdi
xz -f mini_debuginfo
objcopy --add-section .gnu_debugdata=mini_debuginfo.xz m.mdi
