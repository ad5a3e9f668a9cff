#!/usr/bin/env bash
# Installs what building, checking and testing the package needs on Debian 12
# (R from Debian, the R packages the package and its tests use, OpenSSL's
# development files, the tools of R CMD check --as-cran, debootstrap for
# the Orthanc 1.12.7 test servers, Orthanc 1.10.1 for the legacy tests,
# Chromium, its driver and Python's selenium for the browser test) and makes
# sure a Rust toolchain is there. Idempotent: installs only what is missing.
set -euo pipefail
pkgs=(r-base-dev r-cran-r6 r-cran-cli r-cran-testthat r-cran-jsonlite r-cran-withr
      r-cran-roxygen2 r-cran-knitr r-cran-rmarkdown r-cran-callr r-cran-processx r-cran-future r-cran-promises r-cran-later
      debootstrap orthanc pandoc qpdf curl ca-certificates python3 openssl procps
      libssl-dev pkg-config xz-utils r-cran-httr2 r-cran-curl
      # as.raster() of the rendered images of DicomWeb (Suggests)
      r-cran-png r-cran-jpeg
      # the web site (dev/check.sh builds it)
      r-cran-pkgdown
      # R CMD check --as-cran: HTML validation, bashisms (the PDF manual is
      # not built: --no-manual)
      tidy devscripts
      # the Windows DLL, cross-linked on Linux (dev/windows-dll.sh)
      mingw-w64
      # orthanc_browse() (Suggests) and its test in a headless browser
      # (tests/testthat/test-browse.R: Chromium driven by Python's selenium)
      r-cran-shiny r-cran-promises r-cran-later chromium chromium-driver python3-venv)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "[setup] installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Keep the orthanc package's own daemon from starting (the tests start their own).
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
  echo "[setup] cargo is missing: install Rust (https://rustup.rs) or Debian's cargo package" >&2
  exit 1
fi
# Python's selenium (PyPI), in a virtual environment of its own: the browser
# test of orthanc_browse() finds it there (or at ORTHANC_TEST_SELENIUM_PYTHON).
selenium_venv=/opt/orthanc-r/selenium
selenium_version=4.51.0
if ! "$selenium_venv/bin/python" -c "import selenium, sys; sys.exit(selenium.__version__ != '$selenium_version')" 2>/dev/null; then
  echo "[setup] installing selenium $selenium_version into $selenium_venv" >&2
  /usr/bin/python3 -m venv "$selenium_venv"
  "$selenium_venv/bin/pip" install -q "selenium==$selenium_version"
fi
echo "[setup] system packages ready" >&2
