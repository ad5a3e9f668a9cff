test_that("a DICOM file goes up, comes back identical, and is deleted", {
  o <- orthanc_client()
  f <- fixture("Lena-1.dcm")
  up <- o$POST("/instances", file = f)
  expect_equal(up$Status, "Success")
  expect_match(up$ID, "^[0-9a-f]{8}(-[0-9a-f]{8}){4}$")

  info <- o$GET(paste0("/instances/", up$ID))
  expect_type(info, "list")
  expect_equal(info$ID, up$ID)
  expect_type(info$MainDicomTags$SOPInstanceUID, "character")
  expect_type(info$IndexInSeries, "integer")

  bytes <- o$GET(paste0("/instances/", up$ID, "/file"))
  expect_type(bytes, "raw")
  expect_identical(bytes, readBin(f, "raw", file.size(f)))

  path <- o$stream("GET", paste0("/instances/", up$ID, "/file"))
  on.exit(unlink(path), add = TRUE)
  expect_identical(unname(tools::md5sum(path)), unname(tools::md5sum(f)))

  o$DELETE(paste0("/instances/", up$ID))
  err <- expect_error(o$GET(paste0("/instances/", up$ID)), class = "orthanc_http_404")
  expect_s3_class(err, "orthanc_http_error")
  expect_s3_class(err, "orthanc_error")
  expect_equal(err$status, 404L)
  expect_equal(err$method, "GET")
  expect_match(err$url, up$ID, fixed = TRUE)
})

test_that("answers come back by kind: JSON, text, binary, empty", {
  o <- orthanc_client()
  expect_type(o$GET("/system"), "list")
  level <- o$GET("/tools/log-level")
  expect_type(level, "character")
  expect_length(level, 1L)
  up <- local_instance(o)
  png <- o$GET(paste0("/instances/", up$ID, "/preview"))
  expect_type(png, "raw")
  expect_identical(png[2:4], charToRaw("PNG"))
  # An empty answer is an invisible NULL.
  expect_invisible(o$PUT(paste0("/instances/", up$ID, "/labels/emptyanswer")))
  expect_null(o$PUT(paste0("/instances/", up$ID, "/labels/emptyanswer")))
  expect_equal(o$GET(paste0("/instances/", up$ID, "/labels")), list("emptyanswer"))
})

test_that("params, headers and cookies reach the server", {
  o <- orthanc_client()
  up <- local_instance(o)
  short <- o$GET(paste0("/instances/", up$ID, "/tags"), params = list(short = TRUE))
  expect_true("0008,0018" %in% names(short))
  simplified <- o$GET(paste0("/instances/", up$ID, "/tags"), params = list(simplify = TRUE))
  expect_true("SOPInstanceUID" %in% names(simplified))
  limited <- o$GET("/instances", params = list(limit = 1, since = 0))
  expect_length(limited, 1L)
  # A header Orthanc reads: Accept on a rendered frame.
  jpeg <- o$GET(paste0("/instances/", up$ID, "/preview"), headers = list(Accept = "image/jpeg"))
  expect_identical(jpeg[1:3], as.raw(c(0xff, 0xd8, 0xff)))
  expect_error(o$GET("/system", params = list(1)), class = "orthanc_argument_error")
  expect_error(o$GET("/system", headers = "x"), class = "orthanc_argument_error")
})

# The fake server's /echo answers what it received: the query as [name, value]
# pairs (percent-decoded as UTF-8), the headers and the cookies as pairs too.
echo_pairs <- function(pairs) lapply(pairs, function(p) c(p[[1]], p[[2]]))
echo_of <- function(pairs, names) Filter(function(p) p[[1]] %in% names, echo_pairs(pairs))

test_that("params, headers and cookies arrive at a server exactly as given (names, values, UTF-8)", {
  srv <- local_fault_server()
  o <- fault_client(srv, retries = 0)
  utf8 <- "Zo\u00eb \u5c71\u7530 \u2713"
  seen <- o$GET("/echo",
    params = list(
      plain = "value", utf8 = utf8, reserved = "a b&c=d/e?f#g+h%i", n = 2.5, i = 3L,
      big = 123456789012, yes = TRUE, many = c("x", "y"), skipped = NULL
    ),
    headers = list(`X-Orthanc-Test` = "hello world", `X-Reserved` = "a=b; c,d \"e\""),
    cookies = list(session = "abc123", theme = "dark", empty = "")
  )
  expect_equal(seen$method, "GET")
  expect_equal(seen$path, "/echo")
  expect_equal(echo_pairs(seen$query), list(
    c("plain", "value"), c("utf8", utf8), c("reserved", "a b&c=d/e?f#g+h%i"), c("n", "2.5"),
    c("i", "3"), c("big", "123456789012"), c("yes", "true"), c("many", "x"), c("many", "y")
  ))
  expect_equal(Encoding(echo_pairs(seen$query)[[2]][2]), "UTF-8")
  expect_equal(
    echo_of(seen$headers, c("x-orthanc-test", "x-reserved")),
    list(c("x-orthanc-test", "hello world"), c("x-reserved", "a=b; c,d \"e\""))
  )
  expect_equal(echo_pairs(seen$cookies), list(c("session", "abc123"), c("theme", "dark"), c("empty", "")))
  # One Cookie header, none without cookies.
  expect_length(echo_of(seen$headers, "cookie"), 1L)
  plain <- o$GET("/echo")
  expect_length(plain$query, 0L)
  expect_length(plain$cookies, 0L)
  expect_length(echo_of(plain$headers, c("cookie", "x-orthanc-test")), 0L)
  # UTF-8 text in header and cookie values arrives as UTF-8.
  seen <- o$GET("/echo", headers = list(`X-Name` = utf8), cookies = list(name = utf8))
  expect_equal(echo_of(seen$headers, "x-name"), list(c("x-name", utf8)))
  expect_equal(echo_pairs(seen$cookies), list(c("name", utf8)))
  # What would arrive as something else than what was given is refused before
  # anything is sent: a ";" in a cookie value would make two cookies, a name
  # that is not a token would be split elsewhere, a line break in a header
  # would start another header.
  key <- paste0("refused-", sample.int(1e6, 1L))
  refused <- list(
    list(cookies = list(a = "1; admin=true")), list(cookies = list(`a=b` = "x")),
    list(cookies = list(`a b` = "x")), list(cookies = list(a = "x\ny")), list(cookies = c(`a;b` = "x")),
    list(headers = list(`X-A` = "1\r\nX-B: 2")), list(headers = stats::setNames(list("1"), "X-\u00e4"))
  )
  for (args in refused) {
    expect_error(do.call(o$GET, c(list("/echo", params = list(key = key)), args)), class = "orthanc_argument_error")
  }
  expect_equal(fault_count(srv, key), 0L)
  # A named character vector works as a list does; the same in a POST.
  posted <- o$POST("/echo", json = list(a = 1), params = c(k = "v"), cookies = c(id = "7"))
  expect_equal(posted$method, "POST")
  expect_equal(echo_pairs(posted$query), list(c("k", "v")))
  expect_equal(echo_pairs(posted$cookies), list(c("id", "7")))
})

test_that("JSON bodies follow the R -> JSON rules", {
  o <- orthanc_client()
  # /tools/find echoes nothing, but a query built from these rules must work.
  up <- local_instance(o)
  found <- o$POST("/tools/find", json = list(
    Level = "Instance",
    Query = list(SOPInstanceUID = o$GET(paste0("/instances/", up$ID))$MainDicomTags$SOPInstanceUID),
    Expand = FALSE
  ))
  expect_equal(found, list(up$ID))
  # I() forces an array even for one value; {} from an empty named list.
  res <- o$POST("/tools/find", json = list(Level = "Instance", Query = structure(list(), names = character()), Labels = I("nolabelhere"), LabelsConstraint = "All"))
  expect_equal(res, list())
  expect_error(o$POST("/tools/find", json = list(f = function() 1)), class = "orthanc_argument_error")
  expect_error(o$POST("/tools/find", json = list(1), data = "x"), class = "orthanc_argument_error")
})

test_that("text and raw bodies are sent as they are", {
  o <- orthanc_client()
  old <- o$GET("/tools/log-level")
  withr::defer(o$PUT("/tools/log-level", data = old))
  o$PUT("/tools/log-level", data = "verbose")
  expect_equal(o$GET("/tools/log-level"), "verbose")
  up <- o$POST("/instances", data = readBin(fixture("Lena-2.dcm"), "raw", file.size(fixture("Lena-2.dcm"))))
  expect_equal(up$Status, "Success")
  o$DELETE(paste0("/instances/", up$ID))
})

test_that("construction sends no request; a wrong password is a 401 at the first request", {
  skip_if_no_orthanc()
  o <- Orthanc$new(Sys.getenv("ORTHANC_TEST_URL"), test_credentials()$username, "not-the-password")
  expect_s3_class(o, "Orthanc")
  err <- expect_error(o$get_system(), class = "orthanc_http_401")
  expect_s3_class(err, "orthanc_http_error")
  expect_equal(err$status, 401L)
  expect_match(conditionMessage(err), "user name and password")
  expect_false(grepl("not-the-password", conditionMessage(err), fixed = TRUE))
  # No credentials at all for a server that wants them: the same.
  withr::local_envvar(ORTHANC_USERNAME = NA, ORTHANC_PASSWORD = NA)
  anon <- Orthanc$new(Sys.getenv("ORTHANC_TEST_URL"))
  expect_error(anon$get_system(), class = "orthanc_http_401")
})

test_that("a closed port makes a client; its first request is an orthanc_connection_error", {
  o <- Orthanc$new("http://127.0.0.1:9", timeout = 5, retries = 0)
  expect_s3_class(o, "Orthanc")
  err <- expect_error(o$get_system(), class = "orthanc_connection_error")
  expect_s3_class(err, "orthanc_error")
  expect_match(conditionMessage(err), "Is the server running")
  expect_equal(err$url, "http://127.0.0.1:9/system")
})

test_that("construction costs no request (counted on a server and with the mock seam)", {
  srv <- tls_local_server()
  o <- Orthanc$new(srv$url, "user", "pw")
  expect_length(tls_server_requests(srv), 0L)
  o$GET("/echo-headers")
  expect_length(tls_server_requests(srv), 1L)
  n <- 0L
  local_orthanc_mock(function(req) {
    n <<- n + 1L
    orthanc_mock_response(body = list(Version = "9.9.9"))
  })
  o2 <- Orthanc$new("https://orthanc.invalid:8042", "user", "pw")
  expect_equal(n, 0L)
  expect_equal(o2$server_version, "9.9.9")
  expect_equal(o2$server_version, "9.9.9")
  expect_equal(n, 1L) # asked once, then remembered
  expect_error(o2$server_version <- "1", class = "orthanc_argument_error")
})

test_that("a tiny timeout is an orthanc_timeout_error", {
  # A server that answers, then stalls longer than the timeout between chunks.
  srv <- local_fault_server()
  o <- Orthanc$new(srv$url, timeout = 0.2, retries = 0)
  start <- Sys.time()
  err <- expect_error(o$GET("/slow?seconds=3&gap=1"), class = "orthanc_timeout_error")
  expect_lt(as.numeric(Sys.time() - start, units = "secs"), 2)
  expect_s3_class(err, "orthanc_error")
  expect_match(conditionMessage(err), "timeout", ignore.case = TRUE)
})

test_that("the password appears in no print, format, str, error or saved file", {
  skip_if_no_orthanc()
  cred <- test_credentials()
  o <- Orthanc$new(Sys.getenv("ORTHANC_TEST_URL"), cred$username, cred$password)
  pw <- cred$password
  shown <- c(
    capture.output(print(o)), format(o), capture.output(str(o)),
    capture.output(print(as.list(o))), capture.output(str(as.list(o$.__enclos_env__$private)))
  )
  expect_false(any(grepl(pw, shown, fixed = TRUE)))
  expect_true(any(grepl(cred$username, capture.output(print(o)), fixed = TRUE)))
  f <- withr::local_tempfile(fileext = ".rds")
  saveRDS(o, f, compress = FALSE)
  raw <- readBin(f, "raw", file.size(f))
  expect_false(grepRaw(pw, raw, fixed = TRUE, value = FALSE) |> length() > 0)
  # An error from a request made with the password does not show it either.
  err <- tryCatch(o$get_instances_id("does-not-exist"), error = identity)
  expect_false(grepl(pw, conditionMessage(err), fixed = TRUE))
  expect_false(any(grepl(pw, unlist(lapply(unclass(err), format)), fixed = TRUE)))
  # The URL form with credentials is taken apart and never printed.
  u <- sub("://", paste0("://", cred$username, ":", pw, "@"), Sys.getenv("ORTHANC_TEST_URL"))
  o2 <- Orthanc$new(u)
  expect_false(any(grepl(pw, c(capture.output(print(o2)), o2$url), fixed = TRUE)))
})

test_that("a client comes back after saveRDS()/readRDS() with the password from the environment", {
  skip_if_no_orthanc()
  cred <- test_credentials()
  o <- Orthanc$new(Sys.getenv("ORTHANC_TEST_URL"), cred$username, cred$password)
  f <- withr::local_tempfile(fileext = ".rds")
  saveRDS(o, f)
  o2 <- readRDS(f)
  withr::local_envvar(ORTHANC_PASSWORD = cred$password)
  expect_equal(o2$get_system()$Version, o$get_system()$Version)
  withr::local_envvar(ORTHANC_PASSWORD = NA)
  o3 <- readRDS(f)
  expect_error(o3$get_system(), class = "orthanc_http_401")
})

test_that("Orthanc$new() takes the URL and credentials from the environment", {
  skip_if_no_orthanc()
  cred <- test_credentials()
  withr::local_envvar(
    ORTHANC_URL = Sys.getenv("ORTHANC_TEST_URL"),
    ORTHANC_USERNAME = cred$username, ORTHANC_PASSWORD = cred$password
  )
  o <- Orthanc$new()
  expect_equal(o$url, Sys.getenv("ORTHANC_TEST_URL"))
  expect_equal(o$get_system()$DicomAet, Sys.getenv("ORTHANC_TEST_AET"))
  expect_identical(names(formals(Orthanc$public_methods$initialize)), c("url", "username", "password", "token", "auth", "..."))
  withr::local_envvar(ORTHANC_URL = NA)
  err <- tryCatch(Orthanc$new(retries = 0)$get_system(), error = identity)
  expect_match(err$url %||% "", "localhost:8042", fixed = TRUE)
})

test_that("active bindings count resources from /statistics", {
  o <- orthanc_client()
  before <- o$num_instances
  expect_type(before, "integer")
  up <- local_instance(o, fixture("Lena-3.dcm"))
  expect_equal(o$num_instances, before + 1L)
  expect_gte(o$num_series, 1L)
  expect_gte(o$num_studies, 1L)
  expect_gte(o$num_patients, 1L)
  expect_error(o$num_instances <- 3, class = "orthanc_argument_error")
})

test_that("bad arguments are classed errors", {
  o <- orthanc_client()
  expect_error(o$GET(1), class = "orthanc_argument_error")
  expect_error(o$POST("/instances", file = tempfile()), class = "orthanc_argument_error")
  expect_error(o$POST("/instances", data = 1:3), class = "orthanc_argument_error")
  expect_error(o$stream("PATCH", "/system"), class = "orthanc_argument_error")
  expect_error(Orthanc$new("not a url"), class = "orthanc_argument_error")
  expect_error(Orthanc$new("ftp://x"), class = "orthanc_argument_error")
  expect_error(Orthanc$new(Sys.getenv("ORTHANC_TEST_URL"), timeout = -1), class = "orthanc_argument_error")
  expect_error(Orthanc$new(Sys.getenv("ORTHANC_TEST_URL"), nonsense = 1), class = "orthanc_argument_error")
  expect_error(o$get_instances_id(NULL), class = "orthanc_argument_error")
  expect_error(o$get_instances_id(c("a", "b")), class = "orthanc_argument_error")
  expect_error(o$get_instances_id(NA_character_), class = "orthanc_argument_error")
})

test_that("a route the server lacks: the hint names the version once the client knows it, and asks nothing", {
  o <- orthanc_client()
  err <- expect_error(o$GET("/no/such/route"), class = "orthanc_http_404")
  expect_match(conditionMessage(err), "a newer Orthanc is needed", fixed = TRUE)
  expect_no_match(conditionMessage(err), "version", fixed = TRUE)
  # Building the condition sent no request: the last answer is the 404 itself.
  expect_match(orthanc_last_response(o)$url, "/no/such/route$")
  version <- o$server_version
  err <- expect_error(o$GET("/no/such/route"), class = "orthanc_http_404")
  expect_match(conditionMessage(err), paste0("(version ", version, ")"), fixed = TRUE)
})

test_that("a non-DICOM upload fails with Orthanc's reason", {
  o <- orthanc_client()
  f <- withr::local_tempfile(fileext = ".dcm")
  writeLines("not dicom at all", f)
  err <- expect_error(o$POST("/instances", file = f), class = "orthanc_http_400")
  expect_equal(err$error_body$OrthancError, "Bad file format")
  expect_match(conditionMessage(err), "Bad file format")
  # A corrupt DICOM file: the real header, then the data cut short.
  dcm <- readBin(fixture("Lena-1.dcm"), "raw", file.size(fixture("Lena-1.dcm")))
  cut <- withr::local_tempfile(fileext = ".dcm")
  writeBin(dcm[1:600], cut)
  err <- expect_error(o$post_instances(file = cut), class = "orthanc_http_error")
  expect_gte(err$status, 400L)
  expect_true(nzchar(err$error_body$Message %||% ""))
  expect_match(conditionMessage(err), err$error_body$Message, fixed = TRUE)
})

test_that("print() shows the URL, the user, the API description and the server's version once known", {
  o <- orthanc_client()
  expect_null(orthanc_last_response(o))
  out <- capture.output(print(o))
  expect_match(out[1], "<Orthanc client>", fixed = TRUE)
  expect_true(any(grepl(o$url, out, fixed = TRUE)))
  expect_true(any(grepl("1.12.10", out, fixed = TRUE)))
  expect_false(any(grepl("Orthanc: ", out, fixed = TRUE)))
  expect_null(orthanc_last_response(o)) # print() sent nothing
  expect_equal(o$server_version, Sys.getenv("ORTHANC_TEST_VERSION", o$get_system()$Version))
  expect_equal(orthanc_last_response(o)$status, 200L)
  out <- capture.output(print(o))
  expect_true(any(grepl(paste0("Orthanc: +", gsub(".", "\\.", o$server_version, fixed = TRUE)), out)))
})

test_that("requests carry the user agent and accept gzip", {
  srv <- tls_local_server()
  o <- Orthanc$new(srv$url)
  h <- o$GET("/echo-headers")
  expect_equal(h[["user-agent"]], paste0("orthanc-r/", utils::packageVersion("orthanc")))
  expect_match(h[["accept-encoding"]], "gzip")
  expect_null(h$authorization)
  seen <- tls_server_requests(srv)
  expect_equal(vapply(seen, `[[`, "", "path"), "/echo-headers")
  o2 <- Orthanc$new(srv$url, user_agent = "my-pipeline/2.1 (lab) orthanc-r")
  expect_equal(o2$GET("/echo-headers")[["user-agent"]], "my-pipeline/2.1 (lab) orthanc-r")
})

test_that("a user agent that is not one printable line is refused", {
  for (bad in list(1, c("a", "b"), "", "two\nlines", "tab\there", "caf\u00e9", NA_character_)) {
    expect_error(Orthanc$new("http://127.0.0.1:9", user_agent = bad), class = "orthanc_argument_error")
  }
  expect_error(Orthanc$new("http://127.0.0.1:9", user_agent = "x\r\nX-Injected: 1"), "printable ASCII")
})

test_that("strings that are not UTF-8 text are refused by Orthanc$new() with a classed error", {
  bytes <- "caf\xc3\xa9"
  Encoding(bytes) <- "bytes"
  invalid <- "\xff"
  Encoding(invalid) <- "UTF-8"
  for (s in list(bytes, invalid)) {
    expect_error(Orthanc$new(paste0("http://127.0.0.1:9/", s)), class = "orthanc_argument_error")
    expect_error(Orthanc$new("http://127.0.0.1:9", username = s), class = "orthanc_argument_error")
    expect_error(Orthanc$new("http://127.0.0.1:9", "u", password = s), class = "orthanc_argument_error")
    expect_error(Orthanc$new("https://127.0.0.1:9", ca_file = s), class = "orthanc_argument_error")
    expect_error(Orthanc$new("http://127.0.0.1:9", retry_methods = s), class = "orthanc_argument_error")
    withr::with_envvar(c(ORTHANC_PASSWORD = "x"), {
      expect_error(Orthanc$new(paste0("http://u:", s, "@127.0.0.1:9")), class = "orthanc_argument_error")
    })
  }
  # Latin-1 text is text: translated to UTF-8.
  latin1 <- iconv("caf\u00e9", "UTF-8", "latin1")
  o <- Orthanc$new("http://127.0.0.1:9", username = latin1, retries = 0)
  expect_match(capture.output(print(o)), "caf\u00e9", fixed = TRUE, all = FALSE)
})
