# Live Orthanc servers for the tests. dev/orthanc-server starts them and
# exports ORTHANC_TEST_* variables; without them every server test skips, except
# under CI=true where a missing server is a failure.

on_ci <- function() identical(tolower(Sys.getenv("CI")), "true")

skip_if_no_orthanc <- function(var = "ORTHANC_TEST_URL") {
  if (nzchar(Sys.getenv(var))) {
    return(invisible(TRUE))
  }
  if (on_ci()) {
    stop("CI=true but no Orthanc test server: ", var, " is not set (start one with dev/orthanc-server start)")
  }
  testthat::skip(paste0("no Orthanc test server (", var, " is not set; see dev/orthanc-server)"))
}

# A throwaway server of the test's own (local_orthanc(), R/local-server.R) needs
# the Orthanc program: skips without it, fails under CI=true.
skip_if_no_orthanc_binary <- function() {
  testthat::skip_if_not_installed("processx")
  if (!orthanc_binary_available()) {
    if (on_ci()) stop("CI=true but no Orthanc program (apt-get install orthanc)")
    testthat::skip("no Orthanc program (apt-get install orthanc)")
  }
}

test_credentials <- function() {
  list(
    username = Sys.getenv("ORTHANC_TEST_USERNAME"),
    password = Sys.getenv("ORTHANC_TEST_PASSWORD")
  )
}

# The endpoint methods called by the tests, for the coverage report printed at
# the end of the run (setup-coverage.R): the request path of the package calls
# `the$request_hook(call, value)` for every request while it is set (see
# setup-coverage.R), with the user's call, e.g. `o$get_system()`, and the
# answer (the value returned, or the condition raised).
endpoint_calls <- new.env(parent = emptyenv())

# The hook: which endpoint method sent the request? The function two frames up
# (the hook <- request() <- the endpoint method), known by its body: every
# generated method has its own route. Requests of the verbs (GET(), POST(), ...)
# and of other private functions are not endpoint methods and are not counted.
# The answer is remembered (helper-coverage.R) so that an expectation that
# later looks at it marks the method as checked.
record_endpoint_call <- function(call, value) {
  name <- endpoint_method_name(sys.function(-2L))
  if (!is.null(name)) {
    endpoint_calls[[name]] <- (endpoint_calls[[name]] %||% 0L) + 1L
    coverage_remember_answer(name, value)
  }
  invisible()
}

endpoint_bodies <- new.env(parent = emptyenv())

endpoint_method_name <- function(f) {
  if (!length(ls(endpoint_bodies))) {
    for (m in names(Orthanc$public_methods)) {
      assign(paste(deparse(body(Orthanc$public_methods[[m]])), collapse = "\n"), m, envir = endpoint_bodies)
    }
  }
  key <- paste(deparse(body(f)), collapse = "\n")
  if (exists(key, envir = endpoint_bodies, inherits = FALSE)) get(key, envir = endpoint_bodies) else NULL
}

`%||%` <- function(x, y) if (is.null(x)) y else x

# A connected client for server "a" (ORTHANC_TEST_URL), "b" (ORTHANC_TEST_URL2)
# or "c" (ORTHANC_TEST_URL3: the scratch server, which only
# test-api-generated-reset.R uses, because it restarts it; no test stops a
# shared server: a test that shuts one down starts its own, local_orthanc()).
orthanc_client <- function(which = c("a", "b", "c"), ...) {
  which <- match.arg(which)
  var <- c(a = "ORTHANC_TEST_URL", b = "ORTHANC_TEST_URL2", c = "ORTHANC_TEST_URL3")[[which]]
  skip_if_no_orthanc(var)
  cred <- test_credentials()
  Orthanc$new(Sys.getenv(var), cred$username, cred$password, ...)
}

# An answer that lists names (a list of strings) includes `values`.
expect_listed <- function(answer, values, label = NULL) {
  expect_type(answer, "list")
  expect_true(all(values %in% unlist(answer)), label = label)
}

fixture <- function(...) testthat::test_path("fixtures", ...)

# Upload a fixture file and delete what it created when the calling test ends.
local_instance <- function(client, file = fixture("Lena-1.dcm"), env = parent.frame()) {
  res <- client$post_instances(file = file)
  withr::defer(try(client$delete_instances_id(res$ID), silent = TRUE), envir = env)
  res
}

# Poll a job until it reaches one of `states` (bounded); return its description.
# Fails on an unexpected "Failure", and on timeout.
wait_for_job <- function(client, id, states = "Success", timeout = 30) {
  deadline <- Sys.time() + timeout
  repeat {
    job <- client$get_jobs_id(id)
    if (job$State %in% states) {
      return(job)
    }
    if (identical(job$State, "Failure") && !"Failure" %in% states) {
      stop("job ", id, " failed: ", job$ErrorDescription, " ", job$ErrorDetails)
    }
    if (Sys.time() > deadline) {
      stop("job ", id, " is still ", job$State, " after ", timeout, " s (waiting for ",
        paste(states, collapse = "/"), ")")
    }
    Sys.sleep(0.1)
  }
}

# The entries of a ZIP archive given as a raw vector (utils::unzip(list = TRUE)).
zip_entries <- function(bytes) {
  f <- tempfile(fileext = ".zip")
  on.exit(unlink(f))
  writeBin(bytes, f)
  utils::unzip(f, list = TRUE)
}

# An answer that is a ZIP archive (raw bytes).
expect_zip <- function(bytes) {
  expect_type(bytes, "raw")
  expect_true(is_zip(bytes), label = "a ZIP archive")
}

is_zip <- function(bytes) {
  is.raw(bytes) && length(bytes) > 4L && identical(bytes[1:4], charToRaw("PK\003\004"))
}

md5_of <- function(bytes) {
  f <- tempfile()
  on.exit(unlink(f))
  writeBin(bytes, f)
  unname(tools::md5sum(f))
}

# A client of the legacy Orthanc (1.10.1) of `dev/orthanc-server start --legacy`.
legacy_client <- function() {
  skip_if_no_orthanc("ORTHANC_LEGACY_URL")
  cred <- test_credentials()
  Orthanc$new(Sys.getenv("ORTHANC_LEGACY_URL"), cred$username, cred$password)
}
