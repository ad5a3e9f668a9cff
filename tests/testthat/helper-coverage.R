# Endpoint methods that the tests do not call, each with the reason. Filled by
# the helper-uncovered-*.R files; read by test-zzz-coverage.R.
uncovered_endpoints <- new.env(parent = emptyenv())

not_exercised <- function(method, reason) {
  assign(method, reason, envir = uncovered_endpoints)
}
