# The text of every kind of error, pinned by snapshots (offline, through the
# mock seam): what went wrong, Orthanc's own words, and a hint that is true.

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

test_that("no message shows the password", {
  o <- mock_client(list("/401" = orthanc_mock_response(401L)))
  err <- expect_error(o$GET("/401"), class = "orthanc_http_401")
  expect_false(grepl("secret-pw", conditionMessage(err), fixed = TRUE))
})
