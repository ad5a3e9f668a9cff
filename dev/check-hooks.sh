#!/bin/sh
# The test hooks of the Rust library (src/rust/src/lib.rs, `mod hooks`: a panic
# probe and an R-error probe) exist only in a build with the cargo feature
# `test-hooks`. This script:
#   1. installs the package with the hooks (ORTHANC_CARGO_FEATURES=test-hooks,
#      read by src/Makevars) into a temporary library and runs
#      tests/testthat/test-boundary-rust.R there, with ORTHANC_REQUIRE_HOOKS=true
#      (a missing hook fails instead of skipping): a Rust panic becomes
#      orthanc_internal_error, an R error raised under protect() stops there,
#      and R goes on;
#   2. installs a release build (no feature) and checks that its shared object
#      has no test hook: neither a symbol (`nm`, `nm -D`) nor the name under
#      which R would call it (the registration table's strings). The hooks build
#      must have that name (a check that could not fail would prove nothing).
# Usage, from the package root: dev/check-hooks.sh [release-library]
#   With a library that already holds a release install, step 2 checks it
#   instead of installing again; ORTHANC_HOOKS_LIB=<library> likewise reuses a
#   library that holds a build with the hooks. Builds use one job
#   (CARGO_BUILD_JOBS=1).
set -eu
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/orthanc-hooks.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
so_of() { ls "$1"/orthanc/libs/orthanc.so "$1"/orthanc/libs/orthanc.dll 2>/dev/null | head -n 1; }

if [ -n "${ORTHANC_HOOKS_LIB:-}" ]; then
  echo "== 1. the build with the test hooks in $ORTHANC_HOOKS_LIB"
  hooks_lib=$ORTHANC_HOOKS_LIB
else
  echo "== 1. build with the test hooks"
  hooks_lib="$tmp/hooks"
  mkdir -p "$hooks_lib"
  ORTHANC_CARGO_FEATURES=test-hooks R CMD INSTALL --no-test-load -l "$hooks_lib" . >"$tmp/hooks.log" 2>&1 ||
    { tail -n 40 "$tmp/hooks.log"; echo "FAIL: the build with test-hooks failed"; exit 1; }
fi
hooks_so=$(so_of "$hooks_lib")
if ! grep -q "wrap__rs_panic_probe" "$hooks_so"; then
  echo "FAIL: the hooks build has no wrap__rs_panic_probe: the feature did not reach cargo"
  exit 1
fi
echo "== running tests/testthat/test-boundary-rust.R with the hooks"
(
  cd tests/testthat
  ORTHANC_REQUIRE_HOOKS=true NOT_CRAN=true R_LIBS="$hooks_lib" Rscript -e '
    r <- testthat::test_file("test-boundary-rust.R", package = "orthanc",
      load_package = "installed", reporter = "summary", stop_on_failure = FALSE)
    d <- as.data.frame(r)
    probes <- d[grepl("^a Rust panic becomes|^an R error raised under protect", d$test), ]
    ok <- nrow(probes) == 2L && all(probes$failed == 0L & !probes$skipped & !probes$error) &&
      all(d$failed == 0L & !d$error)
    cat(if (ok) "hook tests: PASS\n" else "hook tests: FAIL\n")
    quit(status = if (ok) 0L else 1L)'
)

echo "== 2. release build: no test hook"
if [ "$#" -ge 1 ]; then
  release_lib=$1
else
  release_lib="$tmp/release"
  mkdir -p "$release_lib"
  env -u ORTHANC_CARGO_FEATURES R CMD INSTALL --no-test-load -l "$release_lib" . >"$tmp/release.log" 2>&1 ||
    { tail -n 40 "$tmp/release.log"; echo "FAIL: the release build failed"; exit 1; }
fi
release_so=$(so_of "$release_lib")
found=0
for what in "nm" "nm -D"; do
  if $what "$release_so" 2>/dev/null | grep -E "panic_probe|unwind_probe"; then
    echo "FAIL: $what lists a test hook in $release_so"
    found=1
  fi
done
if grep -c -E "rs_panic_probe|rs_unwind_probe" "$release_so" >/dev/null; then
  echo "FAIL: $release_so holds the name of a test hook"
  found=1
fi
[ "$found" -eq 0 ] || exit 1
echo "nm, nm -D and the library's strings: no test hook in $release_so"
echo "check-hooks: OK"
