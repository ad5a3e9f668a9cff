#!/usr/bin/env bash
# Vendors the Rust dependencies for an offline build (CRAN's Rust policy):
# writes src/rust/vendor.tar.xz, which `R CMD build` then puts in the tarball
# and src/Makevars (src/Makevars.win on Windows) extracts into src/rust/vendor
# at install time, where src/rust/vendor-config.toml (committed) points cargo
# at it.
# vendor.tar.xz is never committed (.gitignore). Run from anywhere:
#   bash dev/vendor.sh
# dev/check.sh and .ci/run run it before `R CMD build`.
#
# `cargo vendor` copies every crate of Cargo.lock, for every platform and the
# dev-dependencies too (about 230 MB). Crates that a build of the library on
# Linux, macOS or Windows (x86_64-pc-windows-gnu, R's Rtools toolchain) never
# compiles (wasm bindings, the import libraries of other Windows targets,
# dev-dependencies) are replaced by stubs: their Cargo.toml stays (cargo reads
# it to resolve the lock file) and their checksum file lists no files, so cargo
# accepts the stub. The crates of the Windows build (schannel, windows-sys, ...)
# stay real: src/Makevars.win builds offline from the same tarball
# (dev/windows-dll.sh checks that).
# Tests, benchmarks, examples and docs are dropped from every crate the same way.
set -euo pipefail
cd "$(dirname "$0")/../src/rust"
export PATH="$PATH:$HOME/.cargo/bin"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo vendor --locked --versioned-dirs --manifest-path Cargo.toml "$work/vendor" >/dev/null 2>"$work/vendor.log" || { cat "$work/vendor.log" >&2; exit 1; }

# The crates a release build of the library compiles on the platforms we support.
keep="$work/keep.txt"
for target in x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu x86_64-apple-darwin aarch64-apple-darwin \
  x86_64-pc-windows-gnu; do
  cargo tree --locked -p orthanc --target "$target" -e normal,build --prefix none -f '{p}' |
    sed -E 's/ \(.*//; s/^([^ ]+) v/\1-/'
done | sort -u > "$keep"

# windows-sys holds the bindings of the whole Windows API (about 19 MB), one
# module per cargo feature (src/Windows/Win32/System/Threading is the feature
# Win32_System_Threading), and rustc does not read the file of a module whose
# feature is off. Its features enabled in the Windows build ("windows-sys-0.61.2
# Win32,Win32_Foundation,..."): the modules of the others are dropped below.
win_features="$work/windows-sys-features.txt"
cargo tree --locked -p orthanc --target x86_64-pc-windows-gnu -e normal,build --prefix none -f '{p}|{f}' |
  sed -nE 's/^(windows-sys) v([^ |]+)[^|]*\|/\1-\2 /p' | sort -u > "$win_features"

stubbed=0
for dir in "$work"/vendor/*/; do
  crate=$(basename "$dir")
  sum=$(grep -oE '"package":"[0-9a-f]+"' "$dir/.cargo-checksum.json")
  if grep -qxF "$crate" "$keep"; then
    # Used: drop what a library build never reads.
    rm -rf "$dir/tests" "$dir/benches" "$dir/examples" "$dir/docs" "$dir/doc" "$dir/.github" \
      "$dir/test-data" "$dir/test-macros" "$dir/testdata"
    features=$(sed -n "s/^$crate //p" "$win_features" | tr ',\n' '  ')
    if [ -d "$dir/src/Windows" ] && [ -n "$features" ]; then
      # Parents before children (sorted); a removed parent takes its children.
      find "$dir/src/Windows" -mindepth 1 -type d | sort | while read -r mod; do
        [ -d "$mod" ] || continue
        feature=${mod#"$dir/src/Windows/"}
        case " $features " in *" ${feature//\//_} "*) ;; *) rm -rf "$mod" ;; esac
      done
    fi
  else
    # Not used on Linux, macOS or Windows: keep only the manifest.
    find "$dir" -mindepth 1 -maxdepth 1 ! -name Cargo.toml ! -name .cargo-checksum.json -exec rm -rf {} +
    mkdir -p "$dir/src"
    : > "$dir/src/lib.rs"
    stubbed=$((stubbed + 1))
  fi
  printf '{"files":{},%s}\n' "$sum" > "$dir/.cargo-checksum.json"
done

# inst/AUTHORS: the authors and licences of the crates that are compiled (CRAN
# asks for them); committed, and regenerated here whenever Cargo.lock changes.
python3 - "$work/vendor" "$keep" ../../inst/AUTHORS <<'PY'
import sys, tomllib, pathlib
vendor, keep, out = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
names = [l.strip() for l in open(keep) if l.strip()]
lines = [
    "The orthanc package includes (in src/rust/vendor.tar.xz) and compiles the",
    "following Rust crates, from https://crates.io, under their own licences.",
    "Their authors and copyright holders, as given in each crate's Cargo.toml:",
    "",
]
for name in names:
    if not (vendor / name).is_dir():  # the package's own crates
        continue
    pkg = tomllib.loads((vendor / name / "Cargo.toml").read_text())["package"]
    authors = ", ".join(pkg.get("authors", [])) or "the " + pkg["name"] + " developers"
    lic = pkg.get("license", "see the crate's licence file")
    lines.append(f"{pkg['name']} {pkg['version']} ({lic}): {authors}")
open(out, "w").write("\n".join(lines) + "\n")
PY

rm -f vendor.tar.xz
# Reproducible: sorted names, fixed owner and time.
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='2000-01-01 00:00Z' \
  -C "$work" -cf - vendor | xz -9 -T2 > vendor.tar.xz
echo "[vendor] src/rust/vendor.tar.xz: $(ls "$work/vendor" | wc -l) crates ($stubbed stubbed), $(du -h vendor.tar.xz | cut -f1)" >&2
