#!/usr/bin/env bash
# Type-checks the extendr crate (and the core crate it pulls in) against the R
# versions and platforms we support, without building or linking anything:
#   bash dev/cross-check.sh
# 1. `cargo check --lib -p orthanc` against R 4.2, 4.4, 4.5 and 4.6 headers.
#    extendr-ffi's build script reads R_MAJOR/R_MINOR from
#    $R_INCLUDE_DIR/Rversion.h and sets the cfgs r_4_4, r_4_5,
#    use_r_ge_version_* from them; the SEXPTYPE enum the crate uses has S4SXP
#    before R 4.4 and OBJSXP from 4.4 on, so each version has to compile.
#    A real header is used where the machine has one (R 4.2: this Debian 12
#    host's `R RHOME`/include; R 4.5: /usr/share/R/include in the Debian 13
#    chroot of dev/orthanc-server, $ORTHANC_CHROOT, once R is installed
#    there); otherwise a minimal Rversion.h with just those two lines is
#    written for that version, and the output says so.
# 2. the same check for aarch64-apple-darwin and x86_64-apple-darwin (the R
#    4.5 header), targets added with rustup if missing.
# Prints one line per check (ok/FAILED, with the log of a failure) and exits
# non-zero if any failed.
#
# One target directory for all of it (CROSS_CHECK_TARGET_DIR, default
# /tmp/orthanc-cross-check): switching R_INCLUDE_DIR reruns only extendr-ffi's
# build script (it has `rerun-if-env-changed=R_INCLUDE_DIR`) and recompiles
# extendr-ffi, extendr-api and orthanc (2-3 s), not the ~130 other crates.
# Each header lives in a folder of its own, which stays for the next run.
# Timings on 2 cores: about 3.5 minutes from scratch, 1 minute after that.
set -euo pipefail
# From the package root with --manifest-path, not from src/rust: an in-place
# installation leaves src/rust/.cargo/config.toml behind (src/Makevars), which
# would send cargo to whatever src/rust/vendor holds.
cd "$(dirname "$0")/.."
export PATH="$PATH:$HOME/.cargo/bin"

export CARGO_TARGET_DIR="${CROSS_CHECK_TARGET_DIR:-/tmp/orthanc-cross-check}"
headers="$CARGO_TARGET_DIR/r-headers"
logs="$CARGO_TARGET_DIR/logs"
mkdir -p "$headers" "$logs"
chroot_dir="${ORTHANC_CHROOT:-/var/cache/orthanc-r/trixie}"

# extendr-ffi's build script asks R for R_HOME when it is unset (and then
# silently assumes R 4.5 if that fails); `cargo check` links nothing, so any
# R_HOME will do.
if [ -z "${R_HOME:-}" ]; then
  R_HOME=$(R RHOME 2>/dev/null || echo /nonexistent-R-home)
fi
export R_HOME

# The "major.minor" an Rversion.h declares ("4.2" from R_MAJOR "4", R_MINOR "2.2").
header_version() {
  awk '$1 == "#define" && $2 == "R_MAJOR" { gsub(/"/, "", $3); maj = $3 }
       $1 == "#define" && $2 == "R_MINOR" { gsub(/"/, "", $3); split($3, m, "."); min = m[1] }
       END { if (maj != "" && min != "") print maj "." min }' "$1/Rversion.h" 2>/dev/null || true
}

# Prints the include folder to use for R version $1 (on stdout) and says on
# stderr whether it is a real one; the candidates follow the version.
include_for() {
  local want=$1 dir
  shift
  for dir in "$@"; do
    if [ -f "$dir/Rversion.h" ] && [ "$(header_version "$dir")" = "$want" ]; then
      echo "[cross-check] R $want: real headers in $dir" >&2
      echo "$dir"
      return
    fi
  done
  dir="$headers/$want"
  mkdir -p "$dir"
  printf '/* minimal header written by dev/cross-check.sh */\n#define R_MAJOR  "%s"\n#define R_MINOR  "%s.0"\n' \
    "${want%%.*}" "${want#*.}" > "$dir/Rversion.h"
  echo "[cross-check] R $want: no real headers here; minimal Rversion.h (R_MAJOR \"${want%%.*}\", R_MINOR \"${want#*.}.0\") in $dir" >&2
  echo "$dir"
}

host_include="$R_HOME/include"
[ -f "$host_include/Rversion.h" ] || host_include=/usr/share/R/include
chroot_include="$chroot_dir/usr/share/R/include"

failed=0
# check LABEL R_VERSION INCLUDE_DIR [cargo arguments]: runs the check and
# verifies that extendr-ffi really saw that R version (its build script falls
# back to R 4.5 without a word when it cannot read the header).
check() {
  local label=$1 want=$2 include=$3 log out triple=host
  shift 3
  log="$logs/$(echo "$label" | tr -c 'A-Za-z0-9.\n-' '_').log"
  local start=$SECONDS
  if R_INCLUDE_DIR="$include" cargo check --manifest-path src/rust/Cargo.toml --locked --lib -p orthanc "$@" > "$log" 2>&1; then
    # The output of extendr-ffi's build script for this target.
    if [ "${1:-}" = "--target" ]; then triple=$2; fi
    if [ "$triple" = host ]; then
      out=$(ls -t "$CARGO_TARGET_DIR"/debug/build/extendr-ffi-*/output 2>/dev/null | head -n 1 || true)
    else
      out=$(ls -t "$CARGO_TARGET_DIR/$triple"/debug/build/extendr-ffi-*/output 2>/dev/null | head -n 1 || true)
    fi
    local seen=""
    if [ -n "$out" ]; then
      seen="$(sed -n 's/^cargo:r_version_major=//p' "$out").$(sed -n 's/^cargo:r_version_minor=//p' "$out")"
    fi
    if [ "$seen" = "$want" ]; then
      printf 'ok      %-40s (%ds)\n' "$label" $((SECONDS - start))
    else
      printf 'FAILED  %-40s extendr-ffi saw R "%s", not %s (%s)\n' "$label" "$seen" "$want" "${out:-no build output}"
      failed=1
    fi
  else
    printf 'FAILED  %-40s (%ds), log %s:\n' "$label" $((SECONDS - start)) "$log"
    { grep -E '^error' -A 6 "$log" || tail -n 20 "$log"; } | head -n 40 | sed 's/^/    /'
    failed=1
  fi
}

inc42=$(include_for 4.2 "$host_include")
inc44=$(include_for 4.4 "$host_include")
inc45=$(include_for 4.5 "$chroot_include" "$host_include")
inc46=$(include_for 4.6 "$host_include")

check "R 4.2 ($(uname -m) Linux)" 4.2 "$inc42"
check "R 4.4 ($(uname -m) Linux)" 4.4 "$inc44"
check "R 4.5 ($(uname -m) Linux)" 4.5 "$inc45"
check "R 4.6 ($(uname -m) Linux)" 4.6 "$inc46"

for triple in aarch64-apple-darwin x86_64-apple-darwin; do
  if ! rustup target list --installed | grep -qx "$triple"; then
    rustup target add "$triple" >/dev/null 2>&1 || echo "[cross-check] rustup target add $triple failed" >&2
  fi
  check "R 4.5 $triple" 4.5 "$inc45" --target "$triple"
done

if [ "$failed" != 0 ]; then
  echo "[cross-check] some checks FAILED (logs in $logs)"
  exit 1
fi
echo "[cross-check] all checks passed"
