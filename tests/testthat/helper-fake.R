# A misbehaving HTTP server (tests/testthat/fixtures/fake-server.py, Python 3
# standard library) for the fault, interrupt and hostile-answer tests. It binds
# 127.0.0.1 on a port chosen by the OS, prints the port on its first stdout
# line and stops by itself after `lifetime` seconds; the test kills it at its
# end anyway.

# Skip (or fail under CI=true) when a prerequisite of a test is missing.
fault_skip_or_fail <- function(message) {
  if (on_ci()) stop("CI=true but ", message)
  testthat::skip(message)
}

fault_python <- function() {
  py <- Sys.which("python3")
  if (!nzchar(py)) fault_skip_or_fail("python3 is not installed (needed by the fake server)")
  if (!requireNamespace("processx", quietly = TRUE)) {
    fault_skip_or_fail("the processx package is not installed")
  }
  unname(py)
}

# Start a fake server; returns list(process, port, url). Killed when the
# calling test (frame `env`) ends.
local_fault_server <- function(lifetime = 90, env = parent.frame()) {
  py <- fault_python()
  p <- processx::process$new(py, c(fixture("fake-server.py"), "--lifetime", lifetime),
    stdout = "|", stderr = NULL, cleanup = TRUE
  )
  withr::defer(if (p$is_alive()) p$kill(), envir = env)
  deadline <- Sys.time() + 15
  line <- character()
  while (!length(line) && Sys.time() < deadline) {
    p$poll_io(200)
    line <- p$read_output_lines(1)
    if (!length(line) && !p$is_alive()) break
  }
  port <- suppressWarnings(as.integer(line[1]))
  if (!length(line) || is.na(port)) {
    stop("the fake server did not start (exit status ", format(p$get_exit_status()), ")")
  }
  list(process = p, port = port, url = sprintf("http://127.0.0.1:%d", port))
}

# A client of the fake server (no credentials unless given).
fault_client <- function(srv, ...) {
  withr::with_envvar(c(ORTHANC_USERNAME = NA, ORTHANC_PASSWORD = NA), {
    Orthanc$new(srv$url, ...)
  })
}

# What the fake server saw of the requests carrying ?key=<key>: list(count)
# and, for /slow, completed and aborted (the client went away mid-way).
fault_stats <- function(srv, key) {
  o <- fault_client(srv, retries = 0)
  o$GET("/count", params = list(key = key))
}

# How many requests carrying ?key=<key> the fake server has seen.
fault_count <- function(srv, key) fault_stats(srv, key)$count

# Every file of a directory, hidden ones (".x.part-...") included.
fault_dir_files <- function(dir = tempdir()) {
  list.files(dir, all.files = TRUE, no.. = TRUE, recursive = TRUE)
}

# A free TCP port on 127.0.0.1, chosen by the OS.
fault_free_port <- function() {
  out <- processx::run(fault_python(), c("-c", paste(
    "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0));",
    "print(s.getsockname()[1]); s.close()"
  )))
  as.integer(trimws(out$stdout))
}

# Wait until `cond()` is TRUE (polling), at most `timeout` seconds.
fault_wait_until <- function(cond, timeout = 10, every = 0.05) {
  deadline <- Sys.time() + timeout
  repeat {
    if (isTRUE(cond())) return(TRUE)
    if (Sys.time() > deadline) return(FALSE)
    Sys.sleep(every)
  }
}

# The environment of a callr child: the test's environment plus a UTF-8
# locale, without any credentials unless given.
fault_child_env <- function(...) {
  env <- c(callr::rcmd_safe_env(), ORTHANC_USERNAME = "", ORTHANC_PASSWORD = "")
  extra <- c(...)
  env[names(extra)] <- extra
  env
}
