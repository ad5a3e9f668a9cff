# OrthancAsync (issue 19): promises that settle with the synchronous client's
# values and conditions, many in flight, cancelling, interrupts.

skip_if_no_async <- function() {
  testthat::skip_if_not_installed("promises")
  testthat::skip_if_not_installed("later")
}

async_client <- function(which = c("a", "b"), ...) {
  which <- match.arg(which)
  var <- c(a = "ORTHANC_TEST_URL", b = "ORTHANC_TEST_URL2")[[which]]
  skip_if_no_orthanc(var)
  skip_if_no_async()
  cred <- test_credentials()
  OrthancAsync$new(Sys.getenv(var), cred$username, cred$password, ...)
}

# The value of a promise, or the condition it was rejected with (not raised).
settle <- function(p, timeout = 30) {
  tryCatch(orthanc_await(p, timeout = timeout), error = function(e) e)
}

test_that("promises settle with the synchronous client's values (JSON, text, raw, file)", {
  o <- orthanc_client("a")
  a <- async_client("a")
  inst <- local_instance(o)
  id <- inst$ID
  p <- a$get_system()
  expect_true(promises::is.promise(p))
  expect_identical(settle(p), o$get_system())
  expect_identical(settle(a$get_instances_id(id)), o$get_instances_id(id))
  expect_identical(
    settle(a$get_instances_id_simplified_tags(id)),
    o$get_instances_id_simplified_tags(id)
  )
  # text/plain
  expect_identical(
    settle(a$get_instances_id_content_path(id, "0010-0010")),
    o$get_instances_id_content_path(id, "0010-0010")
  )
  # raw (a DICOM file in memory)
  raw_a <- settle(a$get_instances_id_file(id))
  expect_type(raw_a, "raw")
  expect_identical(raw_a, o$get_instances_id_file(id))
  # verbs, with parameters
  expect_identical(
    settle(a$GET("/instances", params = list(since = 0, limit = 2))),
    o$GET("/instances", params = list(since = 0, limit = 2))
  )
  # a file, through stream()
  f <- settle(a$stream("GET", paste0("/instances/", id, "/file")))
  on.exit(unlink(f), add = TRUE)
  expect_true(file.exists(f))
  expect_identical(readBin(f, "raw", file.size(f)), raw_a)
  # the fields are promises too
  expect_identical(settle(a$server_version), o$server_version)
  expect_identical(settle(a$capabilities), o$capabilities)
  expect_identical(settle(a$num_instances), o$num_instances)
  expect_equal(a$last_response$status, 200L)
  # the drop-in style of the reference: then() on the promise
  got <- NULL
  promises::then(a$get_system(), function(s) got <<- s$Version)
  expect_null(got)
  deadline <- Sys.time() + 10
  while (is.null(got) && Sys.time() < deadline) later::run_now(0.05)
  expect_identical(got, o$get_system()$Version)
})

test_that("a request is parsed once: what Rust checked is started once, nothing else passes for it", {
  a <- async_client("a")
  o <- orthanc_client("a")
  handle <- a$.__enclos_env__$private$handle
  req <- orthanc:::request_value("GET", "/system", encode = FALSE)
  prepared <- orthanc:::rs_check_request(handle, req)
  expect_identical(typeof(prepared), "externalptr")
  id <- orthanc:::rs_async_submit(handle, prepared)
  expect_type(id, "double")
  # started already: not a second time
  again <- orthanc:::rs_async_submit(handle, prepared)
  expect_identical(again$error, "argument")
  expect_match(again$message, "sent already")
  # the answer arrives as any other (taken here, so that no promise waits for it)
  got <- NULL
  deadline <- Sys.time() + 10
  while (is.null(got) && Sys.time() < deadline) {
    p <- orthanc:::rs_async_poll()
    if (id %in% p$ids) got <- p$answers[[match(id, p$ids)]]
    Sys.sleep(0.01)
  }
  expect_equal(got$status, 200L)
  expect_identical(got$body$Version, o$get_system()$Version)
  # a pointer that is not a prepared request is read as a request value (and refused)
  foreign <- getNativeSymbolInfo("wrap__rs_async_poll", "orthanc")$address
  expect_identical(orthanc:::rs_async_submit(handle, foreign)$error, "argument")
  expect_identical(orthanc:::rs_async_submit(handle, handle)$error, "argument")
  # a prepared request restored in another session is gone
  stale <- unserialize(serialize(orthanc:::rs_check_request(handle, req), NULL))
  expect_match(orthanc:::rs_async_submit(handle, stale)$message, "gone")
})

test_that("rejections carry the synchronous client's condition classes", {
  o <- orthanc_client("a")
  a <- async_client("a")
  sync <- tryCatch(o$get_instances_id("no-such-id"), error = function(e) e)
  async <- settle(a$get_instances_id("no-such-id"))
  expect_s3_class(async, "orthanc_http_404")
  expect_identical(class(async), class(sync))
  expect_identical(conditionMessage(async), conditionMessage(sync))
  expect_identical(async$status, sync$status)
  # a wrong password
  cred <- test_credentials()
  bad <- OrthancAsync$new(Sys.getenv("ORTHANC_TEST_URL"), cred$username, "wrong-password")
  bad_sync <- Orthanc$new(Sys.getenv("ORTHANC_TEST_URL"), cred$username, "wrong-password")
  e <- settle(bad$get_system())
  e_sync <- tryCatch(bad_sync$get_system(), error = function(e) e)
  expect_s3_class(e, "orthanc_http_401")
  expect_identical(class(e), class(e_sync))
  expect_false(grepl("wrong-password", paste(conditionMessage(e), format(e$url))))
  expect_false(any(grepl("wrong-password", capture.output(print(bad)))))
  expect_false(any(grepl("wrong-password", rawToChar(serialize(bad, NULL, ascii = TRUE)), fixed = TRUE)))
  # a server that is not there
  down <- OrthancAsync$new(sprintf("http://127.0.0.1:%d", fault_free_port()), retries = 0)
  expect_s3_class(settle(down$get_system()), "orthanc_connection_error")
  # argument errors are raised at once, as by the synchronous client
  expect_error(a$get_instances_id(list(1, 2)), class = "orthanc_argument_error")
  expect_error(a$GET(1), class = "orthanc_argument_error")
  # a route R converts (a number) is mended as in the synchronous client
  e_num <- settle(a$get_instances_id(12345))
  e_num_sync <- tryCatch(o$get_instances_id(12345), error = function(e) e)
  expect_identical(class(e_num), class(e_num_sync))
  expect_identical(e_num$url, e_num_sync$url)
})

test_that("many requests in flight, bounded by orthanc.async_max; batch() answers a promise", {
  o <- orthanc_client("a")
  a <- async_client("a")
  inst <- local_instance(o)
  withr::local_options(orthanc.async_max = 3)
  ps <- lapply(1:60, function(i) a$get_instances_id(inst$ID))
  expect_lte(orthanc:::rs_async_running(), 3L)
  all <- settle(promises::promise_all(.list = ps))
  expect_length(all, 60)
  expect_true(all(vapply(all, function(x) identical(x, all[[1]]), NA)))
  expect_identical(all[[1]], o$get_instances_id(inst$ID))
  expect_equal(orthanc:::rs_async_running(), 0L)
  # batch(): one value or condition per request, as Orthanc's batch()
  reqs <- list(
    orthanc_request("GET", c("instances", inst$ID)),
    orthanc_request("GET", c("instances", "no-such-id"))
  )
  b <- settle(a$batch(reqs))
  s <- o$batch(reqs)
  expect_identical(b[[1]], s[[1]])
  expect_identical(class(b[[2]]), class(s[[2]]))
  # an upload and a download to a file (dest), through batch()
  dest <- withr::local_tempfile(fileext = ".dcm")
  up <- settle(a$batch(list(orthanc_request("POST", "/instances", file = fixture("Lena-2.dcm")))))
  withr::defer(try(o$delete_instances_id(up[[1]]$ID), silent = TRUE))
  down <- settle(a$batch(list(orthanc_request("GET", c("instances", up[[1]]$ID, "file"), dest = dest))))
  expect_identical(down[[1]], normalizePath(dest, mustWork = FALSE))
  expect_identical(
    readBin(dest, "raw", file.size(dest)),
    readBin(fixture("Lena-2.dcm"), "raw", file.size(fixture("Lena-2.dcm")))
  )
})

test_that("cancel_all(): the transfer stops, no partial file, the promise is rejected", {
  skip_if_no_async()
  srv <- local_fault_server()
  a <- withr::with_envvar(c(ORTHANC_USERNAME = NA, ORTHANC_PASSWORD = NA), OrthancAsync$new(srv$url))
  before <- fault_dir_files()
  p <- a$stream("GET", "/slow?seconds=30&key=acancel")
  outcome <- NULL
  promises::then(p, function(v) outcome <<- v, function(e) outcome <<- e)
  # wait until the partial file exists (the answer is arriving)
  expect_true(fault_wait_until(function() {
    later::run_now(0)
    any(grepl("\\.part-", fault_dir_files()))
  }, timeout = 10))
  expect_equal(orthanc:::rs_async_running(), 1L)
  expect_equal(a$cancel_all(), 1L)
  # gone at once: cancel_all() returns when the partial file is removed
  expect_false(any(grepl("\\.part-", fault_dir_files())))
  expect_identical(fault_dir_files(), before)
  expect_equal(orthanc:::rs_async_running(), 0L)
  deadline <- Sys.time() + 5
  while (is.null(outcome) && Sys.time() < deadline) later::run_now(0.05)
  expect_s3_class(outcome, "orthanc_cancelled_error")
  expect_true(fault_wait_until(function() fault_stats(srv, "acancel")$aborted == 1L, timeout = 5))
  expect_equal(fault_stats(srv, "acancel")$completed, 0L)
  # the client goes on
  expect_length(settle(a$GET("/slow?seconds=0.2")), 2 * 1024)
})

test_that("an interrupt while orthanc_await() waits: back at once, transfers cancelled, no file", {
  skip_if_no_async()
  testthat::skip_on_os("windows")
  srv <- local_fault_server()
  rs <- callr::r_session$new(options = callr::r_session_options(env = fault_child_env()), wait = TRUE)
  withr::defer(rs$kill())
  td <- rs$run(function(url) {
    library(orthanc)
    a <<- OrthancAsync$new(url)
    tempdir()
  }, list(url = srv$url))
  rs$call(function() {
    before <- list.files(tempdir(), all.files = TRUE, no.. = TRUE)
    ps <- lapply(1:3, function(i) a$stream("GET", sprintf("/slow?seconds=30&key=await%d", i)))
    all <- promises::promise_all(.list = ps)
    # The test interrupts once orthanc_await() waits (the first promise_all()
    # of a session loads packages: seconds on a busy machine).
    writeLines("", file.path(tempdir(), "awaiting"))
    out <- tryCatch(
      {
        orthanc_await(all)
        "finished"
      },
      interrupt = function(e) "interrupt",
      error = function(e) paste("error:", conditionMessage(e))
    )
    list(
      out = out, t = Sys.time(), running = orthanc:::rs_async_running(),
      files = setdiff(list.files(tempdir(), all.files = TRUE, no.. = TRUE), c(before, "awaiting"))
    )
  })
  expect_true(fault_wait_until(function() {
    sum(grepl("\\.part-", fault_dir_files(td))) == 3L && file.exists(file.path(td, "awaiting"))
  }, timeout = 30))
  t0 <- Sys.time()
  rs$interrupt()
  # Generous: "at once" is measured in the child (r$t), not here.
  expect_equal(rs$poll_process(30000), "ready")
  res <- rs$read()
  expect_null(res$error)
  r <- res$result
  expect_identical(r$out, "interrupt")
  expect_lt(as.numeric(difftime(r$t, t0, units = "secs")), 1)
  expect_equal(r$running, 0L)
  expect_length(r$files, 0L)
  # The client goes on.
  after <- rs$run(function() tryCatch(orthanc_await(a$GET("/system"), timeout = 20)$Name, error = function(e) conditionMessage(e)))
  expect_identical(after, "fake-orthanc")
  for (i in 1:3) {
    key <- paste0("await", i)
    expect_true(fault_wait_until(function() fault_stats(srv, key)$aborted == 1L, timeout = 5))
  }
})

test_that("OrthancAsync has every method of Orthanc, and mocks work", {
  skip_if_no_async()
  expect_setequal(names(OrthancAsync$public_methods), c(names(Orthanc$public_methods), "cancel_all"))
  expect_setequal(names(OrthancAsync$active), names(Orthanc$active))
  # the generated methods are Orthanc's own
  expect_identical(OrthancAsync$public_methods$get_system, Orthanc$public_methods$get_system)
  a <- OrthancAsync$new("http://orthanc.invalid:8042")
  expect_output(print(a), "<OrthancAsync client>")
  v <- with_orthanc_mock(
    list(orthanc_mock_response(200L, body = list(Version = "9.9.9"))),
    settle(a$get_system())
  )
  expect_identical(v$Version, "9.9.9")
  e <- with_orthanc_mock(
    list(orthanc_mock_response(404L, body = list(Message = "Unknown resource"))),
    settle(a$get_instances_id("x"))
  )
  expect_s3_class(e, "orthanc_http_404")
  # layer functions that take a synchronous client refuse an asynchronous one
  expect_error(find_studies(a), class = "orthanc_argument_error")
})

test_that("upload() with an OrthancAsync client answers a promise of the same report", {
  o <- orthanc_client("a")
  a <- async_client("a")
  dir <- withr::local_tempdir()
  file.copy(fixture(c("Lena-1.dcm", "Lena-2.dcm")), dir)
  writeLines("not DICOM", file.path(dir, "notes.txt"))
  p <- upload(a, dir, check_before_upload = TRUE)
  expect_true(promises::is.promise(p))
  r <- settle(p)
  withr::defer(for (id in r$id[r$status == "Success"]) try(o$delete_instances_id(id), silent = TRUE))
  expect_s3_class(r, "orthanc_upload_report")
  again_async <- settle(upload(a, dir, check_before_upload = TRUE))
  again_sync <- upload(o, dir, check_before_upload = TRUE, progress = FALSE)
  expect_identical(again_async, again_sync)
  expect_setequal(again_async$status, c("AlreadyStored", "Skipped"))
})

test_that("retrieve_and_write_*(async = TRUE): a promise of the same data frame, files written in the background", {
  skip_if_no_async()
  o <- orthanc_client("a")
  tree <- local_patient_tree(o, studies = 1, series = 2, instances = 3)
  patient <- Patient$new(tree$patient, o)
  sync_dir <- withr::local_tempdir()
  async_dir <- withr::local_tempdir()
  sync <- retrieve_and_write_patients(patient, sync_dir, progress = FALSE)
  p <- retrieve_and_write_patients(patient, async_dir, async = TRUE)
  expect_true(promises::is.promise(p))
  out <- settle(p)
  expect_s3_class(out, "data.frame")
  expect_identical(out[, c("id", "level", "size", "status")], sync[, c("id", "level", "size", "status")])
  expect_identical(
    sub(async_dir, "", out$path, fixed = TRUE),
    sub(sync_dir, "", sync$path, fixed = TRUE)
  )
  expect_tree_identical(o, out)
  expect_identical(sort(all_files(async_dir)), sort(all_files(sync_dir)))
  # resume: nothing fetched again
  again <- settle(retrieve_and_write_series(patient$series, async_dir, resume = TRUE, async = TRUE))
  expect_true(all(again$status == "Skipped"))
  # archives
  zips <- settle(retrieve_and_write_archives(patient$studies, withr::local_tempdir(), async = TRUE))
  expect_identical(zips$status, "Written")
  expect_identical(nrow(utils::unzip(zips$path, list = TRUE)), 6L)
  # everything failed: rejected with the error the synchronous form raises
  gone <- Instance$new("no-such-instance", o)
  e_sync <- tryCatch(retrieve_and_write_instances(gone, withr::local_tempdir(), progress = FALSE), error = function(e) e)
  e_async <- settle(retrieve_and_write_instances(gone, withr::local_tempdir(), async = TRUE))
  expect_s3_class(e_async, "orthanc_http_404")
  expect_identical(class(e_async), class(e_sync))
  # the argument, and the batch() forms
  expect_error(retrieve_and_write_patients(patient, async_dir, async = NA), class = "orthanc_argument_error")
  expect_error(o$batch(list(), async = "yes"), class = "orthanc_argument_error")
  a <- async_client("a")
  expect_error(a$batch(list(), async = FALSE), class = "orthanc_argument_error")
  got <- settle(o$batch(list(orthanc_request("GET", "system")), async = TRUE))
  expect_identical(got[[1]]$Name, o$get_system()$Name)
})
