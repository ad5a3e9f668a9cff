#!/usr/bin/env bash
# CI: proves on Linux that the package builds on Windows (R with Rtools,
# x86_64-pc-windows-gnu), by running the recipe of src/Makevars.win.in the way
# R CMD INSTALL would, with Debian's mingw-w64 in place of Rtools. From
# anywhere:
#   bash dev/windows-dll.sh [vendor.tar.xz]
# 1. installs what is missing: Rust's x86_64-pc-windows-gnu target (rustup)
#    and mingw-w64 (apt-get);
# 2. the vendored crates: the tarball given, else src/rust/vendor.tar.xz, else
#    dev/vendor.sh makes it;
# 3. copies the package's build inputs (DESCRIPTION, tools/, src/ with that
#    tarball) into a temporary folder and writes src/Makevars.win there with
#    tools/msrv.R's Windows branch (what configure.win runs);
# 4. runs make on that Makevars.win with a stand-in for R's Windows Makeconf
#    and winshlib.mk (below): cargo builds the release static library offline
#    from the vendored crates (empty CARGO_HOME, 2 jobs, target directory in
#    the temporary folder), gcc compiles src/entrypoint.c against R's headers
#    (the host's), and the DLL is linked as R links it: PKG_LIBS, the export
#    list src/orthanc-win.def and an import library of R.dll, which this
#    script makes with dlltool from the R API symbols the objects use (those
#    of the host's libR.so that the objects leave undefined); then the
#    recipe's own cleanup runs;
# 5. fails on an undefined symbol at link time, on any export other than
#    R_init_orthanc, on an import of libgcc_s or OpenSSL, and when the
#    recipe's cleanup left files; prints the DLL's size, exports and imports.
# The temporary folder is removed at the end, whatever happens. About 3.5
# minutes on 2 cores with the tarball there (the LTO build of the library),
# 1 more when dev/vendor.sh runs.
# What this does not prove: Debian's mingw-w64 links against msvcrt, Rtools'
# against UCRT (the same API for what Rust uses); build scripts and
# proc-macros are built for Linux here, so the libgcc_eh stand-in of the
# recipe is made but not needed; R.dll's exports are assumed to be libR.so's.
# Called back by the makefile below as `bash dev/windows-dll.sh --r-implib
# OUT OBJECTS...` to make that import library.
set -euo pipefail
export LC_ALL=C
mingw=x86_64-w64-mingw32
target=x86_64-pc-windows-gnu

# --r-implib OUT OBJECTS...: the import library of R.dll for the R symbols that
# OBJECTS (static libraries and object files) use and do not define. R's
# symbols are those the host's libR.so exports: the same API as R.dll, so the
# list is derived, never written by hand. Data (R_NilValue, R_NaInt, ...) is
# marked DATA: the Rust code reads it through mingw's auto-import, which needs
# __imp_ symbols and no code thunk.
if [ "${1:-}" = "--r-implib" ]; then
  out=$2
  shift 2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # --target: read the objects as plain COFF (not through the LLVM plugin,
  # which fails on the bitcode rustc embeds next to the machine code).
  "$mingw-nm" --target=pe-x86-64 "$@" 2>/dev/null > "$tmp/nm.txt" || true
  awk '$1 == "U" { print $2 }' "$tmp/nm.txt" | sed 's/^__imp_//' | sort -u > "$tmp/undefined.txt"
  awk 'NF == 3 && $2 != "U" { print $3 }' "$tmp/nm.txt" | sort -u > "$tmp/defined.txt"
  comm -23 "$tmp/undefined.txt" "$tmp/defined.txt" > "$tmp/needed.txt"
  libr="$(R RHOME)/lib/libR.so"
  [ -f "$libr" ] || { echo "[windows-dll] FAIL: no $libr (R built without --enable-R-shlib): cannot tell R's symbols" >&2; exit 1; }
  nm -D --defined-only "$libr" | awk 'NF == 3 { print $3, $2 }' | sort -u -k1,1 > "$tmp/libR.txt"
  {
    echo "LIBRARY R.dll"
    echo "EXPORTS"
    join "$tmp/needed.txt" "$tmp/libR.txt" | awk '{ print $1 ($2 ~ /^[BbDdGgRrSsVv]$/ ? " DATA" : "") }'
  } > "$tmp/R.def"
  n=$(($(wc -l < "$tmp/R.def") - 2))
  [ "$n" -gt 0 ] || { echo "[windows-dll] FAIL: no R symbols found in $*" >&2; exit 1; }
  echo "[windows-dll] import library of R.dll: $n R symbols ($(grep -c ' DATA$' "$tmp/R.def") of them data)" >&2
  mkdir -p "$(dirname "$out")"
  "$mingw-dlltool" --input-def "$tmp/R.def" --dllname R.dll --output-lib "$out"
  exit 0
fi

script=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
cd "$(dirname "$0")/.."
root=$(pwd)
export PATH="$PATH:$HOME/.cargo/bin"
start=$SECONDS
fail() { echo "[windows-dll] FAIL: $*" >&2; exit 1; }

# 1. Tools.
has_target() {
  local dir
  dir=$(rustc --print target-libdir --target "$target" 2>/dev/null) && compgen -G "$dir/libstd-*.rlib" >/dev/null
}
if ! has_target; then
  echo "[windows-dll] rustup target add $target" >&2
  rustup target add "$target" >&2
fi
if ! command -v "$mingw-gcc" >/dev/null 2>&1; then
  echo "[windows-dll] installing mingw-w64" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends mingw-w64 >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends mingw-w64 >/dev/null; }
fi

# 2. The vendored crates.
tarball=${1:-$root/src/rust/vendor.tar.xz}
if [ ! -f "$tarball" ]; then
  [ $# -eq 0 ] || fail "no such file: $tarball"
  bash dev/vendor.sh
fi
tarball=$(cd "$(dirname "$tarball")" && pwd)/$(basename "$tarball")

# 3. The package's build inputs, without what a build leaves in src/.
work=$(mktemp -d /tmp/orthanc-windll.XXXXXX)
trap 'rm -rf "$work"' EXIT
pkg=$work/pkg
mkdir -p "$pkg"
tar -C "$root" -cf - --exclude=src/rust/target --exclude=src/rust/vendor --exclude=src/rust/.cargo \
  --exclude=src/rust/vendor.tar.xz --exclude='src/*.o' --exclude='src/*.so' --exclude='src/*.dll' \
  --exclude=src/Makevars --exclude=src/Makevars.win DESCRIPTION tools src | tar -C "$pkg" -xf -
cp "$tarball" "$pkg/src/rust/vendor.tar.xz"
# tools/msrv.R writes src/Makevars.win when .Platform$OS.type is "windows".
(cd "$pkg" && Rscript -e '.Platform <- modifyList(base::.Platform, list(OS.type = "windows"))' \
  -e 'source("tools/msrv.R")') >&2
[ -f "$pkg/src/Makevars.win" ] || fail "tools/msrv.R did not write src/Makevars.win"
if grep -n '@[A-Z_]*@' "$pkg/src/Makevars.win" >&2; then fail "placeholders left in src/Makevars.win"; fi

# 4. What R CMD INSTALL runs on Windows: make -f Makevars.win -f Makeconf -f
# winshlib.mk SHLIB=orthanc.dll OBJECTS=entrypoint.o (the default goal is
# Makevars.win's `all`). This stands in for
# the last two: R 4.x's values for what this package uses, Debian's mingw-w64
# as the compiler, the import library above in place of R.dll.
cat > "$work/rwin.mk" <<EOF
BINPREF = $mingw-
CC = \$(BINPREF)gcc
CFLAGS = -O2 -Wall -std=gnu99 -mfpmath=sse -msse2 -mstackrealign
ALL_CPPFLAGS = -I"\$(R_INCLUDE_DIR)" -DNDEBUG \$(PKG_CPPFLAGS) \$(CPPFLAGS)
ALL_CFLAGS = \$(PKG_CFLAGS) \$(CFLAGS)
DLLFLAGS = -s -static-libgcc
SHLIB_LD = \$(CC)
SHLIB_LDFLAGS = -shared
LIBR = -L"\$(RIMPDIR)" -lR
ALL_LIBS = \$(PKG_LIBS) \$(LIBR)
STRIP_STATIC_LIB = \$(BINPREF)strip --strip-debug
BASE = \$(shell basename \$(SHLIB) .dll)

.c.o:
	\$(CC) \$(ALL_CPPFLAGS) \$(ALL_CFLAGS) -c \$< -o \$@

\$(RIMPDIR)/libR.dll.a: \$(STATLIB) \$(OBJECTS)
	bash "$script" --r-implib \$@ \$(STATLIB) \$(OBJECTS)

# winshlib.mk's link, with src/<package>-win.def as the export list.
\$(SHLIB): \$(OBJECTS) \$(RIMPDIR)/libR.dll.a
	\$(SHLIB_LD) \$(SHLIB_LDFLAGS) \$(LDFLAGS) \$(DLLFLAGS) -o \$@ \$(BASE)-win.def \$(OBJECTS) \$(ALL_LIBS)
EOF
echo "[windows-dll] make -f Makevars.win (cargo build --release --target $target, offline; link)" >&2
# Only the host's own R and cargo settings reach the build: no user CARGO_HOME
# (the recipe sets its own), no cargo target dir from outside.
if ! env -u CARGO_HOME -u CARGO_TARGET_DIR -u CARGO_BUILD_TARGET -u RUSTFLAGS \
  make -C "$pkg/src" -f Makevars.win -f "$work/rwin.mk" SHLIB=orthanc.dll OBJECTS=entrypoint.o \
  R_INCLUDE_DIR="$(Rscript -e 'cat(R.home("include"))')" RIMPDIR="$work/rimp" \
  CARGO_LINKER="$mingw-gcc" > "$work/make.log" 2>&1; then
  tail -n 40 "$work/make.log" >&2
  if grep -q "undefined reference" "$work/make.log"; then
    fail "undefined symbols at link time (above): add the Windows libraries they come from to PKG_LIBS in src/Makevars.win.in"
  fi
  fail "make -f Makevars.win failed (above)"
fi
dll=$pkg/src/orthanc.dll
[ -f "$dll" ] || fail "no orthanc.dll"
# From the build's log: cargo's summary, the import library, the link command.
grep -E '^ *Finished |^\[windows-dll\]|^[^ ]*gcc .*-shared ' "$work/make.log" >&2 || true

# The recipe's cleanup (rust_clean) removed what the build put in src/rust.
for left in rust/vendor rust/.cargo rust/target rust/libgcc_mock; do
  [ ! -e "$pkg/src/$left" ] || fail "src/$left is left after the build (rust_clean in src/Makevars.win.in)"
done

# 5. The DLL: exports, imports, size.
"$mingw-objdump" -p "$dll" > "$work/pe.txt"
exports=$(awk '/^\[Ordinal\/Name Pointer\] Table/ { on = 1; next } on && /^\t\[ *[0-9]+\]/ { print $NF; next } on { on = 0 }' "$work/pe.txt")
imports=$(awk '/DLL Name:/ { print $3 }' "$work/pe.txt" | sort -u)
echo "[windows-dll] orthanc.dll: $(stat -c %s "$dll") bytes"
echo "[windows-dll] exports: $(echo "$exports" | tr '\n' ' ')"
echo "[windows-dll] imports: $(echo "$imports" | tr '\n' ' ')"
[ "$exports" = "R_init_orthanc" ] || fail "the DLL must export R_init_orthanc only (src/orthanc-win.def)"
if echo "$imports" | grep -iE '^(libgcc_s|libssl|libcrypto)'; then
  fail "the DLL imports libgcc_s or OpenSSL (above): it must link libgcc statically and use schannel"
fi
echo "[windows-dll] OK in $((SECONDS - start)) s" >&2
