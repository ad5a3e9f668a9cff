# dev/check.sh sets ORTHANC_URL, ORTHANC_USERNAME and ORTHANC_PASSWORD for the
# examples of R CMD check, which run in the same environment as the tests. The
# tests name their servers themselves (ORTHANC_TEST_*) and some check what a
# client does without credentials or without a URL: the three variables are
# unset while they run (and restored after).
withr::local_envvar(
  ORTHANC_URL = NA, ORTHANC_USERNAME = NA, ORTHANC_PASSWORD = NA,
  .local_envir = testthat::teardown_env()
)
