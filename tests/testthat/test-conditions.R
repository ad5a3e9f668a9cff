# The text of every kind of error, pinned by snapshots (offline, through the
# mock seam): what went wrong, Orthanc's own words, and a hint that is true.
# The password test runs against the live server A, where it is sent.

mock_client <- function(answers, env = parent.frame()) {
  local_orthanc_mock(function(req) {
    if (req$path == "/system") return(orthanc_mock_response(body = list(Version = "1.12.7")))
    answers[[req$path]]
  }, env = env)
  Orthanc$new("https://orthanc.invalid:8042", "user", "secret-pw")
}

test_that("HTTP errors: status, Orthanc's message and details, a hint per status", {
  o <- mock_client(list(
    "/401" = orthanc_mock_response(401L),
    "/403" = orthanc_mock_response(403L),
    "/no/route" = orthanc_mock_response(404L, body = list(
      HttpStatus = 404L, Message = "Unknown resource", OrthancError = "Unknown resource", OrthancStatus = 17L
    )),
    "/instances/abc" = orthanc_mock_response(404L, body = list(
      HttpStatus = 404L, Message = "Unknown resource", OrthancStatus = 17L
    )),
    "/gone" = orthanc_mock_response(404L),
    "/405" = orthanc_mock_response(405L, headers = c(allow = "GET")),
    "/415" = orthanc_mock_response(415L),
    "/500" = orthanc_mock_response(500L, body = list(
      HttpStatus = 500L, Message = "Error in the network protocol",
      Details = "DicomAssociation - C-ECHO to AET \"X\": connection refused", OrthancStatus = 9L
    )),
    "/text" = orthanc_mock_response(502L, body = "Bad gateway from the proxy")
  ))
  expect_snapshot(error = TRUE, variant = snapshot_variant(), o$GET("/401"))
  expect_snapshot(error = TRUE, variant = snapshot_variant(), o$GET("/403"))
  # The server's version is not known yet: the hints do without it (building a
  # condition sends no request).
  expect_snapshot(error = TRUE, variant = snapshot_variant(), o$GET("/no/route"))
  expect_snapshot(error = TRUE, variant = snapshot_variant(), o$PUT("/405", data = "x"))
  # Once the client knows it, they name it.
  expect_equal(o$server_version, "1.12.7")
  expect_snapshot(error = TRUE, variant = snapshot_variant(), o$GET("/no/route"))
  expect_snapshot(error = TRUE, variant = snapshot_variant(), o$get_instances_id("abc"))
  expect_snapshot(error = TRUE, variant = snapshot_variant(), o$GET("/gone"))
  expect_snapshot(error = TRUE, variant = snapshot_variant(), o$PUT("/405", data = "x"))
  expect_snapshot(error = TRUE, variant = snapshot_variant(), o$POST("/415", data = "x"))
  expect_snapshot(error = TRUE, variant = snapshot_variant(), o$GET("/500"))
  expect_snapshot(error = TRUE, variant = snapshot_variant(), o$GET("/text"))
})

test_that("transfer errors: connection, broken transfer, TLS (three hints), timeout, files", {
  o <- mock_client(list(
    "/refused" = orthanc_mock_error("connection", "tcp connect error: Connection refused (os error 111)"),
    "/broke" = orthanc_mock_error("connection", "the connection broke during the transfer: connection reset"),
    "/tls-ca" = orthanc_mock_error("tls", "error:0A000086:SSL routines::certificate verify failed"),
    "/tls-name" = orthanc_mock_error("tls", "certificate verify failed (Hostname mismatch)"),
    "/tls-alert" = orthanc_mock_error("tls", "tlsv13 alert certificate required"),
    "/slow" = orthanc_mock_error("timeout", "operation timed out"),
    "/io" = orthanc_mock_error("io", "cannot create /nope/x: No such file or directory")
  ))
  for (path in c("/refused", "/broke", "/tls-ca", "/tls-name", "/tls-alert", "/slow", "/io")) {
    expect_snapshot(error = TRUE, variant = snapshot_variant(), o$GET(path))
  }
})

test_that("argument errors name the argument and the method", {
  o <- mock_client(list())
  expect_snapshot(error = TRUE, variant = snapshot_variant(), o$get_instances_id(c("a", "b")))
  expect_snapshot(error = TRUE, variant = snapshot_variant(), o$post_tools_find(json = list(Query = mean)))
  expect_snapshot(error = TRUE, variant = snapshot_variant(), o$get_instances(params = list(limit = mean)))
  expect_snapshot(error = TRUE, variant = snapshot_variant(), o$POST("/instances", file = "/no/such/file.dcm"))
  expect_snapshot(error = TRUE, variant = snapshot_variant(), Orthanc$new("http://x", nonsense = 1))
  expect_snapshot(error = TRUE, variant = snapshot_variant(), Orthanc$new("ftp://x"))
})

# Against the live server A (it requires a password): a client with a wrong
# one gets a 401, and the password shows nowhere in R.
test_that("a wrong password gives orthanc_http_401; no message, print, field or saved client shows it", {
  skip_if_no_orthanc()
  cred <- test_credentials()
  password <- paste0("wrong-", paste(sample(c(letters, LETTERS, 0:9), 24L, replace = TRUE), collapse = ""))
  expect_false(identical(password, cred$password))
  o <- Orthanc$new(Sys.getenv("ORTHANC_TEST_URL"), cred$username, password, retries = 0)
  err <- expect_error(o$get_system(), class = "orthanc_http_401")
  expect_s3_class(err, "orthanc_http_error")
  expect_equal(err$status, 401L)
  expect_equal(o$last_response$status, 401L)

  rds <- withr::local_tempfile(fileext = ".rds")
  saveRDS(o, rds, compress = FALSE)
  texts <- c(
    conditionMessage(err), capture.output(print(err)), format(err),
    capture.output(print(o)), format(o),
    capture.output(str(o$last_response)), deparse(o$last_response),
    capture.output(str(unclass(err))), deparse(unclass(err)[setdiff(names(err), "call")])
  )
  bytes <- list(
    saved_client = readBin(rds, "raw", file.size(rds)),
    serialized_client = serialize(o, NULL),
    serialized_condition = serialize(err, NULL),
    serialized_last_response = serialize(o$last_response, NULL)
  )
  expect_false(any(grepl(password, texts, fixed = TRUE)))
  for (what in names(bytes)) {
    expect_length(grepRaw(password, bytes[[what]], fixed = TRUE), 0L)
  }
  # The searches can find what is there: the user name is kept in the client
  # (and printed), the password is not.
  expect_true(any(grepl(cred$username, texts, fixed = TRUE)))
  expect_gt(length(grepRaw(cred$username, bytes$saved_client, fixed = TRUE)), 0L)

  # A client restored from the file has no password (none in the environment:
  # setup-env.R unsets ORTHANC_PASSWORD): a 401 again, not a success.
  restored <- readRDS(rds)
  expect_error(restored$get_system(), class = "orthanc_http_401")
  # Control: the right password is accepted by the same server.
  expect_equal(orthanc_client("a")$get_system()$DicomAet, Sys.getenv("ORTHANC_TEST_AET", "ORTHANCA"))
})
