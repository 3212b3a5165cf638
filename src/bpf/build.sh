#!/bin/sh
# Rebuild the committed BPF objects deterministically (clang from Debian's `clang` package,
# headers from `libbpf-dev` and `linux-libc-dev`). Run from anywhere; CI checks that the
# result is byte-identical to the committed objects.
set -eu
cd "$(dirname "$0")"
CLANG="${CLANG:-clang}"
ARCH_INC="/usr/include/$(uname -m)-linux-gnu"
for prog in drops xdp_filter; do
	"$CLANG" -g -O2 -target bpf -D__TARGET_ARCH_x86 \
		-I"$ARCH_INC" \
		-fdebug-prefix-map="$PWD"=. -fno-ident \
		-c "$prog.bpf.c" -o "$prog.bpf.o.tmp"
	# Drop DWARF (not needed: BTF carries the types aya uses) but keep .BTF/.BTF.ext.
	llvm-strip -g "$prog.bpf.o.tmp"
	mv "$prog.bpf.o.tmp" "$prog.bpf.o"
done
