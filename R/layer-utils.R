# Small helpers shared by the resource layer (resources, find, jobs,
# modalities). Everything here talks to Orthanc through the public endpoint
# methods of the client only.

# Conditions of the layer. `orthanc_abort()` knows the transport and HTTP
# kinds; the layer adds "job" (a job that failed) and "job_timeout" (a job that
# did not finish in time), built the same way: specific classes first, then
# `orthanc_error`, the message formatted by the package's bullet formatter.
layer_abort <- function(kind, message, ..., call = NULL, .envir = parent.frame()) {
  classes <- switch(kind,
    job = "orthanc_job_error",
    job_timeout = c("orthanc_job_timeout_error", "orthanc_timeout_error"),
    NULL
  )
  if (is.null(classes)) {
    return(orthanc_abort(kind, message, ..., call = call, .envir = .envir))
  }
  msg <- format_bullets(message, .envir)
  stop(errorCondition(msg, ..., class = c(classes, "orthanc_error"), call = call))
}

check_client <- function(client, call = NULL) {
  if (!inherits(client, "Orthanc")) {
    orthanc_abort("argument", c(
      "{.arg client} must be an {.cls Orthanc} client.",
      x = "It is {.obj_type_friendly {client}}.",
      i = if (inherits(client, "OrthancAsync")) {
        "This function needs a synchronous client: {.code Orthanc$new(url)} (see {.fn OrthancAsync})."
      } else {
        "Make one with {.code Orthanc$new(url)}."
      }
    ), call = call)
  }
  invisible(client)
}

check_string_arg <- function(x, arg, call = NULL) {
  check_arg(is_string(x) && nzchar(x), x, arg, "a single non-empty string", call)
}

check_flag_arg <- function(x, arg, call = NULL) {
  check_arg(is_flag(x), x, arg, "TRUE or FALSE", call)
}

# An orthanc_argument_error unless `ok`: "`arg` must be <must>. It is <x>."
check_arg <- function(ok, x, arg, must, call = NULL) {
  if (!ok) {
    orthanc_abort("argument", c(
      "{.arg {arg}} must be {must}.",
      x = "It is {.obj_type_friendly {x}}."
    ), call = call)
  }
  invisible(x)
}

check_read_only <- function(value, field, call = NULL) {
  if (!missing(value)) {
    orthanc_abort("argument", "{.field {field}} is read-only.", call = call)
  }
}

# Read-only active bindings for an R6 class, one per argument: e.g.
# `read_only_fields(identifier = private$.id)` is a list holding the binding
# `identifier`, which answers `private$.id` and refuses assignment.
read_only_fields <- function(...) {
  exprs <- as.list(substitute(list(...)))[-1L]
  Map(read_only_binding, names(exprs), exprs)
}

# An active binding named `field` that refuses assignment and answers `expr`.
# R6 gives every binding the environment of its object, so a binding cannot
# keep variables of its own: `field` and `expr` are written into its body.
read_only_binding <- function(field, expr) {
  eval(bquote(function(value) {
    check_read_only(value, .(field))
    .(expr)
  }), baseenv())
}

# "20240101T120000" or "20240101T120000.123456" (Orthanc's ISO times, UTC) -> POSIXct.
parse_orthanc_time <- function(x) {
  if (is.null(x) || !length(x) || !is_string(x) || !nzchar(x)) {
    return(as.POSIXct(NA_real_, origin = "1970-01-01", tz = "UTC"))
  }
  whole <- sub("\\..*$", "", x)
  frac <- if (grepl("\\.", x)) as.numeric(paste0("0.", sub("^[^.]*\\.", "", x))) else 0
  t <- as.POSIXct(whole, format = "%Y%m%dT%H%M%S", tz = "UTC")
  if (is.na(frac)) frac <- 0
  t + frac
}

# DICOM DA ("YYYYMMDD") -> Date; empty or malformed -> NA.
parse_dicom_date <- function(x) {
  if (is.null(x) || !length(x)) {
    return(as.Date(NA))
  }
  x <- as.character(x)
  x[!grepl("^[0-9]{8}$", trimws(x))] <- NA
  as.Date(trimws(x), format = "%Y%m%d")
}

# Make a list (answer of Orthanc) into a character vector.
as_character_vector <- function(x) {
  if (is.null(x) || !length(x)) {
    return(character())
  }
  vapply(x, function(v) if (is.null(v)) NA_character_ else as.character(v)[1], "", USE.NAMES = FALSE)
}

# Identifiers of what the user gave: Resource objects, a resource list, or
# character IDs.
resource_ids <- function(resources, arg = "resources", call = NULL, empty_ok = FALSE) {
  if (inherits(resources, "Resource")) {
    return(resources$identifier)
  }
  if (empty_ok && (is.character(resources) || is.list(resources)) && !length(resources)) {
    return(character())
  }
  if (is.character(resources) && length(resources) && !anyNA(resources) && all(nzchar(resources))) {
    return(unname(resources))
  }
  if (is.list(resources) && length(resources) &&
    all(vapply(resources, function(r) inherits(r, "Resource") || is_string(r), TRUE))) {
    return(vapply(resources, function(r) if (is.character(r)) r else r$identifier, ""))
  }
  orthanc_abort("argument", c(
    "{.arg {arg}} must be resources ({.cls Resource} objects or a list of them) or Orthanc identifiers.",
    x = "It is {.obj_type_friendly {resources}}."
  ), call = call)
}

# Stream an answer to `path`: Orthanc's answer goes to a temporary file (the
# client's streaming path), which is moved next to `path` under a temporary name
# and renamed, so `path` never holds a partial file.
stream_to_file <- function(client, route, path, params = NULL, call = NULL) {
  if (!is_string(path) || !nzchar(path)) {
    orthanc_abort("argument", "{.arg path} must be a single string, the file to write.", call = call)
  }
  dir <- dirname(path)
  if (!dir.exists(dir)) {
    orthanc_abort("io", c(
      "Cannot write {.path {path}}.",
      x = "The directory {.path {dir}} does not exist."
    ), call = call)
  }
  if (dir.exists(path)) {
    orthanc_abort("io", c(
      "Cannot write {.path {path}}.",
      x = "It is a directory; give the path of a file."
    ), call = call)
  }
  tmp <- client$stream("GET", route, params = params)
  on.exit(unlink(tmp), add = TRUE)
  staged <- tempfile(".orthanc-download-", tmpdir = dir)
  on.exit(unlink(staged), add = TRUE)
  moved <- suppressWarnings(file.rename(tmp, staged))
  if (!moved) moved <- file.copy(tmp, staged, overwrite = TRUE)
  if (!moved || !suppressWarnings(file.rename(staged, path))) {
    orthanc_abort("io", c(
      "Cannot write {.path {path}}.",
      x = "The downloaded file could not be moved there."
    ), call = call)
  }
  invisible(path)
}

# Whether the server has a capability (see the `capabilities` field of
# Orthanc): `cap` is its name there.
has_capability <- function(client, cap) {
  isTRUE(client$capabilities[[cap]])
}

# Raise orthanc_unsupported_error, before anything is sent, when the server
# lacks `cap`: `feature` says what was asked, `needs` the Orthanc version (and
# back-end) that has it.
require_capability <- function(client, cap, feature, needs = "1.12.5", call = NULL) {
  if (has_capability(client, cap)) return(invisible(TRUE))
  version <- client$capabilities$version
  orthanc_abort("unsupported", c(
    "{feature} needs Orthanc {needs} or later, with a database back-end that supports it.",
    x = "This server is Orthanc {version}{if (!is.null(client$capabilities[[cap]])) paste0(' (', cap, ': no)') else ''}."
  ), feature = feature, needs = needs, server_version = version, call = call)
}

# A whole number >= `min` (or NULL when `null_ok`).
check_whole_arg <- function(x, arg, min = 0, null_ok = FALSE, call = NULL) {
  if (null_ok && is.null(x)) return(invisible(x))
  if (!is_number(x) || x < min || x != round(x)) {
    orthanc_abort("argument", "{.arg {arg}} must be a whole number >= {min}{if (null_ok) ' or NULL' else ''}.", call = call)
  }
  invisible(x)
}
