# Bearer tokens, against the fake server's /bearer/<K>/ routes (a server
# behind a token service: 401 unless "Authorization: Bearer tok-<K>-secret").

token_client <- function(srv, key, ...) {
  withr::with_envvar(c(ORTHANC_USERNAME = NA, ORTHANC_PASSWORD = NA, ORTHANC_TOKEN = NA), {
    Orthanc$new(paste0(srv$url, "/bearer/", key), retries = 0, ...)
  })
}

test_that("token = sends Authorization: Bearer; a wrong token is a 401", {
  srv <- local_fault_server()
  secret <- "tok-7Q2x-secret"
  o <- token_client(srv, "7Q2x", token = secret)
  expect_identical(o$get_system()$Name, "fake-orthanc")
  wrong <- token_client(srv, "7Q2x", token = "tok-WrongValue99")
  err <- tryCatch(wrong$get_system(), error = identity)
  expect_s3_class(err, "orthanc_http_401")
  # The token is in no print, error, last response or saved client.
  texts <- c(
    conditionMessage(err), paste(capture.output(print(err)), collapse = "\n"),
    paste(capture.output(print(o)), collapse = "\n"),
    paste(capture.output(print(orthanc_last_response(o))), collapse = "\n"),
    rawToChar(serialize(o, NULL, ascii = TRUE)), rawToChar(serialize(err, NULL, ascii = TRUE))
  )
  for (t in texts) {
    expect_false(grepl(secret, t, fixed = TRUE))
    expect_false(grepl("tok-WrongValue99", t, fixed = TRUE))
  }
  f <- withr::local_tempfile(fileext = ".rds")
  saveRDS(o, f)
  saved <- memDecompress(readBin(f, "raw", file.size(f)), "gzip")
  expect_length(grepRaw(secret, saved, fixed = TRUE), 0)
  # Restored: the token comes from ORTHANC_TOKEN only.
  back <- readRDS(f)
  expect_error(withr::with_envvar(c(ORTHANC_TOKEN = NA), back$get_system()), class = "orthanc_http_401")
  back2 <- readRDS(f)
  expect_identical(withr::with_envvar(c(ORTHANC_TOKEN = secret), back2$get_system())$Name, "fake-orthanc")
  # ORTHANC_TOKEN is read when the client is made without one.
  env <- withr::with_envvar(c(ORTHANC_TOKEN = secret, ORTHANC_USERNAME = NA, ORTHANC_PASSWORD = NA), {
    Orthanc$new(paste0(srv$url, "/bearer/7Q2x"), retries = 0)
  })
  expect_identical(env$get_system()$Name, "fake-orthanc")
})

test_that("auth = renews an expired token once and sends the request again", {
  srv <- local_fault_server()
  calls <- 0L
  auth <- function() {
    calls <<- calls + 1L
    if (calls == 1L) "tok-expired" else "tok-fresh-secret"
  }
  o <- token_client(srv, "fresh", auth = auth)
  expect_identical(calls, 1L)
  expect_identical(o$get_system()$Name, "fake-orthanc")
  expect_identical(calls, 2L)
  # The server saw the refused request and the one sent again.
  expect_identical(fault_count(srv, "bearer-fresh"), 2L)
  expect_identical(o$get_system()$Name, "fake-orthanc")
  expect_identical(calls, 2L)
  # A token service that keeps giving refused tokens: one renewal, then the 401.
  stale <- token_client(srv, "fresh", auth = function() "tok-never")
  expect_error(stale$get_system(), class = "orthanc_http_401")
  # A restored client asks auth for a token.
  f <- withr::local_tempfile(fileext = ".rds")
  saveRDS(o, f)
  back <- readRDS(f)
  expect_identical(withr::with_envvar(c(ORTHANC_TOKEN = NA), back$get_system())$Name, "fake-orthanc")
  expect_false(any(grepl("tok-fresh-secret", capture.output(print(o)), fixed = TRUE)))
})

test_that("token and auth arguments are checked", {
  expect_error(Orthanc$new("http://127.0.0.1:9", token = 1), class = "orthanc_argument_error")
  expect_error(Orthanc$new("http://127.0.0.1:9", token = ""), class = "orthanc_argument_error")
  expect_error(Orthanc$new("http://127.0.0.1:9", auth = "tok"), class = "orthanc_argument_error")
  expect_error(Orthanc$new("http://127.0.0.1:9", auth = function() NULL), "must answer a token", class = "orthanc_argument_error")
  expect_error(Orthanc$new("http://127.0.0.1:9", token = "a\nb")$get_system(), class = "orthanc_argument_error")
})
