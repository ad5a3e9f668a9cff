#!/usr/bin/env bash
# dev/check-r-chroot.sh -- R CMD check of a built tarball on Debian 13's R (4.5)
#
#   bash dev/check-r-chroot.sh prepare             # R and what the tests use, into the chroot
#   bash dev/check-r-chroot.sh check TARBALL OUT   # R CMD check --as-cran there; OUT: where
#                                                  # orthanc.Rcheck is left (on the host)
#   bash dev/check-r-chroot.sh snapshots           # record the snapshots of testthat >= 3.2
#                                                  # (tests/testthat/_snaps/testthat-3.2)
#
# The chroot is the Debian 13 one that runs the Orthanc 1.12.7 test servers
# (dev/orthanc-server builds it: /var/cache/orthanc-r/trixie, or ORTHANC_CHROOT).
# `prepare` installs R 4.5 and the r-cran-* packages the package and its tests
# use into it (idempotent: only what is missing). `check` runs the check inside
# the chroot with the host's Rust toolchain (rustup's CARGO_HOME and RUSTUP_HOME,
# bind-mounted read-only under /opt/rust) against the servers already started
# (ORTHANC_TEST_* in the environment, as dev/check.sh sets them: the chroot
# shares the host's loopback). The shared DICOM samples (ORTHANC_TEST_DICOM) are
# bind-mounted too, and the package's sources (ORTHANC_PKG_SRC, read by the test
# of the generated code). Everything mounted is unmounted on exit.
#
# testthat 3.2 (Debian 13) writes errors in snapshots in another format than
# testthat 3.1 (Debian 12): the tests keep one snapshot file per format
# (helper-snapshot.R). `snapshots` installs the working tree in the chroot and
# runs the test files that take snapshots there, against the servers, writing
# the new ones into tests/testthat/_snaps/testthat-3.2 (review with git diff).
#
# Needs root (chroot, mount, apt-get inside the chroot).
set -euo pipefail
CHROOT_DIR="${ORTHANC_CHROOT:-/var/cache/orthanc-r/trixie}"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$PATH:$HOME/.cargo/bin" LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive

log() { printf '[check-r-chroot] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# What R CMD check --as-cran and the tests need there: R, the R packages of
# DESCRIPTION's Imports and Suggests that Debian has, pandoc (vignettes), qpdf
# and tidy (checks of --as-cran), OpenSSL's headers (the build), python3 and
# openssl (fake and TLS test servers), zip (a ZIP upload test), curl.
PKGS=(r-base-dev r-cran-r6 r-cran-cli r-cran-testthat r-cran-jsonlite r-cran-withr
      r-cran-knitr r-cran-rmarkdown r-cran-callr r-cran-processx r-cran-png r-cran-jpeg r-cran-future r-cran-promises r-cran-later r-cran-shiny
      libssl-dev pkg-config pandoc qpdf tidy python3 openssl zip curl xz-utils ca-certificates
      # checkbashisms: without it R CMD check --as-cran warns
      devscripts)

cmd_prepare() {
  [[ -x $CHROOT_DIR/usr/sbin/Orthanc ]] ||
    die "no chroot at $CHROOT_DIR: dev/orthanc-server start builds it"
  local missing=() p
  for p in "${PKGS[@]}"; do
    chroot "$CHROOT_DIR" dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$p")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    log "installing into $CHROOT_DIR: ${missing[*]}"
    # The orthanc package's trigger would restart its service: forbidden here.
    local policy=$CHROOT_DIR/usr/sbin/policy-rc.d had_policy=yes rc=0
    if [[ ! -e $policy ]]; then
      had_policy=no
      printf '#!/bin/sh\nexit 101\n' >"$policy"
      chmod +x "$policy"
    fi
    { chroot "$CHROOT_DIR" apt-get update -qq &&
      chroot "$CHROOT_DIR" apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >&2 || rc=$?
    [[ $had_policy == yes ]] || rm -f "$policy"
    rm -f "$CHROOT_DIR"/var/cache/apt/archives/*.deb
    [[ $rc -eq 0 ]] || die "apt-get install in $CHROOT_DIR failed"
  fi
  log "$(chroot "$CHROOT_DIR" R --version | head -n 1) ready in $CHROOT_DIR"
}

MOUNTS=()
WORK=""
cleanup() {
  local i
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
    umount -l "${MOUNTS[i]}" 2>/dev/null || true
  done
  [[ -z $WORK ]] || rm -rf "$WORK"
}
trap cleanup EXIT

bind_ro() {  # host-dir dir-inside-chroot
  mkdir -p "$CHROOT_DIR$2"
  mount --bind "$1" "$CHROOT_DIR$2"
  MOUNTS+=("$CHROOT_DIR$2")
  mount -o remount,bind,ro "$CHROOT_DIR$2"
}

# enter: prepare the chroot, mount what it needs, make WORK (a temporary folder,
# /tmp/orthanc-check-PID inside) and ENVS (the environment of the commands run there).
ENVS=()
enter() {
  [[ -n ${ORTHANC_TEST_URL:-} ]] || die "ORTHANC_TEST_URL is not set: start the servers first (dev/orthanc-server start)"
  cmd_prepare
  local cargo_home=${CARGO_HOME:-$HOME/.cargo} rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
  [[ -x $cargo_home/bin/cargo && -d $rustup_home/toolchains ]] ||
    die "the R 4.5 check uses the host's rustup toolchain ($cargo_home, $rustup_home): not found"
  WORK_IN=/tmp/orthanc-check-$$
  WORK=$CHROOT_DIR$WORK_IN
  rm -rf "$WORK" && mkdir -p "$WORK"
  mountpoint -q "$CHROOT_DIR/proc" || { mount -t proc proc "$CHROOT_DIR/proc"; MOUNTS+=("$CHROOT_DIR/proc"); }
  bind_ro "$cargo_home" /opt/rust/cargo
  bind_ro "$rustup_home" /opt/rust/rustup
  local dicom_in="" src_in=/opt/orthanc-src
  if [[ -n ${ORTHANC_TEST_DICOM:-} && -d ${ORTHANC_TEST_DICOM} ]]; then
    dicom_in=/opt/orthanc-test-dicom
    bind_ro "$ORTHANC_TEST_DICOM" "$dicom_in"
  fi
  bind_ro "$ROOT" "$src_in"

  # The test servers' variables as the tests inside the chroot see them: the
  # storage of server A is /srv/... there (ORTHANC_TEST_STORAGE_SERVER).
  ENVS=(HOME=/root LANG=C.UTF-8 LC_ALL=C.UTF-8 TZ=UTC
    PATH=/opt/rust/cargo/bin:/usr/local/bin:/usr/bin:/bin RUSTUP_HOME=/opt/rust/rustup
    CI="${CI:-}" NOT_CRAN=true _R_CHECK_FORCE_SUGGESTS_=false _R_CHECK_CRAN_INCOMING_REMOTE_=false
    ORTHANC_PKG_SRC="$src_in"
    ORTHANC_URL="$ORTHANC_TEST_URL" ORTHANC_USERNAME="${ORTHANC_TEST_USERNAME:-}"
    ORTHANC_PASSWORD="${ORTHANC_TEST_PASSWORD:-}")
  local v
  while IFS= read -r v; do
    [[ $v == ORTHANC_TEST_STORAGE || $v == ORTHANC_TEST_DICOM ]] && continue
    ENVS+=("$v=${!v}")
  done < <(compgen -e | grep -E '^(ORTHANC_TEST_|ORTHANC_LEGACY_|ORTHANC_CLUSTER_URL)' || true)
  [[ -z ${ORTHANC_TEST_STORAGE_SERVER:-} ]] || ENVS+=(ORTHANC_TEST_STORAGE="$ORTHANC_TEST_STORAGE_SERVER")
  [[ -z $dicom_in ]] || ENVS+=(ORTHANC_TEST_DICOM="$dicom_in")
}

in_chroot() {  # shell command, run in WORK inside the chroot
  chroot "$CHROOT_DIR" /usr/bin/env -i "${ENVS[@]}" /bin/sh -c "cd $WORK_IN && $1"
}

cmd_check() {
  local tarball=${1:?usage: check TARBALL OUT} out=${2:?usage: check TARBALL OUT}
  [[ -f $tarball ]] || die "no tarball $tarball"
  enter
  cp "$tarball" "$WORK/"
  log "R CMD check --as-cran --no-manual $(basename "$tarball") on $(chroot "$CHROOT_DIR" R --version | head -n 1)"
  local status=0
  in_chroot "R CMD check --as-cran --no-manual $(basename "$tarball")" || status=$?
  rm -rf "$out/orthanc.Rcheck" && mkdir -p "$out"
  cp -r "$WORK/orthanc.Rcheck" "$out/" 2>/dev/null || true
  return "$status"
}

cmd_snapshots() {
  enter
  # The committed files and the working tree's changes, and the Rust crates
  # vendored (dev/vendor.sh): the build in the chroot is offline, as from a tarball.
  mkdir -p "$WORK/src" "$WORK/lib"
  (cd "$ROOT" && git ls-files -co --exclude-standard -z | grep -zv '^src/rust/vendor.tar.xz$' |
    tar --null -T - -cf - | tar -xf - -C "$WORK/src")
  if [[ -f $ROOT/src/rust/vendor.tar.xz ]]; then
    cp "$ROOT/src/rust/vendor.tar.xz" "$WORK/src/src/rust/"
  else
    bash "$ROOT/dev/vendor.sh"
    mv "$ROOT/src/rust/vendor.tar.xz" "$WORK/src/src/rust/"
  fi
  in_chroot "R CMD INSTALL --no-test-load -l lib src >install.log 2>&1 || { tail -n 30 install.log; exit 1; }"
  local files
  files=$(cd "$ROOT/tests/testthat" && grep -l "expect_snapshot" test-*.R | sed -E 's/^test-(.*)[.]R$/\1/' | paste -sd'|')
  log "recording the testthat 3.2 snapshots of: $files"
  rm -rf "$WORK/src/tests/testthat/_snaps/testthat-3.2"
  in_chroot "cd src/tests/testthat && CI= R_LIBS=$WORK_IN/lib Rscript -e 'testthat::test_dir(\".\", package = \"orthanc\", load_package = \"installed\", filter = \"^($files)\$\", stop_on_failure = TRUE)'"
  rm -rf "$ROOT/tests/testthat/_snaps/testthat-3.2"
  cp -r "$WORK/src/tests/testthat/_snaps/testthat-3.2" "$ROOT/tests/testthat/_snaps/"
  log "written: $(cd "$ROOT" && ls tests/testthat/_snaps/testthat-3.2 | paste -sd' ')"
}

case ${1:-} in
  prepare) cmd_prepare ;;
  check) shift; cmd_check "$@" ;;
  snapshots) cmd_snapshots ;;
  *) echo "usage: dev/check-r-chroot.sh prepare | check TARBALL OUT | snapshots" >&2; exit 2 ;;
esac
