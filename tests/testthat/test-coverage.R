# The coverage of the endpoint methods (helper-coverage.R) counts a method only
# where an expectation looked at its answer. These tests use made-up method
# names, which the report ignores (it counts the methods of the spec only).

checks_of <- function(method) endpoint_checks[[method]] %||% 0L

test_that("an answer counts as checked only when an expectation looks at it or at a part of it", {
  method <- paste0("coverage_selftest_", sample.int(1e6, 1L))
  answer <- list(ID = "abc", Values = c(1, 2, 3), Nested = list(Deep = "x"), Flag = TRUE, Empty = "")
  coverage_remember_answer(method, answer)
  # Used, but not looked at by an expectation: not checked.
  used <- paste(answer$ID, nchar(answer$Nested$Deep))
  expect_equal(used, "abc 1")
  # TRUE and "" are objects R shares: an expectation on them says nothing.
  expect_true(answer$Flag)
  expect_equal(answer$Empty, "")
  # A value derived from the answer is not the answer.
  expect_equal(sum(answer$Values), 6)
  expect_equal(checks_of(method), 0L)
  # The answer itself, or a part of it, is.
  expect_equal(answer$Nested$Deep, "x")
  expect_equal(checks_of(method), 1L)
  expect_length(answer, 5L)
  expect_equal(checks_of(method), 2L)
  expect_type(answer$Values, "double")
  expect_equal(checks_of(method), 3L)
  # An equal object that is not the answer's does not count.
  expect_equal(c(1, 2, 3), c(1, 2, 3))
  expect_equal(checks_of(method), 3L)
})

test_that("a failure counts as checked when an expectation looks for its class or message", {
  method <- paste0("coverage_selftest_", sample.int(1e6, 1L))
  cnd <- structure(class = c("orthanc_http_404", "orthanc_error", "error", "condition"),
    list(message = "not found", call = NULL, status = 404L)
  )
  coverage_remember_answer(method, cnd)
  expect_error(stop(cnd))
  expect_equal(checks_of(method), 0L)
  expect_error(stop(cnd), class = "orthanc_http_404")
  expect_equal(checks_of(method), 1L)
  expect_error(stop(cnd), "not found")
  expect_equal(checks_of(method), 2L)
})

test_that("an object found in two answers is matched to neither", {
  m1 <- paste0("coverage_selftest_", sample.int(1e6, 1L))
  m2 <- paste0(m1, "_other")
  shared <- c("a", "b")
  coverage_remember_answer(m1, list(x = shared))
  coverage_remember_answer(m2, list(y = shared))
  expect_equal(shared, c("a", "b"))
  expect_equal(c(checks_of(m1), checks_of(m2)), c(0L, 0L))
})

test_that("an empty answer (NULL) counts when an expectation gets it from the call itself", {
  method <- paste0("coverage_selftest_", sample.int(1e6, 1L))
  answer_null <- function() {
    coverage_remember_answer(method, NULL)
    NULL
  }
  got <- answer_null()
  expect_null(got)
  expect_equal(checks_of(method), 0L)
  expect_null(answer_null())
  expect_equal(checks_of(method), 1L)
  # Not when the answer was not empty.
  answer_list <- function() {
    coverage_remember_answer(method, list(a = 1))
    NULL
  }
  expect_null(answer_list())
  expect_equal(checks_of(method), 1L)
})
