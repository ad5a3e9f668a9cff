# The one decision about progress bars (R/utils.R) and the bars of the long
# operations that use it. The bars are drawn by cli; with
# cli.progress_show_after = 0 and cli.dynamic = FALSE, cli writes a state of
# a bar as a message, which these tests collect. cli redraws a bar only when
# its timer has ticked since the last redraw (every 3 s in a non-interactive
# session): local_bars_at_once() makes it tick every 10 ms for the test (with
# cli's internal cli_tick_set(), restored after), and the mocked answers take
# 50 ms, so that every operation lasts long enough to be drawn.

# The messages of `expr` (muffled), with its value as attribute "value".
progress_messages <- function(expr) {
  msgs <- character()
  value <- withCallingHandlers(expr, message = function(m) {
    msgs <<- c(msgs, conditionMessage(m))
    invokeRestart("muffleMessage")
  })
  structure(msgs, value = value)
}

# A mock answer that takes 50 ms.
slowly <- function(answer) {
  function(req) {
    Sys.sleep(0.05)
    answer(req)
  }
}

local_bars_at_once <- function(env = parent.frame()) {
  withr::local_options(cli.progress_show_after = 0, cli.dynamic = FALSE, .local_envir = env)
  tick_set <- utils::getFromNamespace("cli_tick_set", "cli")
  old_tick <- utils::getFromNamespace("clienv", "cli")$tick_time
  tick_set(tick_time = 10L)
  withr::defer(tick_set(tick_time = old_tick), envir = env)
}

test_that("progress_wanted(): TRUE, FALSE and names as given; NULL follows orthanc.progress, then interactive()", {
  progress_wanted <- orthanc:::progress_wanted
  withr::local_options(orthanc.progress = NULL)
  expect_true(progress_wanted(TRUE))
  expect_true(progress_wanted("Uploading"))
  expect_false(progress_wanted(FALSE))
  expect_identical(progress_wanted(NULL), interactive())
  withr::local_options(orthanc.progress = TRUE)
  expect_true(progress_wanted(NULL))
  expect_false(progress_wanted(FALSE))
  withr::local_options(orthanc.progress = FALSE)
  expect_false(progress_wanted(NULL))
  expect_true(progress_wanted(TRUE))
  # Anything but TRUE/FALSE in the option is ignored.
  withr::local_options(orthanc.progress = "yes")
  expect_identical(progress_wanted(NULL), interactive())
})

test_that("progress_as() passes the decision on as a bar name or FALSE", {
  progress_as <- orthanc:::progress_as
  withr::local_options(orthanc.progress = FALSE)
  expect_false(progress_as(NULL, "Uploading"))
  expect_identical(progress_as(TRUE, "Uploading"), "Uploading")
  expect_identical(progress_as("Mine", "Uploading"), "Mine")
  expect_false(progress_as(FALSE, "Uploading"))
  withr::local_options(orthanc.progress = TRUE)
  expect_identical(progress_as(NULL, "Uploading"), "Uploading")
})

test_that("a progress argument that is not TRUE, FALSE, NULL or a name is an error", {
  check <- orthanc:::check_progress_arg
  expect_silent(check(NULL))
  expect_silent(check(TRUE))
  expect_silent(check("Uploading"))
  expect_error(check(NA), class = "orthanc_argument_error")
  expect_error(check(1), class = "orthanc_argument_error")
  expect_error(check(""), class = "orthanc_argument_error")
  expect_error(check(c(TRUE, FALSE)), class = "orthanc_argument_error")
  expect_snapshot(check(1, call = quote(upload())), error = TRUE, variant = snapshot_variant())
})

test_that("batch(): a bar with orthanc.progress = TRUE, none by default when not interactive", {
  skip_if(interactive())
  local_orthanc_mock(slowly(function(req) orthanc_mock_response(body = list(ok = TRUE))))
  o <- Orthanc$new("http://orthanc.invalid:8042")
  local_bars_at_once()
  reqs <- replicate(3, orthanc_request("GET", "/x"), simplify = FALSE)
  withr::local_options(orthanc.progress = NULL)
  expect_silent(o$batch(reqs))
  withr::local_options(orthanc.progress = TRUE)
  msgs <- progress_messages(o$batch(reqs))
  expect_length(attr(msgs, "value"), 3L)
  expect_true(any(grepl("Requests", msgs)))
  # progress = FALSE wins over the option.
  expect_silent(o$batch(reqs, progress = FALSE))
  expect_error(o$batch(reqs, progress = 2), class = "orthanc_argument_error")
})

test_that("upload(): an 'Uploading' bar when asked, silent by default", {
  skip_if(interactive())
  local_orthanc_mock(slowly(function(req) {
    orthanc_mock_response(body = list(
      ID = "i", ParentPatient = "p", ParentStudy = "s", ParentSeries = "r", Status = "Success"
    ))
  }))
  o <- Orthanc$new("http://orthanc.invalid:8042")
  local_bars_at_once()
  files <- system.file("extdata", c("Lena-1.dcm", "Brainix-Flair-1.dcm"), package = "orthanc")
  withr::local_options(orthanc.progress = NULL)
  expect_silent(upload(o, files))
  msgs <- progress_messages(upload(o, files, progress = TRUE))
  expect_equal(attr(msgs, "value")$status, c("Success", "Success"))
  expect_true(any(grepl("Uploading", msgs)))
  expect_error(upload(o, files, progress = 1), class = "orthanc_argument_error")
})

test_that("query_orthanc(): a bar counting the matches page after page", {
  skip_if(interactive())
  pages <- list(
    list(list(ID = "a", Type = "Study"), list(ID = "b", Type = "Study")),
    list(list(ID = "c", Type = "Study")),
    list()
  )
  served <- 0L
  local_orthanc_mock(slowly(function(req) {
    served <<- served + 1L
    orthanc_mock_response(body = pages[[served]])
  }))
  o <- Orthanc$new("http://orthanc.invalid:8042")
  local_bars_at_once()
  withr::local_options(orthanc.progress = NULL)
  msgs <- progress_messages(find_studies(o, limit = 2, progress = TRUE))
  expect_length(attr(msgs, "value"), 3L)
  expect_true(any(grepl("Finding studies", msgs)))
  expect_true(any(grepl("3 found", msgs)))
  served <- 0L
  expect_silent(find_studies(o, limit = 2))
  expect_error(find_studies(o, progress = c("a", "b")), class = "orthanc_argument_error")
})

test_that("Job$wait_until_completion(): a bar of the job's percentage when asked", {
  skip_if(interactive())
  states <- list(
    list(ID = "j", State = "Running", Progress = 40L, Type = "Test"),
    list(ID = "j", State = "Success", Progress = 100L, Type = "Test")
  )
  polled <- 0L
  local_orthanc_mock(slowly(function(req) {
    polled <<- min(polled + 1L, length(states))
    orthanc_mock_response(body = states[[polled]])
  }))
  o <- Orthanc$new("http://orthanc.invalid:8042")
  local_bars_at_once()
  withr::local_options(orthanc.progress = NULL)
  job <- Job$new("j", o)
  msgs <- progress_messages(job$wait_until_completion(interval = 0, progress = TRUE))
  expect_identical(attr(msgs, "value"), job)
  expect_true(any(grepl("Orthanc job j", msgs)))
  polled <- 0L
  expect_silent(job$wait_until_completion(interval = 0))
  polled <- 0L
  withr::local_options(orthanc.progress = TRUE)
  expect_true(any(grepl("Orthanc job", progress_messages(job$wait_until_completion(interval = 0)))))
  expect_error(job$wait_until_completion(progress = NA), class = "orthanc_argument_error")
})
