#' Conditions raised by orthanc
#'
#' Every error raised by the client inherits from `orthanc_error`. The more
#' specific classes are:
#'
#' * `orthanc_http_error`: Orthanc answered with a status outside 2xx. Also
#'   carries `orthanc_http_<status>` (e.g. `orthanc_http_404`). Fields:
#'   `status`, `method`, `url` (never with credentials), `body` (Orthanc's
#'   error answer, a list with `OrthancError`, `OrthancStatus`, `Message`,
#'   `Details` when Orthanc gave them).
#' * `orthanc_connection_error`: the connection was refused, reset or could
#'   not be made (`orthanc_tls_error` for TLS failures is a subclass).
#' * `orthanc_timeout_error`: the server did not answer within the timeout.
#' * `orthanc_argument_error`: an argument cannot be sent (wrong type, a file
#'   that does not exist, an object that cannot be written as JSON).
#' * `orthanc_response_error`: the answer could not be decoded (e.g. it is not
#'   the JSON it claims to be).
#' * `orthanc_io_error`: a local file could not be read or written.
#'
#' @name orthanc_error
#' @keywords internal
NULL

# The one constructor of orthanc conditions. `message` is a cli bullet vector
# interpolated in `.envir`.
orthanc_abort <- function(kind, message, ..., call = NULL, .envir = parent.frame()) {
  classes <- switch(kind,
    http = c(paste0("orthanc_http_", list(...)$status), "orthanc_http_error"),
    connection = "orthanc_connection_error",
    tls = c("orthanc_tls_error", "orthanc_connection_error"),
    timeout = "orthanc_timeout_error",
    argument = "orthanc_argument_error",
    decode = "orthanc_response_error",
    io = "orthanc_io_error",
    character()
  )
  msg <- cli::format_error(message, .envir = .envir)
  cnd <- errorCondition(msg, ..., class = c(classes, "orthanc_error"), call = call)
  stop(cnd)
}

http_reason <- function(status) {
  reasons <- c(
    "400" = "Bad Request", "401" = "Unauthorized", "403" = "Forbidden",
    "404" = "Not Found", "405" = "Method Not Allowed", "409" = "Conflict",
    "413" = "Payload Too Large", "415" = "Unsupported Media Type",
    "500" = "Internal Server Error", "503" = "Service Unavailable"
  )
  r <- reasons[as.character(status)]
  if (is.na(r)) "" else unname(r)
}

# Raise the condition for a failed transfer (list(error, message, ...) from Rust).
orthanc_transport_abort <- function(res, method, url, call) {
  kind <- res$error
  detail <- res$message
  if (identical(kind, "interrupt")) {
    orthanc_interrupt()
  }
  switch(kind,
    connection = orthanc_abort("connection", c(
      "Cannot reach Orthanc at {.url {url}} ({method}).",
      x = "{detail}",
      i = "Is the server running and is the URL (host and port) right?"
    ), method = method, url = url, call = call),
    tls = orthanc_abort("tls", c(
      "The TLS connection to {.url {url}} failed.",
      x = "{detail}",
      i = "Check the server's certificate, or give {.arg ca_file} to trust your own certificate authority."
    ), method = method, url = url, call = call),
    timeout = orthanc_abort("timeout", c(
      "Orthanc at {.url {url}} did not answer in time ({method}).",
      x = "{detail}",
      i = "Raise the timeout: {.code Orthanc$new(url, timeout = 300)}."
    ), method = method, url = url, call = call),
    decode = orthanc_abort("decode", c(
      "Cannot read Orthanc's answer to {method} {.url {url}}.",
      x = "{detail}"
    ), method = method, url = url, status = res$status, text = res$text, call = call),
    io = orthanc_abort("io", c("A local file could not be used.", x = "{detail}"),
      method = method, url = url, call = call
    ),
    orthanc_abort("argument", c("Cannot send the request.", x = "{detail}"),
      method = method, url = url, call = call
    )
  )
}

# Re-signal a user interrupt caught while Rust was waiting for the network.
orthanc_interrupt <- function() {
  cnd <- structure(list(message = "", call = NULL), class = c("interrupt", "condition"))
  signalCondition(cnd)
  invokeRestart("abort")
}

orthanc_http_abort <- function(res, method, url, version, call) {
  status <- res$status
  body <- res$body
  reason <- http_reason(status)
  bullets <- "Orthanc answered {status} {reason} to {method} {.url {url}}."
  if (is.null(body) && status == 404L) {
    bullets <- c(bullets, x = "No such resource (the server gave no details).")
  }
  if (is.list(body)) {
    what <- body$Message %||% body$OrthancError
    if (!is.null(what)) bullets <- c(bullets, x = "{what}")
    details <- body$Details
    if (!is.null(details)) bullets <- c(bullets, x = "Details: {details}")
  } else if (is.character(body) && length(body) == 1L && nzchar(body)) {
    text <- substr(body, 1L, 500L)
    bullets <- c(bullets, x = "{text}")
  }
  hint <- switch(as.character(status),
    "401" = "Check the user name and password (arguments of {.fn Orthanc$new} or {.envvar ORTHANC_USERNAME} / {.envvar ORTHANC_PASSWORD}).",
    "403" = "This user is not allowed to do this on the server.",
    "404" = if (is.list(body) && identical(body$OrthancStatus, 17L)) {
      "This Orthanc (version {version}) does not know this route: it may need a newer Orthanc."
    } else {
      "Check the identifier or name in the URL: the server has no such resource."
    },
    "415" = "The server did not accept the type of data sent.",
    NULL
  )
  if (!is.null(hint)) bullets <- c(bullets, i = hint)
  orthanc_abort("http", bullets,
    status = status, method = method, url = url,
    body = if (is.list(body)) body else NULL,
    call = call
  )
}

`%||%` <- function(x, y) if (is.null(x)) y else x
