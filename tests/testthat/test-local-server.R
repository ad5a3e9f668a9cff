# Throwaway servers (R/local-server.R), started from the host's Orthanc program
# (Debian 12: /usr/sbin/Orthanc 1.10.1, installed by dev/setup-debian.sh).

pid_alive <- function(pid) isTRUE(tools::pskill(pid, 0L))

test_that("a server starts, stores, stops, and leaves no process and no files", {
  skip_if_no_orthanc_binary()
  before <- list.files(tempdir(), "^orthanc-server-")
  srv <- orthanc_server_start()
  pid <- srv$pid
  dir <- srv$dir
  expect_true(srv$is_alive())
  expect_true(pid_alive(pid))
  expect_true(dir.exists(dir))
  expect_match(srv$url, "^http://127\\.0\\.0\\.1:[0-9]+$")
  expect_s3_class(srv$client, "Orthanc")
  expect_match(srv$version, "^[0-9]+\\.[0-9]+")

  res <- srv$client$post_instances(file = fixture("Lena-1.dcm"))
  expect_equal(res$Status, "Success")
  expect_length(srv$client$get_instances(), 1L)
  expect_length(srv$client$get_patients(), 1L)
  expect_equal(srv$client$get_system()$DicomAet, "ORTHANC")
  expect_equal(srv$client$get_system()$DicomPort, srv$dicom_port)

  expect_identical(orthanc_server_stop(srv), srv)
  expect_false(srv$is_alive())
  expect_false(pid_alive(pid))
  expect_false(dir.exists(dir))
  expect_equal(list.files(tempdir(), "^orthanc-server-"), before)
  # The log outlives the server; stopping again does nothing.
  expect_true(any(grepl("Orthanc has stopped", srv$log(), fixed = TRUE)))
  expect_no_error(srv$stop())
  expect_error(srv$client$get_system(), class = "orthanc_connection_error")
})

test_that("local_orthanc() stops the server when the calling frame ends", {
  skip_if_no_orthanc_binary()
  f <- function() {
    srv <- local_orthanc(timeout = 20)
    srv$client$post_instances(file = fixture("Lena-1.dcm"))
    list(pid = srv$pid, dir = srv$dir, n = length(srv$client$get_instances()), alive = pid_alive(srv$pid))
  }
  x <- f()
  expect_equal(x$n, 1L)
  expect_true(x$alive)
  expect_false(pid_alive(x$pid))
  expect_false(dir.exists(x$dir))
})

test_that("two servers run side by side on their own ports and storage", {
  skip_if_no_orthanc_binary()
  a <- local_orthanc()
  b <- local_orthanc(aet = "OTHER")
  expect_false(a$http_port == b$http_port)
  a$client$post_instances(file = fixture("Lena-1.dcm"))
  expect_length(a$client$get_instances(), 1L)
  expect_length(b$client$get_instances(), 0L)
  expect_equal(b$client$get_system()$DicomAet, "OTHER")
})

test_that("the password is never printed and the server answers nobody else", {
  skip_if_no_orthanc_binary()
  srv <- local_orthanc()
  password <- rs_from_json(paste(readLines(file.path(srv$dir, "orthanc.json")), collapse = "\n"))$RegisteredUsers[[1]]
  expect_gte(nchar(password), 24L)
  out <- c(
    capture.output(print(srv)), capture.output(print(srv$client)),
    capture.output(str(as.list(srv, all.names = TRUE))), format(srv$log())
  )
  expect_false(any(grepl(password, out, fixed = TRUE)))
  expect_equal(file.info(file.path(srv$dir, "orthanc.json"))$mode, as.octmode("600"))
  anonymous <- Orthanc$new(srv$url, retries = 0)
  expect_error(anonymous$get_system(), class = "orthanc_http_401")
})

test_that("plugins and configuration options are passed on", {
  skip_if_no_orthanc_binary()
  plugin <- "/usr/share/orthanc/plugins/libModalityWorklists.so"
  skip_if_not(file.exists(plugin), "no worklists plugin")
  srv <- local_orthanc(plugins = plugin, config = list(Name = "my-test-server"))
  expect_true("worklists" %in% unlist(srv$client$get_plugins()))
  expect_equal(srv$client$get_system()$Name, "my-test-server")
})

test_that("a missing program is a classed error that says what to install", {
  skip_if_not_installed("processx")
  expect_error(orthanc_server_start(binary = "/nonexistent"), class = "orthanc_server_not_found")
  withr::local_envvar(ORTHANC_BINARY = "/nonexistent/Orthanc")
  err <- expect_error(local_orthanc(), class = "orthanc_server_error")
  expect_match(conditionMessage(err), "apt-get install orthanc", fixed = TRUE)
  expect_snapshot(orthanc_server_start(binary = "/nonexistent"), error = TRUE, variant = snapshot_variant())
})

test_that("a program that does not start is an error with its log, and nothing is left", {
  skip_if_not_installed("processx")
  skip_on_os("windows")
  before <- list.files(tempdir(), "^orthanc-server-")
  fake <- withr::local_tempfile(fileext = ".sh")
  writeLines(c("#!/bin/sh", "echo 'E: cannot open the configuration {oops}' >&2", "exit 3"), fake)
  Sys.chmod(fake, "0755")
  err <- expect_error(orthanc_server_start(binary = fake, timeout = 5), class = "orthanc_server_error")
  expect_false(inherits(err, "orthanc_server_not_found"))
  expect_match(conditionMessage(err), "It exited")
  expect_match(conditionMessage(err), "cannot open the configuration {oops}", fixed = TRUE)
  expect_equal(list.files(tempdir(), "^orthanc-server-"), before)
})

test_that("arguments are checked before anything starts", {
  skip_if_not_installed("processx")
  skip_if_no_orthanc_binary()
  expect_error(orthanc_server_start(plugins = "/nonexistent.so"), class = "orthanc_argument_error")
  expect_error(orthanc_server_start(config = list(1)), class = "orthanc_argument_error")
  expect_error(orthanc_server_start(config = list(HttpPort = 80)), class = "orthanc_argument_error")
  expect_error(orthanc_server_start(aet = strrep("A", 17)), class = "orthanc_argument_error")
  expect_error(orthanc_server_stop("x"), class = "orthanc_argument_error")
})
