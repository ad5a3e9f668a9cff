#' Conditions raised by orthanc
#'
#' Every error raised by the client inherits from `orthanc_error`. The more
#' specific classes are:
#'
#' * `orthanc_http_error`: Orthanc answered with a status outside 2xx. Also
#'   carries `orthanc_http_<status>` (e.g. `orthanc_http_404`). Fields:
#'   `status`, `method`, `url` (never with credentials), `error_body`
#'   (Orthanc's error answer, a list with `OrthancError`, `OrthancStatus`,
#'   `Message`, `Details` when Orthanc gave them; not `body`, which rlang
#'   reserves for the bullets of a condition's message). Failures of a
#'   [DicomWeb] client also carry `warning`: the answer's `Warning` headers,
#'   where DICOMweb servers explain themselves; their `error_body` may be a
#'   DICOM JSON status.
#' * `orthanc_connection_error`: the connection was refused, reset or could
#'   not be made (`orthanc_tls_error` for TLS failures is a subclass).
#' * `orthanc_timeout_error`: the server did not answer within the timeout.
#' * `orthanc_argument_error`: an argument cannot be sent (wrong type, a file
#'   that does not exist, an object that cannot be written as JSON).
#' * `orthanc_response_error`: the answer could not be decoded (e.g. it is not
#'   the JSON it claims to be).
#' * `orthanc_io_error`: a local file could not be read or written.
#' * `orthanc_job_error`: an Orthanc job failed (see [Job]). Fields: `job_id`,
#'   `error_code`, `details`.
#' * `orthanc_plugin_error`: the server lacks the plugin that a function needs
#'   (e.g. [write_nifti()] and the neuroimaging plugin). Field: `plugin`.
#' * `orthanc_unsupported_error`: the server is too old (or its database
#'   back-end lacks a capability) for what was asked, e.g. a sorted find on
#'   Orthanc before 1.12.5; raised before anything is sent. Fields: `feature`,
#'   `needs` (the Orthanc version it needs), `server_version`.
#' * `orthanc_server_error`: a local server (see [local_orthanc()]) did not
#'   start; `orthanc_server_not_found`, a subclass, when there is no Orthanc
#'   program to start (field `binary`).
#' * `orthanc_cancelled_error`: a request of an [OrthancAsync] client was
#'   cancelled (its `cancel_all()` method, or an interrupt of
#'   [orthanc_await()]) before it ended; its promise is rejected with it.
#' * `orthanc_missing_package_error`: a suggested package that a function
#'   needs is not installed (e.g. shiny for [orthanc_browse()], promises for
#'   [OrthancAsync]). Field: `package` (their names).
#' * `orthanc_internal_error`: a bug in the package (its Rust code panicked) or R
#'   could not make a value (e.g. out of memory); the R session goes on. Please
#'   report it.
#'
#' @name orthanc_error
#' @examples
#' # A 404 answer, without a server (see local_orthanc_mock()):
#' o <- Orthanc$new("http://orthanc.invalid:8042")
#' err <- with_orthanc_mock(
#'   list(orthanc_mock_response(404L, body = list(Message = "Unknown resource"))),
#'   tryCatch(o$get_instances_id("x"), orthanc_error = function(e) e)
#' )
#' class(err)
#' err$status
#' err$url
#' conditionMessage(err)
#' # Handlers from the most specific class to the most general:
#' tryCatch(
#'   with_orthanc_mock(list(orthanc_mock_error("timeout")), o$get_system()),
#'   orthanc_http_404 = function(e) "not there",
#'   orthanc_timeout_error = function(e) "too slow",
#'   orthanc_error = function(e) "another failure"
#' )
NULL

# The one constructor of orthanc conditions. `message` is a vector of bullets in
# cli's style ("x" = problem, "i" = hint) using a subset of cli's inline markup
# ({.arg x}, {.val x}, {.url x}, {.code x}, {.path x}, {.fn x}, {.cls x},
# {.envvar x}, {.field x}, {.obj_type_friendly x} and {expr}), interpolated in
# `.envir`. The message is formatted here, eagerly and cheaply (cli's own
# formatter costs tens of milliseconds a call, too much for code that catches
# thousands of 404s); the condition keeps no environment.
orthanc_abort <- function(kind, message, ..., call = NULL, .envir = parent.frame()) {
  stop(orthanc_condition(kind, message, ..., call = call, .envir = .envir))
}

# The condition that orthanc_abort() raises, not raised: batches return it as the
# result of a request that failed.
orthanc_condition <- function(kind, message, ..., call = NULL, .envir = parent.frame()) {
  classes <- switch(kind,
    http = c(paste0("orthanc_http_", list(...)$status), "orthanc_http_error"),
    connection = "orthanc_connection_error",
    tls = c("orthanc_tls_error", "orthanc_connection_error"),
    timeout = "orthanc_timeout_error",
    argument = "orthanc_argument_error",
    decode = "orthanc_response_error",
    io = "orthanc_io_error",
    job = "orthanc_job_error",
    plugin = "orthanc_plugin_error",
    unsupported = "orthanc_unsupported_error",
    server = "orthanc_server_error",
    server_not_found = c("orthanc_server_not_found", "orthanc_server_error"),
    missing_package = "orthanc_missing_package_error",
    internal = "orthanc_internal_error",
    cancelled = "orthanc_cancelled_error",
    character()
  )
  msg <- format_bullets(message, .envir)
  errorCondition(msg, ..., class = c(classes, "orthanc_error"), call = call)
}

format_bullets <- function(bullets, envir) {
  marks <- c(x = cli::symbol$cross, i = cli::symbol$info, v = cli::symbol$tick, "!" = "!", "*" = cli::symbol$bullet)
  nms <- names(bullets) %||% rep("", length(bullets))
  lines <- vapply(seq_along(bullets), function(i) {
    text <- interpolate(bullets[[i]], envir)
    mark <- marks[nms[i]]
    if (is.na(mark)) text else paste(mark, text)
  }, "")
  paste(lines, collapse = "\n")
}

# Replace each {...} of `text`, left to right; inserted values are not scanned
# again, so braces in them (JSON, details from the server) stay as they are.
interpolate <- function(text, envir) {
  chars <- strsplit(text, "", fixed = TRUE)[[1]]
  out <- character()
  i <- 1L
  n <- length(chars)
  while (i <= n) {
    if (chars[i] != "{") {
      j <- i
      while (j <= n && chars[j] != "{") j <- j + 1L
      out <- c(out, paste(chars[i:(j - 1L)], collapse = ""))
      i <- j
      next
    }
    depth <- 0L
    j <- i
    repeat {
      if (chars[j] == "{") depth <- depth + 1L
      if (chars[j] == "}") depth <- depth - 1L
      if (depth == 0L || j == n) break
      j <- j + 1L
    }
    inner <- if (j - 1L >= i + 1L) paste(chars[(i + 1L):(j - 1L)], collapse = "") else ""
    out <- c(out, inline(inner, envir))
    i <- j + 1L
  }
  paste(out, collapse = "")
}

inline <- function(inner, envir) {
  style <- regmatches(inner, regexpr("^\\.[a-z_]+ ", inner))
  if (!length(style)) {
    value <- eval(parse(text = inner, keep.source = FALSE), envir)
    return(paste(format_value(value), collapse = ", "))
  }
  content <- substring(inner, nchar(style) + 1L)
  style <- trimws(substring(style, 2L))
  if (style == "obj_type_friendly") {
    value <- eval(parse(text = sub("^\\{(.*)\\}$", "\\1", content), keep.source = FALSE), envir)
    return(obj_type(value))
  }
  values <- if (grepl("^\\{.*\\}$", content)) {
    format_value(eval(parse(text = substr(content, 2L, nchar(content) - 1L), keep.source = FALSE), envir))
  } else {
    content
  }
  wrapped <- switch(style,
    arg = , code = , envvar = paste0("`", values, "`"),
    fn = paste0("`", values, "()`"),
    val = paste0("\"", values, "\""),
    url = paste0("<", values, ">"),
    path = paste0("'", values, "'"),
    cls = paste0("<", values, ">"),
    values
  )
  paste(wrapped, collapse = ", ")
}

format_value <- function(x) {
  if (is.null(x)) return("NULL")
  if (is.character(x)) return(x)
  vapply(x, function(v) paste(format(v), collapse = " "), "")
}

obj_type <- function(x) {
  if (is.null(x)) return("NULL")
  if (is.function(x)) return("a function")
  if (is.environment(x)) return("an environment")
  if (is.list(x)) return(if (is.data.frame(x)) "a data frame" else "a list")
  if (is.atomic(x)) {
    type <- switch(typeof(x),
      character = "character", double = "numeric", integer = "integer",
      logical = "logical", raw = "raw", complex = "complex", typeof(x)
    )
    if (length(x) == 1L && is.na(x)) return(paste0("`NA` (", type, ")"))
    if (length(x) == 1L) return(paste0("a ", type, " value"))
    return(paste0("a ", type, " vector of length ", length(x)))
  }
  paste0("an object of type ", typeof(x))
}

http_reason <- function(status) {
  reasons <- c(
    "400" = "Bad Request", "401" = "Unauthorized", "403" = "Forbidden",
    "404" = "Not Found", "405" = "Method Not Allowed", "409" = "Conflict",
    "413" = "Payload Too Large", "415" = "Unsupported Media Type",
    "500" = "Internal Server Error", "502" = "Bad Gateway",
    "503" = "Service Unavailable", "504" = "Gateway Timeout"
  )
  r <- reasons[as.character(status)]
  if (is.na(r)) "" else unname(r)
}

# The condition for a failed transfer. `server`: what the messages call the
# server ("Orthanc", or "the DICOMweb server" for a DicomWeb client).
transport_condition <- function(res, method, call, server = "Orthanc") {
  Server <- paste0(toupper(substr(server, 1L, 1L)), substring(server, 2L))
  raise <- paste0(if (identical(server, "Orthanc")) "Orthanc" else "DicomWeb", "$new(url, timeout = 300)")
  kind <- res$error
  detail <- res$message
  url <- res$url
  switch(kind,
    connection = if (startsWith(detail, "the connection broke during the transfer")) {
      orthanc_condition("connection", c(
        "The connection to {server} broke while the answer to {method} {.url {url}} was arriving.",
        x = "{detail}",
        i = "The server may have stopped or restarted; nothing partial was kept. Try again."
      ), method = method, url = url, call = call)
    } else {
      orthanc_condition("connection", c(
        "Cannot reach {server} at {.url {url}} ({method}).",
        x = "{detail}",
        i = "Is the server running and is the URL (host and port) right?"
      ), method = method, url = url, call = call)
    },
    tls = orthanc_condition("tls", c(
      "The TLS connection to {.url {url}} failed.",
      x = "{detail}",
      i = if (grepl("mismatch", detail, ignore.case = TRUE)) {
        # OpenSSL: "... certificate verify failed ... (Hostname mismatch)".
        "The server's certificate was not made for this host name: use a URL with a name (or IP address) that the certificate lists."
      } else if (grepl("alert", detail, ignore.case = TRUE)) {
        # The server refused the handshake ("tlsv13 alert certificate required", "alert unknown ca", ...).
        "The server refused the connection: if it asks for a client certificate, give {.arg cert_file} and {.arg key_file} (signed by a CA it trusts)."
      } else {
        "Give {.arg ca_file}: a PEM file with the server's own certificate (when it is self-signed) or the certificate of the authority that signed it."
      }
    ), method = method, url = url, call = call),
    timeout = orthanc_condition("timeout", c(
      "{Server} at {.url {url}} did not answer in time ({method}).",
      x = "{detail}",
      i = "Raise the timeout: {.code {raise}}."
    ), method = method, url = url, call = call),
    decode = orthanc_condition("decode", c(
      "Cannot read {server}'s answer to {method} {.url {url}}.",
      x = "{detail}"
    ), method = method, url = url, status = res$status, text = res$text, call = call),
    io = orthanc_condition("io", c("A local file could not be used.", x = "{detail}"),
      method = method, url = url, call = call
    ),
    internal = internal_condition(res, call, method = method, url = url),
    cancelled = orthanc_condition("cancelled", c(
      "The request {method} {.url {url}} was cancelled.",
      x = "{detail}"
    ), method = method, url = url, call = call),
    orthanc_condition("argument", c(
      if (identical(method, "CONNECT")) "Cannot make the client." else "Cannot send the request.",
      x = "{detail}"
    ),
      method = method, url = url, call = call
    )
  )
}

# The condition for an error list of kind "internal" from Rust (a panic caught at
# the boundary, or an R error stopped there while Rust made an R value).
internal_condition <- function(res, call, ...) {
  detail <- res$message
  orthanc_condition("internal", c(
    "Internal error in orthanc.",
    x = "{detail}",
    i = "This is a bug (or R is short of memory): please report it, with the code that gave it, to {.code maintainer(\"orthanc\")}."
  ), ..., call = call)
}

# Re-signal a user interrupt caught while Rust was waiting for the network.
orthanc_interrupt <- function() {
  cnd <- structure(list(message = "", call = NULL), class = c("interrupt", "condition"))
  signalCondition(cnd)
  invokeRestart("abort")
}

# The condition for an HTTP error status. `ids`: whether the path holds
# identifiers or names given by the user (TRUE), none (FALSE), or is not known
# (NA, a route written by the user). `version`: the server's version if the
# client already knows it, else NULL (the hints are then worded without it:
# building a condition never sends a request).
http_condition <- function(res, method, version, call, ids = NA) {
  url <- res$url
  status <- res$status
  body <- res$body
  reason <- http_reason(status)
  this_orthanc <- if (is.null(version)) "this Orthanc" else paste0("this Orthanc (version ", version, ")")
  status_text <- trimws(paste(status, reason))
  bullets <- "Orthanc answered {status_text} to {method} {.url {url}}."
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
    "401" = "Check the user name and password, or the token (arguments of {.fn Orthanc$new} or {.envvar ORTHANC_USERNAME} / {.envvar ORTHANC_PASSWORD} / {.envvar ORTHANC_TOKEN}).",
    "403" = "This user is not allowed to do this on the server.",
    "404" = if (is.list(body) && identical(body$OrthancStatus, 17L)) {
      # Orthanc says "Unknown resource" both for a route it lacks and for some
      # unknown identifiers.
      if (isFALSE(ids)) {
        "Not a route of {this_orthanc}: it needs a newer Orthanc."
      } else {
        "Check the identifiers and names in the URL; if they are right, {this_orthanc} lacks the route and a newer Orthanc is needed."
      }
    } else {
      "Check the identifier or name in the URL: the server has no such resource."
    },
    "405" = {
      allow <- unname(res$headers["allow"])
      if (length(allow) == 1L && !is.na(allow) && nzchar(allow)) {
        "On this route, {this_orthanc} accepts only {allow}: {method} needs a newer Orthanc."
      } else {
        "On this route, {this_orthanc} does not accept {method}: it may need a newer Orthanc."
      }
    },
    "415" = "The server did not accept the type of data sent.",
    NULL
  )
  if (!is.null(hint)) bullets <- c(bullets, i = hint)
  orthanc_condition("http", bullets,
    status = status, method = method, url = url,
    error_body = if (is.list(body)) body else NULL,
    call = call
  )
}

# An orthanc_missing_package_error when some of the suggested `packages` are
# not installed; `who` (cli markup) is what needs them.
check_packages <- function(packages, who, call) {
  missing <- packages[!vapply(packages, requireNamespace, TRUE, quietly = TRUE)]
  if (length(missing)) {
    orthanc_abort("missing_package", c(
      paste(who, "needs the package{if (length(missing) > 1) 's' else ''} {.val {missing}}."),
      i = "Install {if (length(missing) > 1) 'them' else 'it'}: {.code install.packages({deparse(missing)})}."
    ), package = missing, call = call)
  }
}
