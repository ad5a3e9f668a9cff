#!/usr/bin/env bash
# Demo on a fresh Debian 12 machine, from the package root:
#   bash dev/demo.sh
# Installs what is needed, builds and installs the package, starts a local
# Orthanc 1.12.7 (dev/orthanc-server), uploads the sample DICOM files of the
# repository (inst/extdata, tests/testthat/fixtures) and prints the patients,
# studies and series from R. The server is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:$HOME/.cargo/bin"
bash dev/setup-debian.sh
echo "[demo] building and installing the package (compiles the Rust core)" >&2
R CMD INSTALL --no-test-load . >/tmp/orthanc-demo-install.log 2>&1 || { tail -n 40 /tmp/orthanc-demo-install.log; exit 1; }
export ORTHANC_STATE_DIR=/tmp/orthanc-r-demo
env_file=$(mktemp)
dev/orthanc-server start > "$env_file"
# shellcheck disable=SC1090
. "$env_file"
trap 'dev/orthanc-server stop || true' EXIT
export ORTHANC_URL=$ORTHANC_TEST_URL ORTHANC_USERNAME=$ORTHANC_TEST_USERNAME ORTHANC_PASSWORD=$ORTHANC_TEST_PASSWORD
# The sample DICOM files of the repository only: the package's own
# (inst/extdata) and the test fixtures (tests/testthat/fixtures).
Rscript - inst/extdata tests/testthat/fixtures <<'R'
library(orthanc)
folders <- commandArgs(trailingOnly = TRUE)
o <- Orthanc$new()   # URL and credentials from ORTHANC_URL, ORTHANC_USERNAME, ORTHANC_PASSWORD
print(o)
files <- list.files(folders, pattern = "\\.dcm$", full.names = TRUE)
files <- files[!duplicated(basename(files))]
cat("\nUploading", length(files), "files from", paste(folders, collapse = " and "), "\n")
report <- upload(o, files, check_before_upload = TRUE)
print(report)
cat("\nInstances:", o$num_instances, " Series:", o$num_series, " Studies:", o$num_studies,
    " Patients:", o$num_patients, "\n\n")
patients <- find_patients(o)
print(as.data.frame(patients)[, c("PatientID", "PatientName", "PatientBirthDate", "PatientSex")])
cat("\n")
studies <- find_studies(o)
print(as.data.frame(studies)[, c("PatientName", "StudyDate", "StudyDescription")])
cat("\n")
series <- find_series(o)
print(as.data.frame(series)[, c("Modality", "SeriesDescription", "SeriesNumber")])
R
