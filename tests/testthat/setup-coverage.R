# The coverage report of the endpoint methods (helper-coverage.R) runs once,
# after the last test file of the run, whatever the order of the files:
# testthat runs what is deferred on teardown_env() when the run ends. Its
# stop() makes the run (test_dir(), test_check(), R CMD check) fail.
local({
  test_dir <- normalizePath(".")
  withr::defer(coverage_report(test_dir), testthat::teardown_env())
})

# Every request of the package's request path is reported to the recorder of
# the endpoint methods (helper-server.R) while the tests run.
local({
  the$request_hook <- record_endpoint_call
  withr::defer(the$request_hook <- NULL, testthat::teardown_env())
})

# Expectations report the values they look at (helper-coverage.R): an answer of
# an endpoint method that one of them looks at counts as checked.
local({
  coverage_trace_expectations()
  withr::defer(coverage_untrace_expectations(), testthat::teardown_env())
})
