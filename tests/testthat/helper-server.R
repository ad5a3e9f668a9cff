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

test_credentials <- function() {
  list(
    username = Sys.getenv("ORTHANC_TEST_USERNAME"),
    password = Sys.getenv("ORTHANC_TEST_PASSWORD")
  )
}

# The endpoint methods called by the tests, for the coverage report printed at
# the end of the run (setup-coverage.R).
endpoint_calls <- new.env(parent = emptyenv())

# A client that records which endpoint methods it calls; otherwise an Orthanc.
RecordingOrthanc <- R6::R6Class("RecordingOrthanc",
  inherit = Orthanc,
  cloneable = FALSE,
  private = list(
    api = function(endpoint, ...) {
      endpoint_calls[[endpoint]] <- (endpoint_calls[[endpoint]] %||% 0L) + 1L
      super$api(endpoint, ...)
    }
  )
)

`%||%` <- function(x, y) if (is.null(x)) y else x

# A connected client for server "a" (ORTHANC_TEST_URL), "b" (ORTHANC_TEST_URL2)
# or "c" (ORTHANC_TEST_URL3: the scratch server, which only
# test-api-generated-reset.R uses, because it restarts and shuts it down).
orthanc_client <- function(which = c("a", "b", "c"), ...) {
  which <- match.arg(which)
  var <- c(a = "ORTHANC_TEST_URL", b = "ORTHANC_TEST_URL2", c = "ORTHANC_TEST_URL3")[[which]]
  skip_if_no_orthanc(var)
  cred <- test_credentials()
  RecordingOrthanc$new(Sys.getenv(var), cred$username, cred$password, ...)
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

is_zip <- function(bytes) {
  is.raw(bytes) && length(bytes) > 4L && identical(bytes[1:4], charToRaw("PK\003\004"))
}

md5_of <- function(bytes) {
  f <- tempfile()
  on.exit(unlink(f))
  writeBin(bytes, f)
  unname(tools::md5sum(f))
}
