# Credentials and TLS (issue 4, item 6), against fake servers on 127.0.0.1
# (fixtures/tls-server.py, helpers in helper-tls.R): certificate verification
# on by default, a private CA, client certificates, verify = FALSE, the
# Authorization header on redirects, the clear-text warning, and the password
# kept out of everything the user can see.

test_that("TLS verification is on by default: a private CA is an orthanc_tls_error with a hint", {
  srv <- tls_https_server()
  err <- expect_error(Orthanc$new(srv$url, retries = 0)$get_system(), class = "orthanc_tls_error")
  expect_s3_class(err, "orthanc_connection_error")
  expect_s3_class(err, "orthanc_error")
  msg <- conditionMessage(err)
  expect_match(msg, "TLS", fixed = TRUE)
  expect_match(msg, "certificate", ignore.case = TRUE)
  # The hint names the option that fixes it.
  expect_match(msg, "ca_file", fixed = TRUE)
  expect_match(err$url, paste0("127.0.0.1:", srv$port), fixed = TRUE)
  # A CA bundle that did not sign the server's certificate does not help.
  pki <- tls_pki()
  expect_error(Orthanc$new(srv$url, ca_file = pki$other_ca, retries = 0)$get_system(), class = "orthanc_tls_error")
})

test_that("ca_file trusts a private CA, by IP address and by host name", {
  pki <- tls_pki()
  srv <- tls_https_server()
  o <- expect_no_warning(Orthanc$new(srv$url, "user", "pw", ca_file = pki$ca))
  expect_equal(o$get_system()$Name, "fake")
  # The header reached the server over TLS.
  expect_match(o$GET("/echo-headers")$authorization, "^Basic ")
  by_name <- Orthanc$new(sub("127.0.0.1", "localhost", srv$url, fixed = TRUE), ca_file = pki$ca)
  expect_equal(by_name$get_system()$Version, "1.12.7")
})

test_that("a self-signed CA:TRUE certificate (openssl req -x509) is trusted with ca_file, as curl does", {
  ss <- tls_self_signed()
  srv <- tls_https_server(cert = ss$cert, key = ss$key)
  # Refused by default, with a hint that is true: ca_file fixes it.
  err <- expect_error(Orthanc$new(srv$url, retries = 0)$get_system(), class = "orthanc_tls_error")
  expect_match(conditionMessage(err), "ca_file", fixed = TRUE)
  # Accepted with ca_file set to that certificate, by IP address and by name.
  o <- Orthanc$new(srv$url, "user", "pw", ca_file = ss$cert)
  expect_equal(o$get_system()$Name, "fake")
  by_name <- Orthanc$new(sub("127.0.0.1", "localhost", srv$url, fixed = TRUE), ca_file = ss$cert)
  expect_equal(by_name$get_system()$Name, "fake")
  # Another self-signed certificate does not help.
  other <- tls_self_signed("other")
  expect_error(Orthanc$new(srv$url, ca_file = other$cert, retries = 0)$get_system(), class = "orthanc_tls_error")
  # A certificate whose names do not match the host is refused even when trusted.
  wrong <- tls_self_signed("wrong", san = "DNS:some-other-host.example")
  srv2 <- tls_https_server(cert = wrong$cert, key = wrong$key)
  err <- expect_error(Orthanc$new(srv2$url, ca_file = wrong$cert, retries = 0)$get_system(), class = "orthanc_tls_error")
  expect_match(conditionMessage(err), "host name", fixed = TRUE)
})

test_that("verify = FALSE connects to an untrusted server but warns", {
  srv <- tls_https_server()
  w <- expect_warning(o <- Orthanc$new(srv$url, verify = FALSE), class = "orthanc_insecure_warning")
  expect_match(conditionMessage(w), "verif", ignore.case = TRUE)
  expect_equal(o$get_system()$Name, "fake")
  # The default stays verify = TRUE for the next client.
  expect_error(Orthanc$new(srv$url, retries = 0)$get_system(), class = "orthanc_tls_error")
  expect_error(Orthanc$new(srv$url, verify = "no"), class = "orthanc_argument_error")
  expect_error(Orthanc$new(srv$url, verify = NA), class = "orthanc_argument_error")
})

test_that("a server that requires a client certificate: cert_file and key_file", {
  pki <- tls_pki()
  srv <- tls_https_server(client_ca = pki$ca)
  err <- expect_error(Orthanc$new(srv$url, ca_file = pki$ca, retries = 0)$get_system(), class = "orthanc_connection_error")
  expect_s3_class(err, "orthanc_tls_error")
  # The hint must say what to do: give a client certificate.
  expect_match(conditionMessage(err), "cert_file", fixed = TRUE)

  o <- Orthanc$new(srv$url, ca_file = pki$ca, cert_file = pki$client_cert, key_file = pki$client_key)
  expect_equal(o$get_system()$Name, "fake")
  expect_type(o$GET("/echo-headers"), "list")

  # The certificate and its key in one PEM file work as well.
  both <- file.path(pki$dir, "client-both.pem")
  writeLines(c(readLines(pki$client_cert), readLines(pki$client_key)), both)
  o2 <- Orthanc$new(srv$url, ca_file = pki$ca, cert_file = both)
  expect_equal(o2$get_system()$Name, "fake")

  # A client certificate signed by a CA the server does not trust is refused:
  # the server's TLS alert is a TLS error too, with the same hint.
  err <- expect_error(
    Orthanc$new(srv$url, ca_file = pki$ca, cert_file = pki$rogue_cert, key_file = pki$rogue_key, retries = 0)$get_system(),
    class = "orthanc_connection_error"
  )
  expect_s3_class(err, "orthanc_tls_error")
  expect_match(conditionMessage(err), "cert_file", fixed = TRUE)
  # A server that asks for no certificate ignores one.
  plain <- tls_https_server()
  o3 <- Orthanc$new(plain$url, ca_file = pki$ca, cert_file = pki$client_cert, key_file = pki$client_key)
  expect_equal(o3$get_system()$Name, "fake")
})

test_that("bad TLS files are orthanc_argument_error, before any request", {
  pki <- tls_pki()
  url <- "https://127.0.0.1:9" # nothing listens: an argument error must come first
  missing_file <- file.path(pki$dir, "does-not-exist.pem")
  err <- expect_error(Orthanc$new(url, ca_file = missing_file), class = "orthanc_argument_error")
  expect_match(conditionMessage(err), "ca_file", fixed = TRUE)
  expect_error(Orthanc$new(url, ca_file = 1), class = "orthanc_argument_error")
  expect_error(Orthanc$new(url, ca_file = c(pki$ca, pki$ca)), class = "orthanc_argument_error")
  expect_error(Orthanc$new(url, ca_file = pki$dir), class = "orthanc_argument_error")
  err <- expect_error(Orthanc$new(url, ca_file = pki$garbage), class = "orthanc_argument_error")
  expect_match(conditionMessage(err), "certificate", ignore.case = TRUE)
  expect_error(Orthanc$new(url, cert_file = missing_file, key_file = pki$client_key), class = "orthanc_argument_error")
  expect_error(Orthanc$new(url, cert_file = pki$client_cert, key_file = missing_file), class = "orthanc_argument_error")
  expect_error(Orthanc$new(url, key_file = pki$client_key), class = "orthanc_argument_error")
  expect_error(Orthanc$new(url, cert_file = pki$client_cert), class = "orthanc_argument_error")
  expect_error(Orthanc$new(url, cert_file = pki$garbage, key_file = pki$client_key), class = "orthanc_argument_error")
  # A key in the traditional (PKCS#1) form: the message says how to convert it.
  pkcs1 <- file.path(pki$dir, "client-pkcs1.key")
  tls_openssl("genrsa", "-traditional", "-out", pkcs1, "2048")
  err <- expect_error(Orthanc$new(url, cert_file = pki$client_cert, key_file = pkcs1), class = "orthanc_argument_error")
  expect_match(conditionMessage(err), "openssl pkcs8 -topk8", fixed = TRUE)
})

test_that("a redirect to another host does not forward the Authorization header", {
  other <- tls_local_server()
  front <- tls_local_server()
  o <- Orthanc$new(front$url, "user", "pw")
  to <- function(u) paste0("/redirect?to=", utils::URLencode(u, reserved = TRUE))

  # Another host name for the same machine: "localhost" instead of "127.0.0.1".
  h <- o$GET(to(sprintf("http://localhost:%d/echo-headers", other$port)), cookies = list(session = "abc"))
  expect_equal(h$host, sprintf("localhost:%d", other$port))
  expect_null(h$authorization)
  expect_null(h$cookie)
  expect_equal(orthanc_last_response(o)$url, sprintf("http://localhost:%d/echo-headers", other$port))
  # What the other server logged, independently of the answer's decoding.
  seen <- tls_server_requests(other)
  expect_length(seen, 1L)
  expect_equal(seen[[1]]$path, "/echo-headers")
  expect_false("authorization" %in% tolower(names(seen[[1]]$headers)))
  expect_false("cookie" %in% tolower(names(seen[[1]]$headers)))

  # The same host name on another port is another origin too.
  h <- o$GET(to(sprintf("http://127.0.0.1:%d/echo-headers", other$port)))
  expect_null(h$authorization)
  expect_length(tls_server_requests(other), 2L)

  # The front server did get the credentials on the first hop.
  front_seen <- tls_server_requests(front)
  hops <- Filter(function(r) startsWith(r$path, "/redirect"), front_seen)
  expect_length(hops, 2L)
  expect_true(all(vapply(hops, function(r) !is.null(r$headers$authorization), logical(1))))
})

test_that("a redirect on the same host keeps the Authorization header", {
  srv <- tls_local_server()
  o <- Orthanc$new(srv$url, "user", "pw")
  auth <- o$GET("/echo-headers")$authorization
  expect_match(auth, "^Basic ")
  h <- o$GET("/redirect-same")
  expect_equal(h$authorization, auth)
  expect_equal(h$host, sprintf("127.0.0.1:%d", srv$port))
  h <- o$GET("/redirect-relative")
  expect_equal(h$authorization, auth)
})

test_that("basic auth over plain http to a non-loopback host warns; loopback and no password do not", {
  srv <- tls_local_server()
  # 0.0.0.0 reaches this machine but is not a loopback name.
  far <- sprintf("http://0.0.0.0:%d", srv$port)
  w <- expect_warning(o <- Orthanc$new(far, "user", "pw-for-warning"), class = "orthanc_insecure_warning")
  expect_match(conditionMessage(w), "clear text", fixed = TRUE)
  expect_match(conditionMessage(w), "0.0.0.0", fixed = TRUE)
  expect_match(conditionMessage(w), "https", fixed = TRUE)
  expect_equal(o$get_system()$Name, "fake")
  # Credentials in the URL count too.
  expect_warning(
    Orthanc$new(sprintf("http://user:pw-for-warning@0.0.0.0:%d", srv$port)),
    class = "orthanc_insecure_warning"
  )
  # ... and from the environment.
  withr::with_envvar(c(ORTHANC_PASSWORD = "pw-from-env"), {
    expect_warning(Orthanc$new(far, "user"), class = "orthanc_insecure_warning")
  })

  expect_no_warning(Orthanc$new(srv$url, "user", "pw"))
  expect_no_warning(Orthanc$new(sprintf("http://localhost:%d", srv$port), "user", "pw"))
  expect_no_warning(Orthanc$new(sprintf("http://LOCALHOST:%d", srv$port), "user", "pw"))
  withr::with_envvar(c(ORTHANC_PASSWORD = NA), {
    expect_no_warning(Orthanc$new(far))
    expect_no_warning(Orthanc$new(far, "user"))
  })
})

test_that("the password never shows: warnings, errors, print, format, str, condition calls, call stacks", {
  pki <- tls_pki()
  # Made at run time, so that the test's own source code (on the call stack) does
  # not hold it.
  pw <- paste0("S3cret-", paste(sample(c(letters, LETTERS, 0:9), 16, TRUE), collapse = ""))
  user <- "alice"
  tls_require_package("jsonlite")
  token <- jsonlite::base64_enc(paste0(user, ":", pw))
  secrets <- c(pw, token, utils::URLencode(pw, reserved = TRUE))
  leaks <- function(text) any(vapply(secrets, function(s) any(grepl(s, text, fixed = TRUE)), logical(1)))

  srv <- tls_local_server()
  tls <- tls_https_server()
  far <- sprintf("http://0.0.0.0:%d", srv$port)

  # Every condition signalled by these calls, with the call stack at the time.
  seen <- list()
  stacks <- character()
  collect <- function(expr) {
    tryCatch(
      withCallingHandlers(expr, condition = function(c) {
        seen[[length(seen) + 1L]] <<- c
        stacks <<- c(stacks, unlist(lapply(sys.calls(), function(x) paste(deparse(x), collapse = " "))))
        if (inherits(c, "warning")) invokeRestart("muffleWarning")
      }),
      error = function(e) NULL
    )
  }
  collect(Orthanc$new(far, user, pw))                                     # clear-text warning
  collect(Orthanc$new(sprintf("http://%s:%s@0.0.0.0:%d", user, pw, srv$port))) # same, URL form
  collect(Orthanc$new(tls$url, user, pw, retries = 0)$get_system())        # TLS error
  collect(Orthanc$new(tls$url, user, pw, verify = FALSE))                  # verify warning
  collect(Orthanc$new("http://127.0.0.1:9", user, pw, retries = 0)$get_system()) # connection refused
  collect(Orthanc$new(tls$url, user, pw, ca_file = pki$garbage))           # argument error from Rust
  collect(Orthanc$new(tls$url, user, pw, ca_file = "/no/such/file"))       # argument error from R
  collect(Orthanc$new(srv$url, user, pw, timeout = -1))
  o <- Orthanc$new(srv$url, user, pw)
  collect(o$GET("/no-such-route"))                                          # 404 from the server
  collect(o$get_instances_id("no-such-id"))                                 # 404 through a generated method
  collect(o$GET("/redirect-same", headers = list(`X-Bad` = "a\nb")))       # invalid header
  kinds <- vapply(seen, function(c) class(c)[1], character(1))
  expect_true(all(c(
    "orthanc_insecure_warning", "orthanc_tls_error", "orthanc_connection_error",
    "orthanc_argument_error", "orthanc_http_404"
  ) %in% kinds))
  for (cnd in seen) {
    expect_false(leaks(tls_condition_text(cnd)), label = paste("a", class(cnd)[1], "shows the password"))
  }
  expect_false(leaks(stacks), label = "the call stack at a condition shows the password")

  shown <- c(
    utils::capture.output(print(o)), format(o), utils::capture.output(str(o)),
    utils::capture.output(print(o$.__enclos_env__$private$config)),
    utils::capture.output(str(as.list(o$.__enclos_env__$private))),
    utils::capture.output(print(orthanc_last_response(o)))
  )
  expect_true(any(grepl(user, shown, fixed = TRUE)))
  expect_false(leaks(shown))
  f <- withr::local_tempfile(fileext = ".rds")
  saveRDS(o, f, compress = FALSE)
  expect_length(grepRaw(pw, readBin(f, "raw", file.size(f)), fixed = TRUE), 0L)
  expect_length(grepRaw(token, readBin(f, "raw", file.size(f)), fixed = TRUE), 0L)
})
