#' A throwaway Orthanc server for tests and demos
#'
#' Start an Orthanc server of your own, on this machine only, for the length of
#' a test, an example or a demo: it listens on free loopback ports (HTTP and
#' DICOM), stores what it receives in a temporary directory, and has
#' credentials of its own (a random password, never printed, held only by the
#' client). It needs the Orthanc program: `Orthanc` on the `PATH`, or in
#' `/usr/sbin` where Debian's and Ubuntu's `orthanc` package installs it.
#'
#' * `local_orthanc()` starts a server that is stopped when the calling
#'   function (or test) ends, in the style of withr's `local_*()` functions.
#' * `orthanc_server_start()` starts one that lives until
#'   `orthanc_server_stop()` (or `server$stop()`), or until the R session ends.
#'
#' Stopping a server ends its process (politely first, then by force) and
#' removes its temporary directory, storage included: nothing is left behind.
#'
#' @param binary Path of the Orthanc program. By default the environment
#'   variable `ORTHANC_BINARY`, then `Orthanc` on the `PATH`, then
#'   `/usr/sbin/Orthanc`, `/usr/local/sbin/Orthanc` and `/usr/local/bin/Orthanc`.
#' @param plugins Paths of Orthanc plugins (shared libraries) to load, e.g.
#'   `"/usr/share/orthanc/plugins/libModalityWorklists.so"`.
#' @param config A named list of further Orthanc configuration options
#'   (<https://orthanc.uclouvain.be/book/users/configuration.html>), which
#'   override the defaults set here, e.g. `list(StableAge = 1)`. The ports,
#'   storage and credentials cannot be changed.
#' @param aet The server's DICOM application entity title.
#' @param timeout Seconds to wait for the server to answer `GET /system`.
#' @param verbose If `TRUE`, Orthanc logs verbosely (see `server$log()`).
#' @param ... Options of the returned client, passed on to [`Orthanc$new()`][Orthanc]
#'   (e.g. `timeout`).
#' @param env The environment whose end stops the server.
#' @param server A server started by `orthanc_server_start()`.
#' @return `local_orthanc()` and `orthanc_server_start()`: the server, an
#'   object with
#'   * `client`: a connected [Orthanc] client;
#'   * `url`, `http_port`, `dicom_port`, `aet`: where it listens;
#'   * `pid`, `dir` (its temporary directory), `version`;
#'   * `stop()`: stop it and remove its files (idempotent);
#'   * `is_alive()`;
#'   * `log(n = 50)`: the last `n` lines of its log (kept after it stopped).
#'
#'   `orthanc_server_stop()`: the server, invisibly.
#' @section Errors:
#' `orthanc_server_not_found` (an `orthanc_server_error`) when there is no
#' Orthanc program, with what to install; `orthanc_server_error` when the
#' server does not start, with the end of its log.
#' @seealso [local_orthanc_mock()] to answer requests without any server.
#' @export
#' @examplesIf orthanc:::orthanc_binary_available()
#' srv <- orthanc_server_start()
#' srv$client$post_instances(file = system.file("extdata", "Lena-1.dcm", package = "orthanc"))
#' length(srv$client$get_instances())
#' orthanc_server_stop(srv)
#'
#' # In a function or a test, local_orthanc() stops it when that ends:
#' #   count_instances <- function(file) {
#' #     srv <- local_orthanc()
#' #     srv$client$post_instances(file = file)
#' #     length(srv$client$get_instances())
#' #   }
local_orthanc <- function(..., binary = NULL, plugins = NULL, config = list(), aet = "ORTHANC",
                          timeout = 30, verbose = FALSE, env = parent.frame()) {
  server <- orthanc_server_start(...,
    binary = binary, plugins = plugins, config = config, aet = aet,
    timeout = timeout, verbose = verbose
  )
  do.call(on.exit, list(substitute(server$stop(), list(server = server)), add = TRUE), envir = env)
  server
}

#' @rdname local_orthanc
#' @export
orthanc_server_start <- function(..., binary = NULL, plugins = NULL, config = list(), aet = "ORTHANC",
                                 timeout = 30, verbose = FALSE) {
  call <- sys.call()
  if (!requireNamespace("processx", quietly = TRUE)) {
    orthanc_abort("server", c(
      "Starting an Orthanc server needs the {.pkg processx} package.",
      i = "Install it with {.code install.packages(\"processx\")}."
    ), call = call)
  }
  binary <- find_orthanc_binary(binary, call = call)
  if (!is.null(plugins)) {
    if (!is.character(plugins) || anyNA(plugins)) {
      orthanc_abort("argument", "{.arg plugins} must be a character vector of paths.", call = call)
    }
    missing_plugins <- plugins[!file.exists(plugins)]
    if (length(missing_plugins)) {
      orthanc_abort("argument", "Plugin {.path {missing_plugins[1]}} does not exist.", call = call)
    }
    plugins <- normalizePath(plugins)
  }
  if (!is.list(config) || (length(config) && (is.null(names(config)) || any(!nzchar(names(config)))))) {
    orthanc_abort("argument", "{.arg config} must be a named list of Orthanc options.", call = call)
  }
  reserved <- intersect(names(config), c(
    "HttpPort", "DicomPort", "StorageDirectory", "IndexDirectory",
    "RegisteredUsers", "AuthenticationEnabled", "RemoteAccessAllowed", "Plugins"
  ))
  if (length(reserved)) {
    orthanc_abort("argument", c(
      "{.arg config} cannot set {.field {reserved[1]}}.",
      i = "The ports, storage, credentials and plugins are chosen by {.fn orthanc_server_start}."
    ), call = call)
  }
  if (!is_string(aet) || !nzchar(aet) || nchar(aet) > 16) {
    orthanc_abort("argument", "{.arg aet} must be a string of 1 to 16 characters.", call = call)
  }

  last_log <- character()
  started <- FALSE
  for (attempt in 1:3) {
    server <- OrthancServer$new(binary, plugins, config, aet, verbose)
    started <- tryCatch(server$wait(timeout, ...), error = function(e) {
      server$stop()
      stop(e)
    })
    if (isTRUE(started)) {
      return(server)
    }
    last_log <- server$log(20)
    server$stop()
    # Another process may have taken a port between the choice and the start:
    # try again with new ports, unless the server did not even start.
    if (!identical(started, "exited")) break
  }
  log_text <- paste(last_log, collapse = "\n")
  orthanc_abort("server", c(
    "The Orthanc server ({.path {binary}}) did not start.",
    x = if (identical(started, "timeout")) {
      "It did not answer {.code GET /system} within {timeout} s."
    } else {
      "It exited."
    },
    i = if (length(last_log)) "The end of its log:\n{log_text}" else "It logged nothing."
  ), call = call)
}

#' @rdname local_orthanc
#' @export
orthanc_server_stop <- function(server) {
  if (!inherits(server, "OrthancServer")) {
    orthanc_abort("argument", "{.arg server} must be a server from {.fn orthanc_server_start}.",
      call = quote(orthanc_server_stop())
    )
  }
  server$stop()
  invisible(server)
}

# Is an Orthanc program available (for examples)?
orthanc_binary_available <- function() {
  requireNamespace("processx", quietly = TRUE) &&
    !is.null(tryCatch(find_orthanc_binary(NULL), orthanc_error = function(e) NULL))
}

find_orthanc_binary <- function(binary, call = NULL) {
  install_hints <- c(
    i = "Install Orthanc: {.code apt-get install orthanc} (Debian, Ubuntu), {.code dnf install orthanc} (Fedora), or the installers of {.url https://www.orthanc-server.com/download.php} (macOS, Windows).",
    i = "Or give the path of the program: {.code binary = \"/path/to/Orthanc\"} (or set {.envvar ORTHANC_BINARY})."
  )
  if (is.null(binary) && nzchar(Sys.getenv("ORTHANC_BINARY"))) binary <- Sys.getenv("ORTHANC_BINARY")
  if (!is.null(binary)) {
    if (!is_string(binary) || !nzchar(binary)) {
      orthanc_abort("argument", "{.arg binary} must be a single string, the path of the Orthanc program.", call = call)
    }
    found <- if (grepl("/", binary, fixed = TRUE)) binary else unname(Sys.which(binary))
    if (!nzchar(found) || !file.exists(found) || dir.exists(found) || file.access(found, 1L) != 0L) {
      orthanc_abort("server_not_found", c(
        "The Orthanc program {.path {binary}} does not exist or is not executable.",
        install_hints
      ), binary = binary, call = call)
    }
    return(normalizePath(found))
  }
  candidates <- c(
    unname(Sys.which("Orthanc")),
    "/usr/sbin/Orthanc", "/usr/local/sbin/Orthanc", "/usr/local/bin/Orthanc"
  )
  for (path in candidates) {
    if (nzchar(path) && file.exists(path) && !dir.exists(path) && file.access(path, 1L) == 0L) {
      return(normalizePath(path))
    }
  }
  orthanc_abort("server_not_found", c(
    "Could not find the Orthanc server program ({.code Orthanc} is not on the {.envvar PATH} nor in {.path /usr/sbin}).",
    install_hints
  ), binary = NA_character_, call = call)
}

# A port that nothing listens on now. The kernel picks no port for us from R,
# so draw from the dynamic range and check that it can be bound.
free_port <- function(avoid = integer()) {
  for (i in 1:100) {
    port <- 20000L + random_int(40000L)
    if (port %in% avoid) next
    ok <- tryCatch(
      {
        s <- serverSocket(port)
        close(s)
        TRUE
      },
      error = function(e) FALSE,
      warning = function(w) FALSE
    )
    if (ok) return(port)
  }
  orthanc_abort("server", "Could not find a free TCP port.")
}

# Random numbers and passwords that leave the user's random seed alone.
random_bytes <- function(n) {
  if (file.exists("/dev/urandom")) {
    con <- file("/dev/urandom", "rb", raw = TRUE)
    on.exit(close(con))
    return(as.integer(readBin(con, "raw", n)))
  }
  seed <- if (exists(".Random.seed", globalenv())) get(".Random.seed", globalenv())
  on.exit(if (is.null(seed)) rm(".Random.seed", envir = globalenv()) else assign(".Random.seed", seed, globalenv()))
  set.seed(NULL)
  sample.int(256L, n, replace = TRUE) - 1L
}
random_int <- function(n) sum(random_bytes(4) * 256^(0:3)) %% n
random_password <- function(n = 32L) {
  chars <- c(letters, LETTERS, 0:9)
  paste(chars[random_bytes(n) %% length(chars) + 1L], collapse = "")
}

# The server handle returned by orthanc_server_start(). The password is held
# (in private) only until the client is made; after that only the Rust client
# and the server's configuration file (mode 0600, in a 0700 directory removed
# at stop) know it.
OrthancServer <- R6::R6Class("OrthancServer",
  cloneable = FALSE,
  public = list(
    client = NULL,
    url = NULL,
    http_port = NULL,
    dicom_port = NULL,
    aet = NULL,
    pid = NULL,
    dir = NULL,
    version = NULL,
    binary = NULL,

    initialize = function(binary, plugins, config, aet, verbose) {
      self$binary <- binary
      self$aet <- aet
      self$http_port <- free_port()
      self$dicom_port <- free_port(avoid = self$http_port)
      self$url <- paste0("http://127.0.0.1:", self$http_port)
      self$dir <- tempfile("orthanc-server-")
      dir.create(file.path(self$dir, "db"), recursive = TRUE, mode = "0700")
      Sys.chmod(self$dir, "0700")
      private$password <- random_password()
      settings <- list(
        Name = "orthanc-r-local",
        StorageDirectory = file.path(self$dir, "db"),
        IndexDirectory = file.path(self$dir, "db"),
        HttpServerEnabled = TRUE,
        HttpPort = self$http_port,
        RemoteAccessAllowed = FALSE,
        AuthenticationEnabled = TRUE,
        RegisteredUsers = stats::setNames(list(private$password), "orthanc-r"),
        DicomServerEnabled = TRUE,
        DicomAet = aet,
        DicomPort = self$dicom_port,
        Plugins = as.list(plugins %||% character()),
        LuaScripts = list(),
        SaveJobs = FALSE,
        HttpDescribeErrors = TRUE
      )
      settings[names(config)] <- config
      conf <- file.path(self$dir, "orthanc.json")
      file.create(conf)
      Sys.chmod(conf, "0600")
      writeLines(rs_to_json(settings), conf)
      private$log_file <- file.path(self$dir, "orthanc.log")
      args <- c(if (verbose) "--verbose", "--no-jobs", conf)
      private$process <- processx::process$new(binary, args,
        stdout = private$log_file, stderr = "2>&1", cleanup = TRUE, wd = self$dir
      )
      self$pid <- private$process$get_pid()
      # Stop the server and remove its files when the object is collected or
      # the session ends, whatever happens to it.
      reg.finalizer(self, function(e) e$stop(), onexit = TRUE)
    },

    # Wait until GET /system answers: TRUE, "exited" or "timeout".
    wait = function(timeout, ...) {
      probe <- Orthanc$new(self$url, "orthanc-r", private$password, retries = 0, timeout = 5)
      deadline <- Sys.time() + timeout
      repeat {
        if (!private$process$is_alive()) return("exited")
        info <- tryCatch(probe$get_system(), orthanc_error = function(e) NULL)
        if (!is.null(info)) break
        if (Sys.time() > deadline) return("timeout")
        Sys.sleep(0.05)
      }
      self$version <- info$Version
      self$client <- Orthanc$new(self$url, "orthanc-r", private$password, ...)
      private$password <- NULL
      TRUE
    },

    is_alive = function() !is.null(private$process) && private$process$is_alive(),

    log = function(n = 50) {
      lines <- if (!is.null(private$log_file) && file.exists(private$log_file)) {
        readLines(private$log_file, warn = FALSE)
      } else {
        private$saved_log
      }
      utils::tail(lines, n)
    },

    stop = function() {
      if (!is.null(private$process)) {
        p <- private$process
        if (p$is_alive()) {
          # Orthanc shuts down cleanly on SIGTERM; kill it if it takes too long.
          try(p$signal(15L), silent = TRUE)
          try(p$wait(10000), silent = TRUE)
          if (p$is_alive()) try(p$kill(), silent = TRUE)
        }
        private$process <- NULL
      }
      if (!is.null(private$log_file) && file.exists(private$log_file)) {
        private$saved_log <- readLines(private$log_file, warn = FALSE)
      }
      private$log_file <- NULL
      if (!is.null(self$dir) && dir.exists(self$dir)) unlink(self$dir, recursive = TRUE, force = TRUE)
      invisible(self)
    },

    print = function(...) {
      cat(
        "<OrthancServer> ", self$url, if (!self$is_alive()) " (stopped)", "\n",
        "  Orthanc ", self$version %||% "?", " (", self$binary, "), pid ", self$pid, "\n",
        "  DICOM: ", self$aet, " on port ", self$dicom_port, "\n",
        "  storage: ", self$dir, "\n",
        sep = ""
      )
      invisible(self)
    }
  ),
  private = list(
    password = NULL,
    process = NULL,
    log_file = NULL,
    saved_log = character()
  )
)
