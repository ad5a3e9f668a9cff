# Runs last: reports which endpoint methods the suite called, and checks that
# every method is either called or listed with a reason (helper-uncovered-*.R).

test_that("every endpoint method is exercised or has a reason not to be", {
  core <- c("initialize", "GET", "DELETE", "POST", "PUT", "stream", "print")
  endpoints <- setdiff(names(Orthanc$public_methods), core)
  expect_length(endpoints, 293L)
  called <- intersect(ls(endpoint_calls), endpoints)
  skipped <- ls(uncovered_endpoints)
  expect_length(setdiff(skipped, endpoints), 0L)
  # A method with a reason not to be exercised must really not be called.
  expect_length(intersect(called, skipped), 0L)
  missing <- setdiff(endpoints, c(called, skipped))
  n <- length(called)
  message("endpoint methods exercised: ", n, " of ", length(endpoints))
  if (length(skipped)) {
    message("not exercised, with reasons:")
    for (m in sort(skipped)) message("  ", m, ": ", uncovered_endpoints[[m]])
  }
  if (length(missing)) {
    message("not exercised and without a reason: ", paste(missing, collapse = ", "))
  }
  if (nzchar(Sys.getenv("ORTHANC_TEST_URL"))) {
    expect_equal(missing, character())
    expect_gte(n, 270L)
  }
})
