# /tools/reset and /tools/shutdown. /tools/reset restarts server C
# (ORTHANC_TEST_URL3), a scratch server that no other test uses, so this file
# may run at any point of the suite, and C answers again afterwards.
# /tools/shutdown stops a server for good: it is tried on a server of the
# test's own (local_orthanc()), never on a shared one, so the suite can run
# again and again against the same servers. Server B knows C as the DICOM
# modality "c" (ORTHANC_TEST_PEER3) and C knows B as "b".

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

# A client for server C, which must be up (nothing in the suite stops it; a C
# that does not answer fails the test with a connection error).
reset_client <- function() {
  o <- orthanc_client("c")
  expect_equal(o$get_system()$DicomAet, Sys.getenv("ORTHANC_TEST_AET3", "ORTHANCC"))
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

test_that("shutdown stops the server (one of the test's own), its HTTP and its DICOM server", {
  skip_if_no_orthanc_binary()
  srv <- local_orthanc(retries = 0)
  o <- srv$client
  expect_equal(o$get_system()$DicomPort, srv$dicom_port)
  # Its DICOM port accepts connections until the shutdown.
  dicom_open <- function() {
    con <- tryCatch(
      suppressWarnings(socketConnection("127.0.0.1", srv$dicom_port, open = "r+b", blocking = TRUE, timeout = 2)),
      error = function(e) NULL
    )
    if (is.null(con)) return(FALSE)
    close(con)
    TRUE
  }
  expect_true(dicom_open())
  expect_equal(o$post_tools_shutdown(), structure(list(), names = character()))
  # Once it has stopped, requests fail with a connection error, and its
  # process ends.
  err <- tools_poll(
    function() tryCatch({
      o$get_system()
      NULL
    }, orthanc_connection_error = identity),
    ok = function(x) inherits(x, "orthanc_connection_error"),
    what = "the server to stop"
  )
  expect_s3_class(err, "orthanc_connection_error")
  expect_s3_class(err, "orthanc_error")
  expect_true(tools_poll(function() !srv$is_alive(), ok = isTRUE, what = "the server's process to end"))
  expect_false(dicom_open())
  # The shared servers are not touched: A still answers.
  skip_if_no_orthanc()
  expect_equal(orthanc_client("a")$get_system()$DicomAet, Sys.getenv("ORTHANC_TEST_AET", "ORTHANCA"))
})
