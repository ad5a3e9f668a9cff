# Faults injected on purpose (issue 4, items 2 and 3): servers that die in the
# middle of a transfer, drop connections, restart, or send hostile answers.
# The fake server is tests/testthat/fixtures/fake-server.py (helper-fake.R);
# the restart test runs its own Orthanc 1.10.1. The observed outcomes are
# listed in tests/testthat/FAULTS.md.

test_that("a download cut short leaves no file and is a connection error", {
  srv <- local_fault_server()
  o <- fault_client(srv)
  before <- fault_dir_files()
  err <- expect_error(
    o$stream("GET", "/truncate", params = list(size = 1e6, send = 5000, key = "trunc")),
    class = "orthanc_connection_error"
  )
  expect_match(conditionMessage(err), "end of file before message length", fixed = TRUE)
  expect_equal(err$method, "GET")
  # No output file, no hidden ".orthanc-*.part-*" left behind.
  expect_identical(setdiff(fault_dir_files(), before), character())
  # GET is retried on a broken transfer, a bounded number of times (2 by default).
  expect_equal(fault_count(srv, "trunc"), 3L)
  # The same client goes on working.
  expect_equal(o$GET("/system")$Version, "1.12.7")
})

test_that("a server killed (SIGKILL) during a download leaves no file", {
  srv <- local_fault_server()
  tmp <- withr::local_tempdir("orthanc-kill-")
  bg <- callr::r_bg(function(url) {
    library(orthanc)
    o <- Orthanc$new(url)
    before <- list.files(tempdir(), all.files = TRUE, no.. = TRUE)
    err <- tryCatch(
      {
        o$stream("GET", "/slow?seconds=30&key=killed")
        NULL
      },
      error = function(e) e
    )
    list(
      class = class(err), message = if (!is.null(err)) conditionMessage(err),
      before = before, after = list.files(tempdir(), all.files = TRUE, no.. = TRUE)
    )
  }, list(url = srv$url), env = fault_child_env(TMPDIR = tmp))
  withr::defer(if (bg$is_alive()) bg$kill())
  # The transfer is under way: its hidden part file exists.
  expect_true(fault_wait_until(function() any(grepl("\\.part-", fault_dir_files(tmp))), timeout = 20))
  srv$process$kill() # SIGKILL
  bg$wait(20000)
  expect_false(bg$is_alive())
  res <- bg$get_result()
  expect_true("orthanc_connection_error" %in% res$class, info = paste(res$class, collapse = " "))
  expect_identical(setdiff(res$after, res$before), character())
})

test_that("a server killed during an upload: connection error, POST sent once", {
  srv <- local_fault_server()
  o <- fault_client(srv)
  f <- withr::local_tempfile(fileext = ".bin")
  writeBin(as.raw(rep_len(0:255, 20e6)), f)
  err <- expect_error(
    o$POST("/upload-abort", file = f, params = list(key = "up")),
    class = "orthanc_connection_error"
  )
  expect_equal(err$method, "POST")
  expect_equal(fault_count(srv, "up"), 1L)
  # The same with PUT, which is not retried by default either.
  expect_error(o$PUT("/upload-abort", file = f, params = list(key = "up-put")),
    class = "orthanc_connection_error"
  )
  expect_equal(fault_count(srv, "up-put"), 1L)
  expect_true(file.exists(f))
  expect_equal(o$GET("/system")$Name, "fake-orthanc")
})

test_that("GET is retried after a dropped connection, a bounded number of times", {
  srv <- local_fault_server()
  o <- fault_client(srv)
  # Dropped once (FIN, then RST): the retry succeeds.
  for (how in c("close", "reset")) {
    key <- paste0("get-once-", how)
    res <- o$GET("/drop-first", params = list(key = key, how = how))
    expect_equal(res$attempt, 2L)
    expect_equal(fault_count(srv, key), 2L)
  }
  # Always dropped: 1 + retries attempts, then a connection error, quickly.
  t0 <- Sys.time()
  expect_error(o$GET("/drop-always", params = list(key = "get-always")),
    class = "orthanc_connection_error"
  )
  expect_lt(as.numeric(difftime(Sys.time(), t0, units = "secs")), 5)
  expect_equal(fault_count(srv, "get-always"), 3L)
  o3 <- fault_client(srv, retries = 3)
  expect_error(o3$GET("/drop-always", params = list(key = "get-3")),
    class = "orthanc_connection_error"
  )
  expect_equal(fault_count(srv, "get-3"), 4L)
})

test_that("POST, PUT and DELETE are not retried by default; retries = 0 disables", {
  srv <- local_fault_server()
  o <- fault_client(srv)
  expect_error(o$POST("/drop-first", json = list(a = 1), params = list(key = "post")),
    class = "orthanc_connection_error"
  )
  expect_equal(fault_count(srv, "post"), 1L)
  expect_error(o$PUT("/drop-first", data = "x", params = list(key = "put")),
    class = "orthanc_connection_error"
  )
  expect_equal(fault_count(srv, "put"), 1L)
  expect_error(o$DELETE("/drop-first", params = list(key = "delete")),
    class = "orthanc_connection_error"
  )
  expect_equal(fault_count(srv, "delete"), 1L)

  o0 <- fault_client(srv, retries = 0)
  expect_error(o0$GET("/drop-first", params = list(key = "get-0")),
    class = "orthanc_connection_error"
  )
  expect_equal(fault_count(srv, "get-0"), 1L)
})

test_that("retry_methods chooses the retried methods", {
  srv <- local_fault_server()
  o <- fault_client(srv, retry_methods = c("GET", "PUT"))
  res <- o$PUT("/drop-first", data = "x", params = list(key = "put-retried"))
  expect_equal(res$attempt, 2L)
  expect_equal(res$method, "PUT")
  expect_equal(fault_count(srv, "put-retried"), 2L)
  expect_error(o$POST("/drop-first", data = "x", params = list(key = "post-not")),
    class = "orthanc_connection_error"
  )
  expect_equal(fault_count(srv, "post-not"), 1L)
  # Lower case works too; GET is then not retried.
  op <- fault_client(srv, retry_methods = "delete")
  expect_equal(op$DELETE("/drop-first", params = list(key = "del-retried"))$attempt, 2L)
  expect_error(op$GET("/drop-first", params = list(key = "get-not")),
    class = "orthanc_connection_error"
  )
  expect_equal(fault_count(srv, "get-not"), 1L)
})

test_that("a server that stops sending is a timeout error", {
  srv <- local_fault_server()
  o <- fault_client(srv, timeout = 0.5)
  t0 <- Sys.time()
  expect_error(o$GET("/slow", params = list(seconds = 3, gap = 1.5)),
    class = "orthanc_timeout_error"
  )
  expect_lt(as.numeric(difftime(Sys.time(), t0, units = "secs")), 2.5)
  # A slow answer that keeps coming is not a timeout.
  expect_length(o$GET("/slow", params = list(seconds = 1, gap = 0.2)), 5 * 1024)
})

test_that("hostile answers give classed errors or work, never a crash", {
  srv <- local_fault_server()
  o <- fault_client(srv)
  e <- expect_error(o$GET("/bad-json"), class = "orthanc_response_error")
  expect_match(conditionMessage(e), "not the JSON it claims to be")
  expect_equal(e$status, 200L)
  expect_error(o$GET("/bad-utf8-text"), "not valid UTF-8", class = "orthanc_response_error")
  expect_error(o$GET("/bad-utf8-json"), class = "orthanc_response_error")
  expect_error(o$GET("/deep", params = list(n = 100000)), "recursion limit",
    class = "orthanc_response_error"
  )
  expect_error(o$GET("/big-number"), "out of range", class = "orthanc_response_error")

  big <- o$GET("/huge-string", params = list(mb = 50))
  expect_type(big, "character")
  expect_identical(nchar(big), 50e6L)
  expect_identical(substr(big, 49999999, 50e6), "aa")
  rm(big)

  arr <- o$GET("/huge-array", params = list(n = 2000000))
  expect_type(arr, "list")
  expect_length(arr, 2000000L)
  expect_identical(arr[[1]], 0L)
  expect_identical(arr[[2000000]], 1999999L)
  rm(arr)
  # The client is still usable.
  expect_equal(o$GET("/system")$ApiVersion, 27L)
})

# --- The server restarted: a real Orthanc 1.10.1, started here ---------------

legacy_binary <- function() {
  bin <- Sys.getenv("ORTHANC_LEGACY_BIN", "/usr/sbin/Orthanc")
  if (!file.exists(bin)) {
    fault_skip_or_fail(paste0("no Orthanc binary at ", bin, " (Debian package `orthanc`)"))
  }
  bin
}

legacy_config <- function(dir, http_port, dicom_port, user, password) {
  storage <- file.path(dir, "db")
  dir.create(storage, showWarnings = FALSE)
  cfg <- sprintf('{
  "Name" : "orthanc-r-restart",
  "StorageDirectory" : "%s",
  "IndexDirectory" : "%s",
  "Plugins" : [],
  "HttpServerEnabled" : true,
  "HttpPort" : %d,
  "RemoteAccessAllowed" : false,
  "AuthenticationEnabled" : true,
  "RegisteredUsers" : { "%s" : "%s" },
  "DicomServerEnabled" : false,
  "DicomPort" : %d,
  "KeepAlive" : true
}', storage, storage, http_port, user, password, dicom_port)
  path <- file.path(dir, "config.json")
  writeLines(cfg, path)
  path
}

start_orthanc <- function(bin, config, log) {
  processx::process$new(bin, config, stdout = log, stderr = "2>&1", cleanup = TRUE)
}

# Wait until Orthanc answers /system, probing with fresh clients.
wait_orthanc <- function(url, user, password, p, timeout = 30) {
  ok <- fault_wait_until(function() {
    if (!p$is_alive()) stop("Orthanc exited during start-up")
    tryCatch(
      {
        Orthanc$new(url, user, password, retries = 0)
        TRUE
      },
      orthanc_connection_error = function(e) FALSE
    )
  }, timeout = timeout, every = 0.2)
  if (!ok) stop("Orthanc did not answer on ", url, " within ", timeout, " s")
}

test_that("the same client works again after the server is killed and restarted", {
  bin <- legacy_binary()
  fault_python()
  dir <- withr::local_tempdir("orthanc-restart-")
  user <- "restart-user"
  password <- paste(sample(c(letters, LETTERS, 0:9), 24, TRUE), collapse = "")
  port <- fault_free_port()
  url <- sprintf("http://127.0.0.1:%d", port)
  config <- legacy_config(dir, port, fault_free_port(), user, password)
  log <- file.path(dir, "orthanc.log")

  p <- start_orthanc(bin, config, log)
  withr::defer(if (p$is_alive()) p$kill())
  wait_orthanc(url, user, password, p)

  o <- Orthanc$new(url, user, password)
  expect_match(o$GET("/system")$Version, "^1\\.")
  up <- o$POST("/instances", file = fixture("Lena-1.dcm"))
  expect_equal(up$Status, "Success")

  p$kill() # SIGKILL: no clean shutdown
  expect_false(p$is_alive())
  expect_error(o$GET("/system"), class = "orthanc_connection_error")
  expect_error(o$GET(paste0("/instances/", up$ID)), class = "orthanc_connection_error")

  # Same port, same storage.
  p <- start_orthanc(bin, config, log)
  withr::defer(if (p$is_alive()) p$kill())
  wait_orthanc(url, user, password, p)

  # The SAME client object, not recreated.
  info <- o$GET(paste0("/instances/", up$ID))
  expect_equal(info$ID, up$ID)
  expect_equal(o$GET("/system")$Name, "orthanc-r-restart")
  expect_equal(unlist(o$GET("/instances")), up$ID)
  path <- o$stream("GET", paste0("/instances/", up$ID, "/file"))
  on.exit(unlink(path), add = TRUE)
  expect_identical(unname(tools::md5sum(path)), unname(tools::md5sum(fixture("Lena-1.dcm"))))
})
