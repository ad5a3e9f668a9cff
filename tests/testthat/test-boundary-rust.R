# The Rust side of the R -> Rust boundary (src/rust/src/lib.rs, rapi.rs): the
# client handle, cookies and headers that would break a request, panics and R
# errors met while Rust frames are live. None of these tests needs a server:
# what they check is refused before anything is sent (the URL listens nowhere).

offline_client <- function() Orthanc$new("http://127.0.0.1:9")

# The test hooks (orthanc:::wrap__rs_panic_probe, wrap__rs_unwind_probe) exist
# only in a build with the cargo feature `test-hooks` (dev/check-hooks.sh). A
# release build has none: these tests are skipped there, unless
# ORTHANC_REQUIRE_HOOKS=true (set by dev/check-hooks.sh), where a missing hook fails.
skip_without_hook <- function(name) {
  if (is.loaded(name, PACKAGE = "orthanc")) return(invisible())
  if (identical(Sys.getenv("ORTHANC_REQUIRE_HOOKS"), "true")) {
    testthat::fail(paste0(name, " is missing from a build with the feature test-hooks"))
  }
  testthat::skip("built without the cargo feature test-hooks (see dev/check-hooks.sh)")
}

test_that("a Rust panic becomes orthanc_internal_error and the session goes on", {
  skip_without_hook("wrap__rs_panic_probe")
  res <- .Call("wrap__rs_panic_probe", "boom", PACKAGE = "orthanc")
  expect_identical(res$error, "internal")
  expect_match(res$message, "panicked: boom", fixed = TRUE)
  # The R side raises it as it raises every error list of kind "internal".
  err <- expect_error(stop(transport_condition(res, "GET", NULL)), class = "orthanc_internal_error")
  expect_s3_class(err, "orthanc_error")
  expect_match(conditionMessage(err), "boom", fixed = TRUE)
  expect_match(conditionMessage(err), "please report it", fixed = TRUE)
  # The session goes on, Rust included.
  expect_equal(rs_from_json("[1]"), list(1L))
})

test_that("an R error raised under protect() stops there: Rust frames unwind, the stack stays balanced", {
  skip_without_hook("wrap__rs_unwind_probe")
  # R prints its error (no handler here would take it); a jump across the Rust
  # frames would skip the destructor (`dropped`), a protection left behind would
  # make R warn about a stack imbalance.
  res <- expect_no_warning(
    tryCatch(.Call("wrap__rs_unwind_probe", PACKAGE = "orthanc"), error = function(e) "the R error escaped")
  )
  expect_type(res, "list")
  expect_true(res$jumped)
  expect_true(res$dropped)
  # (Each under its own handler: testthat's calling handler would record the R error.)
  for (i in 1:50) tryCatch(.Call("wrap__rs_unwind_probe", PACKAGE = "orthanc"), error = function(e) NULL)
  expect_equal(rs_from_json("{\"a\":[1,2]}"), list(a = list(1L, 2L)))
})

test_that("kind \"internal\" maps to orthanc_internal_error, on the request path too", {
  res <- list(error = "internal", message = "Rust code panicked: x", url = "http://h/x")
  cnd <- transport_condition(res, "GET", NULL)
  expect_identical(class(cnd)[1:2], c("orthanc_internal_error", "orthanc_error"))
  expect_identical(cnd$url, "http://h/x")
  expect_match(conditionMessage(cnd), "please report it", fixed = TRUE)
  o <- offline_client()
  err <- with_orthanc_mock(
    list(structure(list(error = "internal", message = "Rust code panicked: y"), class = "orthanc_mock_error")),
    expect_error(o$get_system(), class = "orthanc_internal_error")
  )
  expect_match(conditionMessage(err), "panicked: y", fixed = TRUE)
  expect_identical(err$method, "GET")
})

test_that("the client handle is checked by its type: a foreign or emptied pointer is never read", {
  req <- request_value("GET", "/system", FALSE)
  # An external pointer made by other code, with a non-NULL address: taken for
  # a client, it would be read as one (a crash).
  foreign <- getNativeSymbolInfo("wrap__rs_perform", PACKAGE = "orthanc")$address
  expect_s3_class(foreign, "NativeSymbol")
  res <- .Call(wrap__rs_perform, foreign, req)
  expect_identical(res$error, "argument")
  expect_false(rs_client_valid(foreign))
  res <- .Call(wrap__rs_perform, "not a pointer", req)
  expect_identical(res$error, "argument")
  # A pointer restored by readRDS() has a NULL address: "stale" (the R side
  # reconnects).
  o <- offline_client()
  h <- o$.__enclos_env__$private$handle
  expect_true(rs_client_valid(h))
  restored <- unserialize(serialize(h, NULL))
  expect_false(rs_client_valid(restored))
  res <- .Call(wrap__rs_perform, restored, req)
  expect_identical(res$error, "stale")
  # The live handle still answers: a connection error from the URL nobody serves.
  res <- .Call(wrap__rs_perform, h, req)
  expect_identical(res$error, "connection")
})

test_that("cookie names and values that would break the Cookie header are refused, naming the cookie", {
  o <- offline_client()
  bad_values <- list("a;b", "a,b", "a\r\nX-Injected: 1", "a\nb", "tab\there", "\u007f")
  for (v in bad_values) {
    err <- expect_error(o$GET("/system", cookies = list(session = v)), class = "orthanc_argument_error")
    expect_match(conditionMessage(err), "cookies$session", fixed = TRUE)
  }
  bad_names <- c("a;b", "a=b", "a,b", "a b", "a\r\nb")
  for (n in bad_names) {
    cookies <- stats::setNames(list("1"), n)
    err <- expect_error(o$GET("/system", cookies = cookies), class = "orthanc_argument_error")
    # R refuses them first (check_cookies()), Rust again if R let one through.
    expect_match(conditionMessage(err), "cookie name|name of cookie")
    req <- orthanc:::request_value("GET", "/system", FALSE, cookies = cookies)
    res <- .Call(orthanc:::wrap__rs_perform, o$.__enclos_env__$private$ptr(), req)
    expect_identical(res$error, "argument")
    expect_match(res$message, "name of cookie", fixed = TRUE)
  }
  # One bad cookie among good ones is named.
  err <- expect_error(o$GET("/system", cookies = list(a = "1", b = "2;3")), class = "orthanc_argument_error")
  expect_match(conditionMessage(err), "cookies$b", fixed = TRUE)
  # A string in "bytes" encoding is refused by Rust, named.
  b <- "caf\xe9"
  Encoding(b) <- "bytes"
  err <- expect_error(o$GET("/system", cookies = list(s = b)), class = "orthanc_argument_error")
  expect_match(conditionMessage(err), "bytes", fixed = TRUE)
})

test_that("good cookies reach the server as one well-formed Cookie header", {
  srv <- tls_local_server()
  o <- Orthanc$new(srv$url)
  h <- o$GET("/echo-headers", cookies = list(a = "1", b = "x y", c = 2L))
  expect_identical(h$cookie, "a=1; b=x y; c=2")
})

test_that("headers with CR/LF or an invalid name are an orthanc_argument_error, not a panic", {
  o <- offline_client()
  err <- expect_error(o$GET("/system", headers = list(`X-A` = "a\r\nX-Injected: 1")), class = "orthanc_argument_error")
  expect_match(conditionMessage(err), "X-A", fixed = TRUE)
  expect_error(o$GET("/system", headers = list(`X-A` = "a\nb")), class = "orthanc_argument_error")
  expect_error(o$GET("/system", headers = list(`X-A` = "a\001b")), class = "orthanc_argument_error")
  err <- expect_error(o$GET("/system", headers = list(`bad name` = "1")), class = "orthanc_argument_error")
  expect_match(conditionMessage(err), "bad name", fixed = TRUE)
  expect_error(o$GET("/system", headers = stats::setNames(list("1"), "X-\u00e9")), class = "orthanc_argument_error")
  # Query values with CR/LF are percent-encoded, not refused: they cannot break the request.
  res <- .Call(wrap__rs_perform, o$.__enclos_env__$private$handle,
    request_value("GET", "/system", FALSE, params = list(q = "a\r\nb")))
  expect_identical(res$error, "connection")
})

test_that("query values are read by element; a request value Rust cannot read is an argument error", {
  o <- offline_client()
  h <- o$.__enclos_env__$private$handle
  # A compact (ALTREP) integer sequence and a deferred string are read without
  # being expanded through an R call that could raise.
  res <- .Call(wrap__rs_perform, h, request_value("GET", "/system", FALSE,
    params = list(a = 1:3, b = as.character(1:2), c = c(TRUE, FALSE), d = 2.5)))
  expect_identical(res$error, "connection")
  # A request value Rust cannot read is an argument error, never an R error.
  res <- .Call(wrap__rs_perform, h, list(method = "GET", path = 1))
  expect_identical(res$error, "argument")
  res <- .Call(wrap__rs_perform, h, list("GET", "/system"))
  expect_identical(res$error, "argument")
  res <- .Call(wrap__rs_perform, h, request_value("GET", "/system", FALSE, params = quote(x)))
  expect_identical(res$error, "argument")
  res <- .Call(wrap__rs_perform, h, request_value("GET", "/system", FALSE, params = list(a = list(1))))
  expect_identical(res$error, "argument")
})

test_that("rs_dicom_ids() refuses a path it cannot read as UTF-8, per file", {
  b <- "caf\xe9.dcm"
  Encoding(b) <- "bytes"
  res <- rs_dicom_ids(c(b, NA))
  expect_true(is.na(res$instance[1]) && is.na(res$instance[2]))
  expect_match(res$message[1], "bytes", fixed = TRUE)
  expect_match(res$message[2], "NA", fixed = TRUE)
  expect_identical(rs_dicom_ids(1)$error, "argument")
})
