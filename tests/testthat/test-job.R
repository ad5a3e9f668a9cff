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

# A job that runs for a while, on a server of the test's own: its Orthanc
# peer "slow" is the fake server (fixtures/fake-server.py, /peer/K/S/), which
# answers each instance sent to it after `seconds`; a peer store job sends one
# instance per step, so n instances take about n * seconds. Returns the job,
# the client, the fake server and the key under which it counts what it got.
local_slow_peer_job <- function(n = 6L, seconds = 0.5, env = parent.frame()) {
  skip_if_no_orthanc_binary()
  fake <- local_fault_server(lifetime = 120, env = env)
  key <- paste0("peer-", sample.int(1e6, 1L))
  srv <- local_orthanc(config = list(
    OrthancPeers = list(slow = list(Url = sprintf("%s/peer/%s/%s/", fake$url, key, seconds))),
    ConcurrentJobs = 1L
  ), env = env)
  o <- srv$client
  tree <- local_patient_tree(o, instances = n, env = env)
  res <- o$post_peers_id_store("slow", json = list(Resources = list(tree$patient), Asynchronous = TRUE))
  list(job = Job$new(res$ID, o), client = o, fake = fake, key = key, n = n)
}

test_that("pause and resume a running job: Paused, nothing sent while paused, then Success", {
  x <- local_slow_peer_job(n = 6L, seconds = 0.5)
  job <- x$job
  expect_equal(job$type, "OrthancPeerStore")
  wait_for_job(x$client, job$identifier, states = "Running", timeout = 20)
  expect_identical(job$pause(), job)
  wait_for_job(x$client, job$identifier, states = "Paused", timeout = 10)
  expect_equal(job$state, "Paused")
  sent <- fault_count(x$fake, x$key)
  expect_lt(sent, x$n)

  # Paused, it cannot finish: waiting for it times out, deterministically,
  # with the time-out class; the job stays paused and sends nothing meanwhile.
  started <- Sys.time()
  err <- expect_error(job$wait_until_completion(interval = 0.1, timeout = 1.5), class = "orthanc_job_timeout_error")
  expect_gte(as.numeric(difftime(Sys.time(), started, units = "secs")), 1.5)
  expect_s3_class(err, "orthanc_timeout_error")
  expect_s3_class(err, "orthanc_error")
  expect_match(conditionMessage(err), job$identifier, fixed = TRUE)
  expect_equal(job$state, "Paused")
  expect_equal(fault_count(x$fake, x$key), sent)

  expect_identical(job$resume(), job)
  expect_true(job$state %in% c("Pending", "Running", "Success"))
  expect_identical(job$wait_until_completion(interval = 0.1, timeout = 60), job)
  expect_equal(job$state, "Success")
  expect_equal(job$progress, 100)
  # Every instance reached the peer (after the pause too).
  expect_gte(fault_count(x$fake, x$key), x$n)
  expect_gt(fault_count(x$fake, x$key), sent)
  # Resuming a job that is not paused is refused by Orthanc.
  expect_error(job$resume(), class = "orthanc_http_error")
})

test_that("cancel a running job: it ends in Failure, and waiting raises orthanc_job_error", {
  x <- local_slow_peer_job(n = 6L, seconds = 0.5)
  job <- x$job
  wait_for_job(x$client, job$identifier, states = "Running", timeout = 20)
  expect_identical(job$cancel(), job)
  err <- expect_error(job$wait_until_completion(interval = 0.1, timeout = 30), class = "orthanc_job_error")
  expect_equal(err$job_id, job$identifier)
  expect_equal(job$state, "Failure")
  expect_lt(fault_count(x$fake, x$key), x$n)
  # A failed (cancelled) job can be resubmitted: it runs to the end this time.
  expect_identical(job$resubmit(), job)
  expect_identical(job$wait_until_completion(interval = 0.1, timeout = 60), job)
  expect_equal(job$state, "Success")
})

test_that("arguments of wait_until_completion() and Job$new() are checked; an unknown job is a 404", {
  a <- orthanc_client("a")
  tree <- local_patient_tree(a)
  job <- Study$new(tree$studies, a)$modify_as_job(replace = list(StudyDescription = "J"))
  expect_error(job$wait_until_completion(interval = -1), class = "orthanc_argument_error")
  expect_error(job$wait_until_completion(timeout = "x"), class = "orthanc_argument_error")
  expect_error(Job$new(1, a), class = "orthanc_argument_error")
  expect_identical(job$wait_until_completion(interval = 0.05, timeout = 60), job)
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
