# A job that fails: server A asks B (C-MOVE) to send a study to an AET that B
# does not know.
local_failing_job <- function(a, b, env = parent.frame()) {
  tree <- local_patient_tree(b, env = env)
  uid <- Study$new(tree$studies, b)$uid
  m <- Modality$new(a, "b")
  job <- m$move("Study", list(StudyInstanceUID = uid), target_aet = "NOBODY", asynchronous = TRUE)
  withr::defer(try(a$delete_jobs_id(job$identifier), silent = TRUE), envir = env)
  job
}

test_that("a successful job: fields, times and wait_until_completion()", {
  o <- orthanc_client("a")
  tree <- local_patient_tree(o)
  job <- Study$new(tree$studies, o)$modify_as_job(replace = list(StudyDescription = "J"), priority = 2)
  expect_s3_class(job, "Job")
  expect_match(job$identifier, "^[0-9a-f-]+$")
  expect_identical(job$wait_until_completion(interval = 0.05, timeout = 60), job)
  expect_equal(job$state, "Success")
  expect_equal(job$progress, 100)
  expect_equal(job$type, "ResourceModification")
  expect_equal(job$priority, 2L)
  expect_equal(job$error, "Success")
  expect_equal(job$error_details, "")
  expect_type(job$content, "list")
  expect_s3_class(job$creation_time, "POSIXct")
  expect_s3_class(job$completion_time, "POSIXct")
  expect_gte(as.numeric(job$completion_time), as.numeric(job$creation_time))
  expect_lt(abs(as.numeric(difftime(job$creation_time, Sys.time(), units = "mins"))), 60)
  expect_equal(job$get_information()$ID, job$identifier)
  expect_match(capture.output(print(job)), "ResourceModification: Success")
  expect_error(job$state <- "x", class = "orthanc_argument_error")
})

test_that("a failed job raises orthanc_job_error with Orthanc's code and details", {
  a <- orthanc_client("a")
  b <- orthanc_client("b")
  job <- local_failing_job(a, b)
  err <- expect_error(job$wait_until_completion(interval = 0.1, timeout = 60), class = "orthanc_job_error")
  expect_s3_class(err, "orthanc_error")
  expect_equal(err$job_id, job$identifier)
  expect_equal(err$error_code, 9L)
  expect_match(err$details, "C-MOVE")
  expect_match(conditionMessage(err), "failed")
  expect_match(conditionMessage(err), "Details:")
  expect_equal(job$state, "Failure")
  expect_equal(job$error, "Error in the network protocol")
  expect_match(job$error_details, "C-MOVE")
  expect_equal(job$type, "DicomMoveScu")

  # resubmitted, it runs (and fails) again
  job$resubmit()
  expect_error(job$wait_until_completion(interval = 0.1, timeout = 60), class = "orthanc_job_error")
})

test_that("cancel, pause and resume", {
  a <- orthanc_client("a")
  b <- orthanc_client("b")
  job <- local_failing_job(a, b)
  try(job$wait_until_completion(interval = 0.1, timeout = 60), silent = TRUE)
  expect_error(job$resume(), class = "orthanc_http_error") # not paused
  job$resubmit()
  paused <- tryCatch({
    job$pause()
    TRUE
  }, orthanc_http_error = function(e) FALSE)
  # Pausing is accepted while the job runs; it may still end (fail) first.
  if (paused && identical(job$state, "Paused")) {
    expect_identical(job$resume(), job)
  }
  expect_identical(job$cancel(), job)
  expect_error(job$wait_until_completion(interval = 0.1, timeout = 60), class = "orthanc_job_error")
})

test_that("waiting too long raises a timeout error; arguments are checked", {
  a <- orthanc_client("a")
  b <- orthanc_client("b")
  job <- local_failing_job(a, b)
  err <- tryCatch(job$wait_until_completion(timeout = 0), error = function(e) e)
  # the job may already have failed; otherwise the wait times out at once
  expect_true(inherits(err, "orthanc_job_timeout_error") || inherits(err, "orthanc_job_error"))
  if (inherits(err, "orthanc_job_timeout_error")) expect_s3_class(err, "orthanc_timeout_error")
  expect_error(job$wait_until_completion(interval = -1), class = "orthanc_argument_error")
  expect_error(job$wait_until_completion(timeout = "x"), class = "orthanc_argument_error")
  expect_error(Job$new(1, a), class = "orthanc_argument_error")
  unknown <- Job$new("no-such-job", a)
  expect_error(unknown$state, class = "orthanc_http_404")
  expect_match(capture.output(print(unknown)), "unavailable")
})

test_that("a job's times are parsed from Orthanc's ISO format", {
  t <- orthanc:::parse_orthanc_time("20240101T120000.250000")
  expect_equal(format(t, "%Y-%m-%d %H:%M:%OS3", tz = "UTC"), "2024-01-01 12:00:00.250")
  expect_true(is.na(orthanc:::parse_orthanc_time(NULL)))
  expect_true(is.na(orthanc:::parse_orthanc_time("")))
})
