# Many requests at once (R/batch.R and the Rust batch engine): one result per
# request, in order; one failure never stops the others.

test_that("orthanc_request() checks its arguments and prints", {
  expect_error(orthanc_request("PATCH", "/x"), class = "orthanc_argument_error")
  expect_error(orthanc_request("GET", NA_character_), class = "orthanc_argument_error")
  expect_error(orthanc_request("GET", "/x", params = list(a = mean)), class = "orthanc_argument_error")
  expect_error(orthanc_request("GET", "/x", dest = file.path(tempfile(), "no", "dir")), class = "orthanc_argument_error")
  expect_error(orthanc_request("POST", "/x", json = list(), data = "y"), class = "orthanc_argument_error")
  r <- orthanc_request("get", c("instances", "a b", "file"), dest = file.path(tempdir(), "x.dcm"))
  expect_s3_class(r, "orthanc_request")
  expect_output(print(r), "GET /instances/a b/file -> ", fixed = TRUE)
})

test_that("a batch answers one result per request, in order (offline, mock)", {
  local_orthanc_mock(function(req) {
    if (grepl("bad", req$path)) orthanc_mock_response(404L) else orthanc_mock_response(body = list(path = req$path))
  })
  o <- Orthanc$new("http://orthanc.invalid:8042")
  reqs <- lapply(c("a", "bad", "c"), function(x) orthanc_request("GET", c("x", x)))
  out <- o$batch(reqs, progress = FALSE)
  expect_length(out, 3L)
  expect_equal(out[[1]], list(path = "/x/a"))
  expect_s3_class(out[[2]], "orthanc_http_404")
  expect_equal(out[[3]], list(path = "/x/c"))
  expect_equal(o$batch(list()), list())
  expect_error(o$batch(list("GET /x")), class = "orthanc_argument_error")
  expect_error(o$batch(reqs, concurrency = 0), class = "orthanc_argument_error")
})

test_that("a batch against the server: values, errors and files", {
  o <- orthanc_client()
  ups <- list()
  for (f in c("Lena-1.dcm", "Lena-2.dcm", "Lena-3.dcm")) ups[[f]] <- local_instance(o, fixture(f))
  ups <- unname(ups)
  dir <- withr::local_tempdir()
  reqs <- c(
    lapply(ups, function(u) orthanc_request("GET", c("instances", u$ID, "simplified-tags"))),
    list(orthanc_request("GET", c("instances", "no-such-instance"))),
    lapply(ups, function(u) orthanc_request("GET", c("instances", u$ID, "file"), dest = file.path(dir, paste0(u$ID, ".dcm"))))
  )
  out <- o$batch(reqs, concurrency = 2, progress = FALSE)
  expect_length(out, 7L)
  for (i in 1:3) {
    expect_equal(out[[i]]$SOPInstanceUID, o$get_instances_id(ups[[i]]$ID)$MainDicomTags$SOPInstanceUID)
  }
  expect_s3_class(out[[4]], "orthanc_http_404")
  expect_s3_class(out[[4]], "orthanc_error")
  for (i in 1:3) {
    f <- out[[4 + i]]
    expect_equal(f, file.path(normalizePath(dir), paste0(ups[[i]]$ID, ".dcm")))
    expect_identical(readBin(f, "raw", file.size(f)), o$get_instances_id_file(ups[[i]]$ID))
  }
  # Only the complete files are in the folder: no temporary names left.
  expect_setequal(list.files(dir, all.files = TRUE, no.. = TRUE), paste0(vapply(ups, `[[`, "", "ID"), ".dcm"))
  # The option sets the default concurrency.
  withr::local_options(orthanc.concurrency = 1L)
  expect_length(o$batch(reqs[1:2]), 2L)
})

# The fake server holds each /inflight request a while and counts how many it
# holds at once: the most seen at once is the number in flight.
test_that("a batch keeps at most `concurrency` requests in flight, and more than one", {
  srv <- local_fault_server()
  o <- fault_client(srv, retries = 0)
  flight <- function(concurrency, n = 12L, seconds = 0.3) {
    key <- paste0("flight-", concurrency, "-", sample.int(1e6, 1L))
    reqs <- replicate(n, orthanc_request("GET", "/inflight", params = list(key = key, seconds = seconds)),
      simplify = FALSE
    )
    started <- Sys.time()
    out <- o$batch(reqs, concurrency = concurrency, progress = FALSE)
    elapsed <- as.numeric(difftime(Sys.time(), started, units = "secs"))
    stats <- fault_stats(srv, key)
    expect_equal(out, rep(list(list(key = key)), n))
    list(stats = stats, elapsed = elapsed)
  }
  three <- flight(3L)
  expect_equal(three$stats$count, 12L)
  expect_equal(three$stats$in_flight, 0L)
  expect_lte(three$stats$max_in_flight, 3L)
  expect_gt(three$stats$max_in_flight, 1L)
  # 12 requests of 0.3 s, at most 3 at once: at least 4 rounds.
  expect_gte(three$elapsed, 4 * 0.3 - 0.05)
  one <- flight(1L, n = 4L)
  expect_equal(one$stats$max_in_flight, 1L)
  eight <- flight(8L, n = 16L)
  expect_lte(eight$stats$max_in_flight, 8L)
  expect_gt(eight$stats$max_in_flight, 3L)
  # The option sets the default bound.
  withr::local_options(orthanc.concurrency = 2L)
  key <- paste0("flight-option-", sample.int(1e6, 1L))
  o$batch(replicate(6L, orthanc_request("GET", "/inflight", params = list(key = key)), simplify = FALSE), progress = FALSE)
  expect_equal(fault_stats(srv, key)$max_in_flight, 2L)
})

test_that("a POST batch uploads files; a bad file fails alone", {
  o <- orthanc_client()
  bad <- withr::local_tempfile(fileext = ".dcm")
  writeLines("not dicom", bad)
  out <- o$batch(list(
    orthanc_request("POST", "/instances", file = fixture("ExplicitLittle.dcm")),
    orthanc_request("POST", "/instances", file = bad)
  ), progress = FALSE)
  withr::defer(try(o$delete_instances_id(out[[1]]$ID), silent = TRUE))
  expect_equal(out[[1]]$Status, "Success")
  expect_s3_class(out[[2]], "orthanc_http_400")
})

test_that("a batch to a server that is down gives one connection error per request", {
  o <- Orthanc$new("http://127.0.0.1:9", retries = 0)
  out <- o$batch(list(orthanc_request("GET", "/a"), orthanc_request("GET", "/b")), progress = FALSE)
  expect_s3_class(out[[1]], "orthanc_connection_error")
  expect_equal(out[[2]]$url, "http://127.0.0.1:9/b")
})

test_that("progress = TRUE shows a cli progress bar and returns the same results", {
  local_orthanc_mock(function(req) orthanc_mock_response(body = list(ok = TRUE)))
  o <- Orthanc$new("http://orthanc.invalid:8042")
  withr::local_options(cli.progress_show_after = 0, cli.dynamic = FALSE)
  reqs <- replicate(5, orthanc_request("GET", "/x"), simplify = FALSE)
  msgs <- character()
  out <- withCallingHandlers(o$batch(reqs, progress = "Fetching"),
    message = function(m) {
      msgs <<- c(msgs, conditionMessage(m))
      invokeRestart("muffleMessage")
    }
  )
  expect_length(out, 5L)
  expect_true(any(grepl("Fetching", msgs)))
})
