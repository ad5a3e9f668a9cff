#!/usr/bin/env bash
# Demo on a fresh Debian 12 machine, from the package root:
#   bash dev/demo.sh
# Installs what is needed, builds and installs the package, starts a local
# Orthanc 1.12.7 (dev/orthanc-server), uploads a few sample DICOM files and
# prints the patients and studies from R. The server is stopped at the end.
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
samples=${ORTHANC_DEMO_DICOM:-../shared/dicom}
[ -d "$samples" ] || samples=tests/testthat/fixtures
export ORTHANC_URL=$ORTHANC_TEST_URL ORTHANC_USERNAME=$ORTHANC_TEST_USERNAME ORTHANC_PASSWORD=$ORTHANC_TEST_PASSWORD
Rscript - "$samples" <<'R'
library(orthanc)
`%||%` <- function(x, y) if (is.null(x)) y else x
samples <- commandArgs(trailingOnly = TRUE)[1]
o <- Orthanc$new()   # URL and credentials from ORTHANC_URL, ORTHANC_USERNAME, ORTHANC_PASSWORD
print(o)
# A couple of files from each sample folder (MR, CT, RT, ...).
dirs <- c(samples, list.dirs(samples, recursive = FALSE))
files <- unique(unlist(lapply(dirs, function(d) {
  head(list.files(d, pattern = "\\.dcm$", recursive = TRUE, full.names = TRUE), 2)
})))
cat("Uploading", length(files), "files from", samples, "\n")
for (f in files) o$post_instances(file = f)
cat("Instances:", o$num_instances, " Series:", o$num_series, " Studies:", o$num_studies,
    " Patients:", o$num_patients, "\n\n")
patients <- o$get_patients(params = list(expand = TRUE))
print(data.frame(
  PatientID = vapply(patients, function(p) p$MainDicomTags$PatientID %||% "", ""),
  PatientName = vapply(patients, function(p) p$MainDicomTags$PatientName %||% "", ""),
  Studies = vapply(patients, function(p) length(p$Studies), 1L)
))
cat("\n")
studies <- o$get_studies(params = list(expand = TRUE))
print(data.frame(
  StudyDate = vapply(studies, function(s) s$MainDicomTags$StudyDate %||% "", ""),
  StudyDescription = vapply(studies, function(s) s$MainDicomTags$StudyDescription %||% "", ""),
  Series = vapply(studies, function(s) length(s$Series), 1L)
))
R
