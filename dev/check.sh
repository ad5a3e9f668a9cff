#!/usr/bin/env bash
# The test command (see README.md). From the package root:
#   bash dev/check.sh
# 1. installs what is missing (dev/setup-debian.sh);
# 2. starts Orthanc test servers unless ORTHANC_TEST_URL is already set
#    (dev/orthanc-server start --legacy --cluster; stopped again at the end);
# 3. Rust: cargo fmt --check, cargo clippy -D warnings, cargo test; cargo
#    check against the headers of R 4.2, 4.4, 4.5, 4.6 and for macOS
#    (dev/cross-check.sh); the minimum Rust version computed from the crates
#    and built with that toolchain (dev/msrv.sh);
# 4. generated code and the vignettes' recorded outputs are up to date
#    (dev/generate-api.R --check, dev/record-vignettes.R --check);
# 5. dev/vendor.sh (the Rust crates into src/rust/vendor.tar.xz, for the
#    offline build); the Windows build, cross-compiled and linked with
#    mingw-w64 (dev/windows-dll.sh); R CMD build, then R CMD check --as-cran
#    --no-manual, on R 4.2 (the host) and on R 4.5 (the Debian 13 chroot of the
#    test servers, dev/check-r-chroot.sh), on the
#    tarball (CRAN's remote incoming checks off: no CRAN here), whose tests run
#    against the live servers; fails on any ERROR, WARNING or test failure,
#    lists the NOTEs (explained in cran-comments.md) and prints the endpoint
#    coverage line; the examples run against server A (ORTHANC_URL, ...), each
#    deleting what it stored;
# 6. the pkgdown site (pkgdown::check_pkgdown(), then pkgdown::build_site()
#    with the checked package, no network, into a temporary folder);
# 7. a smoke run of the benchmark (Rscript bench/run.R --smoke);
# between the two checks, the test hooks (dev/check-hooks.sh: a build with
# them passes their tests, the checked build has none) and the boundary probe
# (dev/boundary-probe.R).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export PATH="$PATH:$HOME/.cargo/bin"
bash dev/setup-debian.sh

# First, since it takes seconds and the site is built only at the end: every
# help topic is in the site's reference index (_pkgdown.yml).
echo "== Every help topic is listed in _pkgdown.yml"
Rscript -e 'options(pkgdown.internet = FALSE); pkgdown::check_pkgdown(".")'

started=0
if [ -z "${ORTHANC_TEST_URL:-}" ]; then
  env_file=$(mktemp)
  dev/orthanc-server start --legacy --cluster > "$env_file"
  # shellcheck disable=SC1090
  . "$env_file"
  rm -f "$env_file"
  started=1
fi
cleanup() { if [ "$started" = 1 ]; then dev/orthanc-server stop || true; fi; }
trap cleanup EXIT

# The shared DICOM samples (Brainix, Knee, ...) beside the checkout, for the
# Rust tests of dicom_ids (the R tests use only tests/testthat/fixtures).
if [ -z "${ORTHANC_TEST_DICOM:-}" ] && [ -d "$root/../shared/dicom" ]; then
  ORTHANC_TEST_DICOM=$(cd "$root/../shared/dicom" && pwd)
  export ORTHANC_TEST_DICOM
fi

echo "== Rust core crate without R (R_HOME unset, R and Rscript not runnable)"
nor=$(mktemp -d)
printf '#!/bin/sh\necho "R is not available here" >&2\nexit 127\n' > "$nor/R"
cp "$nor/R" "$nor/Rscript"
chmod +x "$nor/R" "$nor/Rscript"
if (cd src/rust && cargo tree -p orthanc-core --prefix none | grep -E '^(extendr|libR)'); then
  echo "the core crate must not depend on R (extendr)"; exit 1
fi
(cd src/rust && env -u R_HOME PATH="$nor:$PATH" cargo test -p orthanc-core 2>&1 | tail -n 25)
rm -rf "$nor"

echo "== Rust: fmt, clippy, tests of the extendr crate"
export R_HOME="${R_HOME:-$(R RHOME)}"
(cd src/rust && cargo fmt --all --check && cargo clippy --workspace --all-targets --quiet -- -D warnings && cargo test -p orthanc --lib --quiet 2>&1 | tail -n 30)

# R 4.5 in the Debian 13 chroot of the test servers: its headers serve the
# cross-checks below, its R the second R CMD check.
bash dev/check-r-chroot.sh prepare

echo "== The library against the headers of R 4.2, 4.4, 4.5 and 4.6, and for macOS (cargo check)"
bash dev/cross-check.sh

echo "== The minimum Rust version (DESCRIPTION, Cargo.toml) is the real one, and builds"
bash dev/msrv.sh

echo "== Generated code is up to date"
Rscript dev/generate-api.R --check

echo "== Vignette records are up to date (re-record: Rscript dev/record-vignettes.R)"
Rscript dev/record-vignettes.R --check

echo "== Vendor the Rust dependencies"
bash dev/vendor.sh

echo "== Windows: the static library for x86_64-pc-windows-gnu offline from the vendored crates, orthanc.dll linked with mingw-w64"
bash dev/windows-dll.sh src/rust/vendor.tar.xz

echo "== R CMD build"
work=$(mktemp -d)
R CMD build "$root" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
tarball=$(ls -t orthanc_*.tar.gz | head -n 1)
mv "$tarball" "$work/"

manual="--no-manual"
# The PDF manual is not built (it needs TeX fonts that are large to install).
echo "== R CMD check --as-cran $manual $tarball"
export ORTHANC_PKG_SRC="$root"
# The examples run when ORTHANC_URL is set (@examplesIf): against server A,
# before the tests; each deletes what it stored. The tests ignore these three
# variables (tests/testthat/setup-env.R).
export ORTHANC_URL="$ORTHANC_TEST_URL" ORTHANC_USERNAME="$ORTHANC_TEST_USERNAME" ORTHANC_PASSWORD="$ORTHANC_TEST_PASSWORD"
set +e
# NOT_CRAN=true: the snapshot tests of error messages run (testthat skips them
# on CRAN). No CRAN mirror here: the remote parts of the incoming checks are off.
# ORTHANC_BROWSER_TEST=required: the browser test of orthanc_browse() fails
# (instead of skipping) without Chromium, its driver or selenium, which
# dev/setup-debian.sh installs on the host (not in the chroot of R 4.5, where
# it skips); its screenshot is orthanc.Rcheck/tests/testthat/_output/browse.png.
(cd "$work" && NOT_CRAN=true ORTHANC_BROWSER_TEST=required _R_CHECK_FORCE_SUGGESTS_=false _R_CHECK_CRAN_INCOMING_REMOTE_=false \
  R CMD check --as-cran $manual "$tarball")
status=$?
set -e
# The screenshot of the browser test, kept after $work is removed.
shot="$work/orthanc.Rcheck/tests/testthat/_output/browse.png"
if [ -f "$shot" ]; then
  mkdir -p "$root/check-output" && cp "$shot" "$root/check-output/browse.png"
  echo "== orthanc_browse() in headless Chromium: screenshot $root/check-output/browse.png"
fi
# check_results DIR LABEL STATUS: the test results and NOTEs of DIR/orthanc.Rcheck;
# fails on a non-zero status of R CMD check, an ERROR or WARNING, or no test
# summary; adds its counts to the totals and its line to `summaries`.
total_pass=0; total_fail=0; total_skip=0; summaries=()
check_results() {
  local dir=$1 label=$2 status=$3 log rout summary
  log="$dir/orthanc.Rcheck/00check.log"
  rout="$dir/orthanc.Rcheck/tests/testthat.Rout"
  [ -f "$rout" ] || rout="$dir/orthanc.Rcheck/tests/testthat.Rout.fail"
  if [ -f "$rout" ]; then
    echo "== Test results ($label)"
    grep -E "^\[ FAIL|endpoint methods whose answer a test checked|endpoint methods called|^  [a-z_][a-z_.0-9]*: " "$rout" || true
    tail -n 40 "$rout"
  fi
  # The plain summary line of the R tests ("N passed, N failed, N skipped").
  summary=$(grep -E "^\[ FAIL [0-9]+ \| WARN [0-9]+ \| SKIP [0-9]+ \| PASS [0-9]+ \]" "$rout" 2>/dev/null | tail -n 1 || true)
  if [ "$status" != 0 ] || grep -qE "^Status: .*(ERROR|WARNING)" "$log"; then
    echo "R CMD check failed on $label (status $status)"; grep -E "ERROR|WARNING" "$log" || true
    exit 1
  fi
  [ -n "$summary" ] || { echo "no test summary in $rout ($label)"; exit 1; }
  local f s p
  read -r f s p <<<"$(echo "$summary" | sed -E 's/^\[ FAIL ([0-9]+) \| WARN [0-9]+ \| SKIP ([0-9]+) \| PASS ([0-9]+) \]$/\1 \2 \3/')"
  total_pass=$((total_pass + p)); total_fail=$((total_fail + f)); total_skip=$((total_skip + s))
  summaries+=("$label, testthat $p passed, $f failed, $s skipped")
  echo "== R CMD check ($label)"
  grep -E "^Status:" "$log"
  # The NOTEs, for comparison with cran-comments.md.
  grep -B1 -A8 -E "\.\.\. NOTE$" "$log" || true
}
check_results "$work" "$(R --version | head -n 1 | sed 's/ (.*//') on the host" "$status"

# The R -> Rust boundary (dev/boundary-probe.R): generated R objects sent as
# JSON bodies, query values, headers and route segments with the package just
# checked, each batch in a child R process; each must be written as jsonlite
# writes it or refused with a classed error; part of them under gctorture().
# Fails on any crash, unclassed error or difference.
echo "== Test hooks: only in a build with the cargo feature test-hooks (dev/check-hooks.sh)"
CARGO_BUILD_JOBS=2 bash dev/check-hooks.sh "$work/orthanc.Rcheck"

echo "== Boundary probe (dev/boundary-probe.R)"
Rscript dev/boundary-probe.R --cases 2000 --gctorture 40 --seed 16 --lib "$work/orthanc.Rcheck" > "$work/probe.log" 2>&1 || { tail -n 40 "$work/probe.log"; echo "boundary probe: FAIL"; exit 1; }
tail -n 1 "$work/probe.log"

# The same tarball on Debian 13's R 4.5, in the chroot of the test servers
# (dev/check-r-chroot.sh), against the same servers, as the first run left
# them: no test stops a shared server (the shutdown test stops one of its own),
# and a server that is down now fails the check here.
for var in ORTHANC_TEST_URL ORTHANC_TEST_URL2 ORTHANC_TEST_URL3 ORTHANC_LEGACY_URL ORTHANC_CLUSTER_URL1 ORTHANC_CLUSTER_URL2; do
  url=${!var:-}
  [ -n "$url" ] || continue
  curl -fsS --max-time 10 -u "$ORTHANC_TEST_USERNAME:$ORTHANC_TEST_PASSWORD" "$url/system" >/dev/null ||
    { echo "test server $var ($url) does not answer after the first run of the tests"; exit 1; }
done
echo "== R CMD check --as-cran $manual $tarball on R 4.5 (Debian 13 chroot)"
set +e
bash "$root/dev/check-r-chroot.sh" check "$work/$tarball" "$work/r45"
status=$?
set -e
check_results "$work/r45" "$(chroot "${ORTHANC_CHROOT:-/var/cache/orthanc-r/trixie}" R --version | head -n 1 | sed 's/ (.*//') in the Debian 13 chroot" "$status"

# The tarball installs without any network (a new network namespace: not even
# loopback) and with an empty CARGO_HOME: every crate comes from
# src/rust/vendor.tar.xz inside it.
echo "== Offline install of $tarball (unshare -n, empty CARGO_HOME)"
if unshare -n true 2>/dev/null; then
  offline=$(mktemp -d)
  mkdir -p "$offline/lib" "$offline/cargo-home"
  if ! (cd "$work" && unshare -n env CARGO_HOME="$offline/cargo-home" R CMD INSTALL -l "$offline/lib" "$tarball" > "$offline/install.log" 2>&1); then
    tail -n 40 "$offline/install.log"; echo "offline install failed"; exit 1
  fi
  grep -E "^using (cargo|rustc) " "$offline/install.log" || true
  unshare -n env R_LIBS="$offline/lib" Rscript -e 'library(orthanc); o <- Orthanc$new("http://127.0.0.1:9", retries = 0); stopifnot(inherits(tryCatch(o$get_system(), error = identity), "orthanc_connection_error")); cat("offline install: OK (", format(packageVersion("orthanc")), ")\n")'
  if [ -n "$(ls -A "$offline/cargo-home")" ]; then echo "the build wrote into CARGO_HOME"; ls -A "$offline/cargo-home"; exit 1; fi
  rm -rf "$offline"
else
  echo "(skipped: unshare -n is not permitted here)"
fi

# The web site (_pkgdown.yml), built with the package just checked, its
# examples and vignettes run against the servers as in the check; no network
# (pkgdown.internet = FALSE: no CRAN link lookup). The output goes to a
# temporary folder, removed at the end; a failed build fails the check.
echo "== pkgdown site"
site="$work/site"
R_LIBS="$work/orthanc.Rcheck${R_LIBS:+:$R_LIBS}" Rscript -e '
  options(pkgdown.internet = FALSE, warn = 1)
  pkgdown::check_pkgdown(".")
  pkgdown::build_site(".", override = list(destination = commandArgs(TRUE)[[1]]),
    install = FALSE, new_process = FALSE, preview = FALSE, devel = FALSE)
' "$site" > "$work/site.log" 2>&1 || { tail -n 40 "$work/site.log"; echo "pkgdown site: build failed"; exit 1; }
grep -E "^Warning|^Error" "$work/site.log" || true
echo "pkgdown site: $(find "$site" -name '*.html' | wc -l) pages"

# The benchmark at tiny sizes, with the package just checked: it must run to the
# end (its own Orthanc, its own data); its figures are not looked at. The Rust
# baseline is used only when already built (bench/rust-baseline/target).
echo "== Benchmark smoke run (bench/run.R --smoke)"
R_LIBS="$work/orthanc.Rcheck${R_LIBS:+:$R_LIBS}" Rscript bench/run.R --smoke > "$work/bench.md"
tail -n 8 "$work/bench.md"
rm -rf "$work"
echo "== Summary"
printf '%s\n' "${summaries[@]}"
# Last line: the plain test summary, both R versions added up.
summary_line="testthat: $total_pass passed, $total_fail failed, $total_skip skipped"
echo "$summary_line"
[ -z "${ORTHANC_TEST_SUMMARY:-}" ] || echo "$summary_line" > "$ORTHANC_TEST_SUMMARY"
