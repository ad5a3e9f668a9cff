# Coverage of the endpoint methods (R/api-generated.R) by the tests.
#
# RecordingOrthanc (helper-server.R) counts the endpoint methods the tests call
# in `endpoint_calls`; the helper-uncovered-*.R files list, with
# not_exercised(), the methods the tests do not call, each with its reason.
# setup-coverage.R has coverage_report() run once after all test files,
# whatever their order: it prints "endpoint methods exercised: N of M" and the
# methods not exercised, and fails the run when the live servers are there
# (ORTHANC_TEST_URL) and every test file ran, but a method is neither called
# nor listed with a reason.

uncovered_endpoints <- new.env(parent = emptyenv())

not_exercised <- function(method, reason) {
  assign(method, reason, envir = uncovered_endpoints)
}

# The methods of the Orthanc class that are not endpoint methods.
coverage_core_methods <- c("initialize", "GET", "DELETE", "POST", "PUT", "stream", "batch", "print")

# The endpoint method names derived from the pinned OpenAPI description: one
# per operation that is not deprecated, named verb_path (braces dropped, "/"
# and "-" as "_"), as tools/generate-api.R names them.
coverage_spec_methods <- function() {
  file <- system.file("openapi", "orthanc-openapi-1.12.10.json", package = "orthanc")
  if (!nzchar(file)) stop("coverage: inst/openapi/orthanc-openapi-1.12.10.json is not installed")
  spec <- jsonlite::fromJSON(file, simplifyVector = FALSE)
  methods <- character()
  for (path in names(spec$paths)) {
    for (verb in names(spec$paths[[path]])) {
      if (isTRUE(spec$paths[[path]][[verb]]$deprecated)) next
      route <- gsub("[/-]", "_", gsub("[{}]", "", sub("^/", "", path)))
      methods <- c(methods, paste0(verb, "_", route))
    }
  }
  methods
}

# Did this run source every test file of the directory? testthat does not say
# it openly: test_files_serial(), test_files() and test_dir() hold the files of
# the run in `test_paths`, and the teardown of the run happens while they are
# on the call stack. When it cannot be told, the run counts as complete.
coverage_complete_run <- function(test_dir) {
  all <- list.files(test_dir, pattern = "^test.*\\.[rR]$")
  for (frame in rev(sys.frames())) {
    if (exists("test_paths", envir = frame, inherits = FALSE)) {
      ran <- basename(get("test_paths", envir = frame, inherits = FALSE))
      return(all(all %in% ran))
    }
  }
  TRUE
}

# Print the coverage of the endpoint methods; stop() on an inconsistency, and
# on a method without test nor reason when the servers are there and the run
# is complete.
coverage_report <- function(test_dir) {
  if (!requireNamespace("jsonlite", quietly = TRUE)) {
    message("endpoint coverage not computed: jsonlite is not installed")
    return(invisible())
  }
  endpoints <- coverage_spec_methods()
  class_methods <- setdiff(names(Orthanc$public_methods), coverage_core_methods)
  problems <- character()
  problem <- function(what, methods) {
    if (length(methods)) problems <<- c(problems, paste0(what, ": ", paste(methods, collapse = ", ")))
  }
  problem("the spec names methods twice", endpoints[duplicated(endpoints)])
  problem("operations of the spec without an Orthanc method", setdiff(endpoints, class_methods))
  problem(
    "Orthanc methods that are neither core nor an operation of the spec",
    setdiff(class_methods, endpoints)
  )
  called <- intersect(ls(endpoint_calls), endpoints)
  skipped <- ls(uncovered_endpoints)
  problem("not_exercised() names unknown methods", setdiff(skipped, endpoints))
  # A method with a reason not to be exercised must really not be called.
  problem("methods listed with not_exercised() but called", intersect(called, skipped))
  missing <- setdiff(endpoints, c(called, skipped))
  complete <- coverage_complete_run(test_dir)
  message(
    "endpoint methods exercised: ", length(called), " of ", length(endpoints),
    if (!complete) " (not every test file ran)"
  )
  if (length(skipped)) {
    message("not exercised, with reasons:")
    for (m in sort(skipped)) message("  ", m, ": ", uncovered_endpoints[[m]])
  }
  if (length(missing) && complete) {
    message("not exercised and without a reason: ", paste(missing, collapse = ", "))
  } else if (length(missing)) {
    message(length(missing), " endpoint methods not called by the test files that ran")
  }
  if (nzchar(Sys.getenv("ORTHANC_TEST_URL")) && complete) {
    problem(
      "endpoint methods neither called by a test nor listed with a reason (not_exercised() in helper-uncovered-*.R)",
      missing
    )
    # At most a tenth of the endpoint methods may go without a test.
    if (length(skipped) > length(endpoints) %/% 10L) {
      problem(paste("more than a tenth of the", length(endpoints), "endpoint methods are not exercised"), skipped)
    }
  }
  if (length(problems)) {
    stop("endpoint coverage: ", paste(problems, collapse = "; "), call. = FALSE)
  }
  invisible()
}
