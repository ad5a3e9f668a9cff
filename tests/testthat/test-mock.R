# The mock seam (R/mock.R): answers instead of the server, in the one request
# path, with the same decoding and conditions as real answers.

test_that("a mock function answers every request of every client, then is removed", {
  local({
    local_orthanc_mock(function(req) orthanc_mock_response(body = list(Version = "1.2.3", url = req$url)))
    o <- Orthanc$new("http://orthanc.invalid:8042")
    expect_equal(o$get_system(), list(Version = "1.2.3", url = "http://orthanc.invalid:8042/system"))
    expect_equal(o$server_version, "1.2.3")
  })
  # After the frame that set it ends, requests go to the network again.
  o <- Orthanc$new("http://127.0.0.1:9", retries = 0)
  expect_error(o$get_system(), class = "orthanc_connection_error")
})

test_that("a list of answers is used in turn, and running out is an error", {
  o <- Orthanc$new("http://orthanc.invalid:8042")
  with_orthanc_mock(
    list(
      orthanc_mock_response(body = list(a = 1L)),
      orthanc_mock_response(body = "text"),
      orthanc_mock_response(body = as.raw(1:3))
    ),
    {
      expect_equal(o$GET("/1"), list(a = 1L))
      expect_equal(o$GET("/2"), "text")
      expect_equal(o$GET("/3"), as.raw(1:3))
      err <- expect_error(o$GET("/4"), class = "orthanc_argument_error")
      expect_match(conditionMessage(err), "no answer left for request 4")
    }
  )
})

test_that("mocked failures become the same conditions as real ones", {
  o <- Orthanc$new("http://orthanc.invalid:8042")
  local_orthanc_mock(function(req) {
    switch(req$path,
      "/404" = orthanc_mock_response(404L, body = list(Message = "Unknown resource", OrthancStatus = 17L)),
      "/500" = orthanc_mock_response(500L, body = list(Message = "Internal error", Details = "it broke")),
      "/conn" = orthanc_mock_error("connection", "connection refused"),
      "/time" = orthanc_mock_error("timeout", "operation timed out"),
      "/tls" = orthanc_mock_error("tls", "certificate verify failed"),
      "/304" = orthanc_mock_response(304L),
      "/system" = orthanc_mock_response(body = list(Version = "1.12.7"))
    )
  })
  err <- expect_error(o$GET("/404"), class = "orthanc_http_404")
  expect_equal(err$url, "http://orthanc.invalid:8042/404")
  # The version is not asked to build the condition; named once known.
  expect_no_match(conditionMessage(err), "1.12.7", fixed = TRUE)
  expect_equal(o$server_version, "1.12.7")
  err <- expect_error(o$GET("/404"), class = "orthanc_http_404")
  expect_match(conditionMessage(err), "(version 1.12.7)", fixed = TRUE)
  err <- expect_error(o$GET("/500"), class = "orthanc_http_500")
  expect_equal(err$error_body$Details, "it broke")
  expect_error(o$GET("/conn"), class = "orthanc_connection_error")
  expect_error(o$GET("/time"), class = "orthanc_timeout_error")
  expect_error(o$GET("/tls"), class = "orthanc_tls_error")
  expect_null(o$GET("/304"))
  expect_equal(orthanc_last_response(o)$status, 304L)
})

test_that("a mocked answer to a request with a destination is written to that file", {
  o <- Orthanc$new("http://orthanc.invalid:8042")
  local_orthanc_mock(function(req) orthanc_mock_response(body = as.raw(c(0x50, 0x4b, 3, 4))))
  f <- o$stream("GET", "/studies/x/archive")
  withr::defer(unlink(f))
  expect_equal(readBin(f, "raw", 10), as.raw(c(0x50, 0x4b, 3, 4)))
})

test_that("mock arguments are checked", {
  expect_error(local_orthanc_mock("nope"), class = "orthanc_argument_error")
  o <- Orthanc$new("http://orthanc.invalid:8042")
  local_orthanc_mock(function(req) "not an answer")
  expect_error(o$get_system(), class = "orthanc_argument_error")
  expect_error(orthanc_mock_error("nonsense"), "should be one of")
})

test_that("local_orthanc_mock() in a function outside the package removes the mock when it ends", {
  # The function's environment sees only the global environment (and the
  # attached packages), not the package's namespace.
  f <- function() {
    local_orthanc_mock(function(req) orthanc_mock_response(body = list(Version = "mocked")))
    Orthanc$new("http://orthanc.invalid:8042")$get_system()$Version
  }
  environment(f) <- globalenv()
  expect_equal(f(), "mocked")
  # Without the mock the request goes out (and fails: the host does not exist).
  expect_error(
    Orthanc$new("http://orthanc.invalid:8042", timeout = 5, retries = 0)$get_system(),
    class = "orthanc_connection_error"
  )
})
