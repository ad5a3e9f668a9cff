#!/usr/bin/env bash
# The minimum Rust version (MSRV) the committed Cargo.lock really needs, checked
# against what DESCRIPTION and the Cargo.toml files promise, then proven by
# building with that toolchain. From anywhere:
#   bash dev/msrv.sh             # compute, compare, build (a few minutes)
#   bash dev/msrv.sh --no-build  # compute and compare only (seconds)
# 1. For each platform we ship on (x86_64 Linux, x86_64 Windows (gnu), Apple
#    arm64 and x86_64): `cargo metadata --filter-platform <target>`, walked
#    from the orthanc package along normal and build dependencies (never
#    dev-dependencies), following an optional dependency only when a feature
#    of its parent switches it on: Cargo.lock and metadata's `resolve` also
#    list the targets of weak `dep?/feature` entries (reqwest -> hyper-rustls,
#    rustls, ring), which are never compiled. The highest `rust_version` of
#    the crates reached (the workspace's own crates left out) is that
#    platform's MSRV; the crates that set it are printed. Metadata unifies
#    features with the dev-dependencies', so the walk can include a crate or
#    two more than `cargo tree -e normal,build` (futures-io, futures-macro):
#    erring on the safe side.
# 2. The lock file as a whole: the offline build from the vendored crates
#    (dev/vendor.sh, src/rust/vendor-config.toml) makes cargo parse the
#    Cargo.toml of every crate in Cargo.lock, for every platform, dev ones
#    included (stubbed crates keep theirs), and cargo before 1.85 cannot parse
#    `edition = "2024"`. So one edition-2024 crate anywhere in the lock
#    file means cargo >= 1.85 for everybody.
# 3. The MSRV is the highest of these. DESCRIPTION's `rustc >= X.Y.0` and the
#    `rust-version` of src/rust/Cargo.toml and src/rust/core/Cargo.toml must
#    say exactly that version (fails otherwise).
# 4. Unless --no-build: installs that toolchain (rustup, profile minimal, with
#    the targets), vendors Cargo.lock into a temporary folder like
#    dev/vendor.sh does and, offline from it with --locked, as an R package
#    installation would: `cargo +MSRV build --release --lib -p orthanc` for
#    this host, `cargo +MSRV check --lib -p orthanc` for the other three.
#    This is the real proof: about a quarter of the crates declare no
#    rust-version, and such a crate can need a newer Rust than all the others
#    (async-compression 0.4.33 to 0.4.36 use `impl Trait + use<..>`, Rust
#    1.82, and declare nothing).
#
# Prints one line per step (ok/FAILED); exits non-zero on any failure. Work
# files (vendored crates, target directory) go to MSRV_WORK_DIR, default
# /tmp/orthanc-msrv; the target directory is kept for the next run.
#
# Holding the MSRV down when `cargo update` raised it: set rust-version to the
# goal, `CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback cargo update` (the
# newest versions that declare that Rust or less), then
# `cargo update -p CRATE --precise VERSION` for what this script or the build
# still reports. Today's lock holds back, among others, idna_adapter at 1.1.0
# (the unicode-rs back end instead of ICU4X, which needs 1.81 or 1.88),
# async-compression and compression-codecs at 0.4.32 (see 4.) and, for 2.,
# getrandom 0.3 at 0.3.3 and wasi 0.14 at 0.14.4 (later ones pull in
# wit-bindgen 0.57, edition 2024, for wasm targets).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export PATH="$PATH:$HOME/.cargo/bin"

build=1
case "${1:-}" in
  --no-build) build=0 ;;
  "") ;;
  *) echo "usage: bash dev/msrv.sh [--no-build]" >&2; exit 2 ;;
esac

targets=(x86_64-unknown-linux-gnu x86_64-pc-windows-gnu aarch64-apple-darwin x86_64-apple-darwin)
host=$(rustc -vV | sed -n 's/^host: //p')
work="${MSRV_WORK_DIR:-/tmp/orthanc-msrv}"
mkdir -p "$work/logs"
failed=0

# "1.81" -> "1.81.0", so that versions compare and print alike.
norm() { local v=$1; while [ "$(echo "$v" | tr -cd . | wc -c)" -lt 2 ]; do v="$v.0"; done; echo "$v"; }
# The higher of two versions.
vmax() { printf '%s\n%s\n' "$(norm "$1")" "$(norm "$2")" | sort -V | tail -n 1; }

# The crates built for the platform metadata was filtered on, as
# "rust_version<TAB>name<TAB>version<TAB>workspace member (true/false)".
read -r -d '' walk <<'EOF' || true
(.packages | map({key: .id, value: .}) | from_entries) as $pkg
| (.resolve.nodes | map({key: .id, value: .}) | from_entries) as $node
| def live_deps($id):
    $pkg[$id] as $p | $node[$id] as $n
    | ($n.features // []) as $on
    # what the parent's active features list: "dep:x", "x/feature", "x?/feature", ...
    | ([$on[] as $f | ($p.features[$f] // [])[]]) as $entries
    | $n.deps[]
    | . as $e
    | ($pkg[$e.pkg].name) as $dname
    # the parent's declarations of this dependency that make it a real one
    | [$p.dependencies[]
       | select(.name == $dname and (.kind == null or .kind == "build"))
       | select(.rename == null or (.rename | gsub("-"; "_")) == $e.name)
       | (.rename // .name) as $feat
       | select((.optional | not)
                or ($on | index($feat))
                or ($entries | index("dep:" + $feat))
                or any($entries[]; startswith($feat + "/")))]
    | select(length > 0)
    | $e.pkg;
  ([.packages[] | select(.name == "orthanc" and .source == null) | .id][0]) as $root
| {seen: {($root): true}, todo: [$root]}
| until(.todo == [];
    .todo[0] as $id | .todo |= .[1:]
    | reduce live_deps($id) as $d (.;
        if .seen[$d] then . else .seen[$d] = true | .todo += [$d] end))
| .seen | keys[] | $pkg[.]
| "\(.rust_version // "")\t\(.name)\t\(.version)\t\(.source == null)"
EOF

# cargo runs from the package root with --manifest-path, not from src/rust: an
# in-place installation leaves src/rust/.cargo/config.toml behind (src/Makevars),
# which would send cargo to whatever src/rust/vendor holds.
manifest=(--manifest-path "$root/src/rust/Cargo.toml")
echo "== MSRV of the crates built for each platform (src/rust/Cargo.lock)"
overall=0.0.0
for target in "${targets[@]}"; do
  list="$work/crates-$target.tsv"
  cargo metadata "${manifest[@]}" --locked --format-version 1 --filter-platform "$target" 2>"$work/logs/metadata.log" |
    jq -r "$walk" > "$list"
  # the highest rust_version among the dependencies (workspace members left out)
  top=$(awk -F'\t' '$4 == "false" && $1 != "" { print $1 }' "$list" | while read -r v; do norm "$v"; done | sort -V | tail -n 1)
  top=${top:-0.0.0}
  setters=$(awk -F'\t' -v top="$top" '$4 == "false" && $1 != "" {
      v = $1; n = split(v, a, "."); if (n < 3) v = v (n < 2 ? ".0.0" : ".0")
      if (v == top) printf "%s%s %s", (s++ ? ", " : ""), $2, $3 }' "$list")
  printf '%-26s %-7s set by %s (%d crates, %d without rust-version)\n' "$target" "${top%.0}" "$setters" \
    "$(awk -F'\t' '$4 == "false"' "$list" | wc -l)" "$(awk -F'\t' '$4 == "false" && $1 == ""' "$list" | wc -l)"
  overall=$(vmax "$overall" "$top")
done

echo "== Editions in the whole Cargo.lock (the vendored build parses every crate's Cargo.toml)"
cargo metadata "${manifest[@]}" --locked --format-version 1 2>>"$work/logs/metadata.log" |
  jq -r '.packages[] | select(.source != null) | "\(.edition)\t\(.name) \(.version)"' > "$work/editions.tsv"
ed2024=$(awk -F'\t' '$1 >= 2024 { printf "%s%s", (s++ ? ", " : ""), $2 }' "$work/editions.tsv")
if [ -n "$ed2024" ]; then
  printf '%-26s %-7s set by edition 2024: %s\n' "Cargo.lock" 1.85 "$ed2024"
  overall=$(vmax "$overall" 1.85)
else
  printf '%-26s %-7s (no edition-2024 crate; highest edition %s)\n' "Cargo.lock" "-" \
    "$(cut -f1 "$work/editions.tsv" | sort -n | tail -n 1)"
fi
msrv=${overall%.0}
echo "MSRV: $msrv"

echo "== What the package declares"
declared() {
  local what=$1 v=$2
  if [ -n "$v" ] && [ "$(norm "$v")" = "$overall" ]; then
    printf 'ok      %-40s %s\n' "$what" "$v"
  else
    printf 'FAILED  %-40s "%s", should be %s\n' "$what" "$v" "$msrv"
    failed=1
  fi
}
declared "DESCRIPTION rustc >=" "$(tr '\n' ' ' < "$root/DESCRIPTION" | grep -oE 'rustc >= [0-9.]+' | head -n 1 | sed 's/rustc >= //')"
declared "src/rust/Cargo.toml rust-version" "$(sed -n 's/^rust-version *= *"\(.*\)"/\1/p' src/rust/Cargo.toml)"
declared "src/rust/core/Cargo.toml rust-version" "$(sed -n 's/^rust-version *= *"\(.*\)"/\1/p' src/rust/core/Cargo.toml)"

if [ "$build" = 1 ]; then
  echo "== Building with Rust $msrv"
  others=()
  for target in "${targets[@]}"; do [ "$target" = "$host" ] || others+=("$target"); done
  start=$SECONDS
  if rustup toolchain install "$msrv" --profile minimal --no-self-update >"$work/logs/rustup.log" 2>&1 &&
     { [ "${#others[@]}" = 0 ] || rustup target add --toolchain "$msrv" "${others[@]}" >>"$work/logs/rustup.log" 2>&1; }; then
    printf 'ok      %-44s (%ds)\n' "rustup toolchain $msrv, targets" $((SECONDS - start))
  else
    printf 'FAILED  %-44s log %s\n' "rustup toolchain $msrv" "$work/logs/rustup.log"
    exit 1
  fi

  # Vendored like dev/vendor.sh (without its stubs: those keep each Cargo.toml,
  # which is what matters to cargo's parser), built offline from there.
  start=$SECONDS
  rm -rf "$work/vendor"
  if cargo vendor "${manifest[@]}" --locked --versioned-dirs "$work/vendor" >/dev/null 2>"$work/logs/vendor.log"; then
    printf 'ok      %-44s (%ds)\n' "cargo vendor" $((SECONDS - start))
  else
    printf 'FAILED  %-44s log %s\n' "cargo vendor" "$work/logs/vendor.log"
    exit 1
  fi
  offline=("${manifest[@]}" --locked --offline
           --config 'source.crates-io.replace-with="vendored-sources"'
           --config "source.vendored-sources.directory=\"$work/vendor\"")
  export CARGO_TARGET_DIR="$work/target"
  # extendr-ffi's build script wants R (R_HOME; the R headers' version)
  if [ -z "${R_HOME:-}" ]; then R_HOME=$(R RHOME 2>/dev/null || echo /nonexistent-R-home); fi
  export R_HOME

  step() {
    local label=$1 log="$work/logs/$2.log"
    shift 2
    local start=$SECONDS
    if "$@" >"$log" 2>&1; then
      printf 'ok      %-44s (%ds)\n' "$label" $((SECONDS - start))
    else
      printf 'FAILED  %-44s (%ds), log %s:\n' "$label" $((SECONDS - start)) "$log"
      { grep -E '^error' -A 8 "$log" || tail -n 20 "$log"; } | head -n 40 | sed 's/^/    /'
      failed=1
    fi
  }
  step "cargo +$msrv build --release ($host)" "build-$host" \
    cargo "+$msrv" build "${offline[@]}" --release --lib -p orthanc
  for target in "${others[@]}"; do
    step "cargo +$msrv check ($target)" "check-$target" \
      cargo "+$msrv" check "${offline[@]}" --lib -p orthanc --target "$target"
  done
  rm -rf "$work/vendor"
fi

if [ "$failed" != 0 ]; then
  echo "[msrv] FAILED"
  exit 1
fi
if [ "$build" = 1 ]; then
  echo "[msrv] Rust $msrv: declared everywhere, and builds"
else
  echo "[msrv] Rust $msrv: declared everywhere (not built: --no-build)"
fi
