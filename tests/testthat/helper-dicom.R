# The DICOM sample sets (Brainix, Knee, ...) of the shared folder: the folder
# named by ORTHANC_TEST_DICOM (dev/check.sh sets it to ../shared/dicom beside
# the checkout when that exists). Skips without it, fails under CI=true.
dicom_samples <- function(...) {
  root <- Sys.getenv("ORTHANC_TEST_DICOM")
  if (nzchar(root) && dir.exists(file.path(root, ...))) {
    return(file.path(root, ...))
  }
  why <- if (nzchar(root)) paste0(file.path(root, ...), " does not exist") else "ORTHANC_TEST_DICOM is not set"
  if (on_ci()) stop("CI=true but no DICOM samples: ", why)
  testthat::skip(paste0("no DICOM samples (", why, ")"))
}
