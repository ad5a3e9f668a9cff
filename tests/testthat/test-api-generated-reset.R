# /tools/reset and /tools/shutdown, on server C (ORTHANC_TEST_URL3): a scratch
# server that no other test uses, so this file may run at any point of the
# suite. /tools/reset restarts C; /tools/shutdown then stops it for good (until
# the next `dev/orthanc-server start`). Server B knows C as the DICOM modality
# "c" (ORTHANC_TEST_PEER3) and C knows B as "b".

# Call `f` until it returns without an error of class `tolerate` and `ok()` is
# TRUE of its value, for at most `timeout` seconds. Returns the value, or
# fails.
tools_poll <- function(f, ok = function(x) TRUE, timeout = 60, tolerate = "orthanc_error", what = "the server") {
  deadline <- Sys.time() + timeout
  repeat {
    value <- tryCatch(f(), error = function(e) {
      if (!inherits(e, tolerate)) stop(e)
      structure(list(e), class = "tools_poll_error")
    })
    if (!inherits(value, "tools_poll_error") && ok(value)) {
      return(value)
    }
    if (Sys.time() > deadline) {
      stop("timed out after ", timeout, " s waiting for ", what)
    }
    Sys.sleep(0.2)
  }
}

# A client for server C, which must be up: it is not when an earlier run of
# this file shut it down (a failure under CI=true, a skip otherwise).
reset_client <- function() {
  o <- orthanc_client("c")
  up <- tryCatch({
    o$get_system()
    TRUE
  }, orthanc_connection_error = function(e) FALSE)
  if (!up) {
    msg <- "server C (ORTHANC_TEST_URL3) does not answer: an earlier run shut it down? (dev/orthanc-server start)"
    if (on_ci()) stop(msg)
    testthat::skip(msg)
  }
  o
}

peer_of_c <- function() Sys.getenv("ORTHANC_TEST_PEER3", "c")

test_that("reset restarts server C, which answers again with its configuration reloaded", {
  o <- reset_client()
  up <- local_instance(o)
  # A modality added through the REST API lives in memory only: a restart,
  # which reads the configuration file again, forgets it.
  marker <- paste0("tools-reset-", sample.int(1e6, 1))
  o$put_modalities_id(marker, json = list(AET = "RESETMARK", Host = "127.0.0.1", Port = 1L))
  withr::defer(try(o$delete_modalities_id(marker), silent = TRUE))
  expect_true(marker %in% unlist(o$get_modalities()))

  expect_equal(o$post_tools_reset(), structure(list(), names = character()))
  modalities <- tools_poll(
    function() unlist(o$get_modalities()),
    ok = function(m) !marker %in% m,
    what = "server C to restart"
  )
  # C's configuration file names B "b".
  expect_true("b" %in% modalities)
  sys <- tools_poll(o$get_system, what = "server C to answer after the restart")
  expect_equal(sys$DicomAet, Sys.getenv("ORTHANC_TEST_AET3", "ORTHANCC"))
  if (nzchar(Sys.getenv("ORTHANC_TEST_VERSION3"))) {
    expect_equal(sys$Version, Sys.getenv("ORTHANC_TEST_VERSION3"))
  }
  # The plugins are loaded again.
  expect_true(all(c("gdcm", "neuro") %in% unlist(o$get_plugins())))
  # The stored data survive the restart.
  expect_equal(o$post_tools_lookup(data = o$get_instances_id(up$ID)$MainDicomTags$SOPInstanceUID)[[1]]$ID, up$ID)
  # And its DICOM server is back: B can C-ECHO it.
  skip_if_no_orthanc("ORTHANC_TEST_URL2")
  b <- orthanc_client("b")
  echo <- tools_poll(function() b$post_modalities_id_echo(peer_of_c(), json = list(Timeout = 5)), what = "C's DICOM server")
  expect_equal(echo, structure(list(), names = character()))
})

test_that("shutdown stops server C (the last use of C in the suite)", {
  o <- reset_client()
  expect_equal(o$post_tools_shutdown(), structure(list(), names = character()))
  # Once it has stopped, requests fail with a connection error.
  err <- tools_poll(
    function() tryCatch({
      o$get_system()
      NULL
    }, orthanc_connection_error = identity),
    ok = function(x) inherits(x, "orthanc_connection_error"),
    what = "server C to stop"
  )
  expect_s3_class(err, "orthanc_connection_error")
  expect_s3_class(err, "orthanc_error")
  # Server B is still up, but its DICOM modality "c" goes away too (C stops its
  # DICOM server a moment after its HTTP server).
  skip_if_no_orthanc("ORTHANC_TEST_URL2")
  b <- orthanc_client("b")
  expect_equal(b$get_system()$DicomAet, Sys.getenv("ORTHANC_TEST_AET2"))
  echo_err <- tools_poll(
    function() tryCatch({
      b$post_modalities_id_echo(peer_of_c(), json = list(Timeout = 3))
      NULL
    }, orthanc_http_500 = identity),
    ok = function(x) inherits(x, "orthanc_http_500"),
    what = "C's DICOM server to stop"
  )
  expect_match(echo_err$error_body$Details, "ORTHANCC|refused", ignore.case = TRUE)
})
