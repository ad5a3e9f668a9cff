# Helpers for test-options-tls.R: a throwaway PKI made with openssl and fake servers
# (fixtures/tls-server.py) on 127.0.0.1. Without openssl or python3 the tests
# skip, except under CI=true where that is a failure.

tls_require_tool <- function(tool) {
  path <- Sys.which(tool)
  if (nzchar(path)) {
    return(unname(path))
  }
  if (on_ci()) {
    stop("CI=true but `", tool, "` is not installed; the TLS tests need it")
  }
  testthat::skip(paste0("`", tool, "` is not installed"))
}

tls_require_package <- function(pkg) {
  if (requireNamespace(pkg, quietly = TRUE)) {
    return(invisible(TRUE))
  }
  if (on_ci()) {
    stop("CI=true but the R package `", pkg, "` is not installed; the TLS tests need it")
  }
  testthat::skip(paste0("the R package `", pkg, "` is not installed"))
}

tls_openssl <- function(...) {
  openssl <- tls_require_tool("openssl")
  out <- suppressWarnings(system2(openssl, shQuote(c(...)), stdout = TRUE, stderr = TRUE))
  status <- attr(out, "status") %||% 0L
  if (status != 0L) {
    stop("openssl ", paste(c(...), collapse = " "), " failed:\n", paste(out, collapse = "\n"))
  }
  invisible(out)
}

# A CA, a server certificate for localhost / 127.0.0.1 (SAN) signed by it, a
# client certificate signed by it, and a second CA ("other-ca") that signed
# only a "rogue" client certificate. EC P-256 keys (fast to make). Made once
# per R session (the files live in the session's tempdir).
tls_pki_cache <- new.env(parent = emptyenv())

tls_pki <- function() {
  if (!is.null(tls_pki_cache$pki)) {
    return(tls_pki_cache$pki)
  }
  tls_require_tool("openssl")
  dir <- tempfile("orthanc-pki-")
  dir.create(dir)
  p <- function(x) file.path(dir, x)
  key <- function(file) {
    tls_openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", file)
  }
  ca <- function(name) {
    key(p(paste0(name, ".key")))
    tls_openssl(
      "req", "-x509", "-new", "-key", p(paste0(name, ".key")), "-sha256", "-days", "2",
      "-subj", paste0("/CN=orthanc-r test ", name), "-out", p(paste0(name, ".pem")),
      "-addext", "basicConstraints=critical,CA:TRUE",
      "-addext", "keyUsage=critical,keyCertSign,cRLSign"
    )
  }
  leaf <- function(name, cn, ext, ca = "ca") {
    key(p(paste0(name, ".key")))
    tls_openssl(
      "req", "-new", "-key", p(paste0(name, ".key")), "-subj", paste0("/CN=", cn),
      "-out", p(paste0(name, ".csr"))
    )
    writeLines(ext, p(paste0(name, ".ext")))
    tls_openssl(
      "x509", "-req", "-in", p(paste0(name, ".csr")), "-CA", p(paste0(ca, ".pem")), "-CAkey", p(paste0(ca, ".key")),
      "-CAcreateserial", "-days", "2", "-sha256", "-extfile", p(paste0(name, ".ext")),
      "-out", p(paste0(name, ".pem"))
    )
  }
  ca("ca")
  ca("other-ca")
  leaf("server", "localhost", c(
    "basicConstraints=CA:FALSE",
    "keyUsage=critical,digitalSignature",
    "extendedKeyUsage=serverAuth",
    "subjectAltName=DNS:localhost,IP:127.0.0.1"
  ))
  leaf("client", "orthanc-r test client", c(
    "basicConstraints=CA:FALSE",
    "keyUsage=critical,digitalSignature",
    "extendedKeyUsage=clientAuth"
  ))
  leaf("rogue", "orthanc-r test rogue client", c(
    "basicConstraints=CA:FALSE",
    "keyUsage=critical,digitalSignature",
    "extendedKeyUsage=clientAuth"
  ), ca = "other-ca")
  writeLines(c("this is not a certificate"), p("garbage.pem"))
  tls_pki_cache$pki <- list(
    dir = dir,
    ca = p("ca.pem"), other_ca = p("other-ca.pem"),
    server_cert = p("server.pem"), server_key = p("server.key"),
    client_cert = p("client.pem"), client_key = p("client.key"),
    rogue_cert = p("rogue.pem"), rogue_key = p("rogue.key"),
    garbage = p("garbage.pem")
  )
  tls_pki_cache$pki
}

# A self-signed server certificate made the usual way (`openssl req -x509`,
# which marks it CA:TRUE), for 127.0.0.1 and localhost unless `san` says
# otherwise.
tls_self_signed <- function(name = "self", san = "IP:127.0.0.1,DNS:localhost") {
  dir <- tls_pki()$dir
  cert <- file.path(dir, paste0(name, "-ss.pem"))
  key <- file.path(dir, paste0(name, "-ss.key"))
  if (!file.exists(cert)) {
    tls_openssl(
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
      "-days", "2", "-subj", "/CN=host", "-addext", paste0("subjectAltName=", san)
    )
  }
  list(cert = cert, key = key)
}

# The environment for python3: without R's LD_LIBRARY_PATH, which can make a
# python3 built elsewhere (e.g. pyenv) load the system's libpython and fail
# to import ssl.
tls_python_env <- function() {
  env <- Sys.getenv()
  env <- env[names(env) != "LD_LIBRARY_PATH"]
  stats::setNames(as.character(env), names(env))
}

# A python3 that can import ssl and http.server.
tls_python <- function() {
  tls_require_package("processx")
  if (!is.null(tls_pki_cache$python)) {
    return(tls_pki_cache$python)
  }
  candidates <- unique(Filter(nzchar, c(Sys.which("python3"), "/usr/bin/python3")))
  for (py in candidates) {
    ok <- tryCatch(
      processx::run(py, c("-c", "import ssl, http.server"), env = tls_python_env(), error_on_status = FALSE)$status == 0L,
      error = function(e) FALSE
    )
    if (ok) {
      tls_pki_cache$python <- unname(py)
      return(tls_pki_cache$python)
    }
  }
  if (on_ci()) {
    stop("CI=true but no python3 that can import ssl and http.server; the TLS tests need one")
  }
  testthat::skip("no python3 that can import ssl and http.server")
}

# Start fixtures/tls-server.py with `args`; return list(port, url, log, process).
# The server is killed when the calling test ends (and exits by itself after
# `lifetime` seconds anyway).
tls_local_server <- function(args = character(), https = FALSE, lifetime = 60,
                              env = parent.frame()) {
  python <- tls_python()
  log <- tempfile("fake-server-", fileext = ".jsonl")
  script <- normalizePath(testthat::test_path("fixtures", "tls-server.py"))
  proc <- processx::process$new(
    python, c(script, "--lifetime", lifetime, "--log", log, args),
    stdout = "|", stderr = "|", cleanup = TRUE, env = tls_python_env()
  )
  withr::defer(
    {
      if (proc$is_alive()) proc$kill()
      unlink(log)
    },
    envir = env
  )
  deadline <- Sys.time() + 15
  line <- character()
  while (!length(line) && Sys.time() < deadline) {
    proc$poll_io(200)
    line <- proc$read_output_lines(n = 1)
    if (!length(line) && !proc$is_alive()) break
  }
  if (!length(line) || !grepl("^[0-9]+$", line[1])) {
    stop("the fake server did not start: ", paste(proc$read_all_error_lines(), collapse = "\n"))
  }
  port <- as.integer(line[1])
  list(
    port = port,
    url = paste0(if (https) "https" else "http", "://127.0.0.1:", port),
    log = log,
    process = proc
  )
}

# The requests the fake server received: a list of list(path, headers).
tls_server_requests <- function(server) {
  tls_require_package("jsonlite")
  if (!file.exists(server$log)) {
    return(list())
  }
  lapply(readLines(server$log, warn = FALSE), jsonlite::fromJSON, simplifyVector = FALSE)
}

tls_https_server <- function(client_ca = NULL, cert = NULL, key = NULL, env = parent.frame()) {
  pki <- tls_pki()
  args <- c("--cert", cert %||% pki$server_cert, "--key", key %||% pki$server_key)
  if (!is.null(client_ca)) args <- c(args, "--client-ca", client_ca)
  tls_local_server(args, https = TRUE, env = env)
}

# Everything a condition carries, as text: message, fields and the deparsed
# call (what traceback()-like output would show).
tls_condition_text <- function(cnd) {
  fields <- unclass(cnd)
  fields$call <- NULL
  c(
    conditionMessage(cnd),
    paste(deparse(conditionCall(cnd)), collapse = " "),
    unlist(lapply(fields, function(x) paste(format(x), collapse = " "))),
    utils::capture.output(print(cnd))
  )
}
