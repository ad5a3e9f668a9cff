# What the one request path (the private request() of `Orthanc`, R/client.R)
# is made of: every request, generated or not, is described by one value
# (request_value()), sent by send_request() to Rust (or to a mock, see
# R/mock.R); is_failure() decides whether its answer is a success, and
# answer_condition() makes the condition of a failure. The batch engine
# (R/batch.R) uses the same pieces for many requests at once.

# The one description of a request that crosses to Rust (parsed there once).
# `path`: a route (encode = FALSE) or the segments of one (encode = TRUE, each
# percent-encoded by Rust). `body`: list(kind, value) from request_body().
request_value <- function(method, path, encode, params = NULL, headers = NULL,
                          cookies = NULL, body = no_body, dest = NULL) {
  list(
    method = method, path = path, encode = encode, query = params,
    headers = headers, cookies = cookies, body_kind = body$kind,
    body = body$value, dest = dest
  )
}

no_body <- list(kind = "none", value = NULL)

# Body arguments -> list(kind, value).
request_body <- function(file, json, data, call = NULL) {
  if (is.null(file) && is.null(json) && is.null(data)) return(no_body)
  given <- c(file = !is.null(file), json = !is.null(json), data = !is.null(data))
  if (sum(given) > 1L) {
    orthanc_abort("argument", "Give only one of {.arg {names(given)[given]}}.", call = call)
  }
  if (given[["file"]]) {
    if (!is_string(file)) {
      orthanc_abort("argument", "{.arg file} must be the path of a file (a single string).", call = call)
    }
    if (!file.exists(file) || dir.exists(file)) {
      orthanc_abort("argument", "{.arg file} {.path {file}} does not exist.", call = call)
    }
    return(list(kind = "file", value = normalizePath(file)))
  }
  if (given[["json"]]) {
    return(list(kind = "json", value = json))
  }
  if (given[["data"]]) {
    if (is.raw(data)) {
      return(list(kind = "raw", value = data))
    }
    if (is_string(data)) {
      return(list(kind = "text", value = enc2utf8(data)))
    }
    orthanc_abort("argument", "{.arg data} must be a raw vector or a single string.", call = call)
  }
  no_body
}

# Turn the route given as segments (literal strings unnamed, user values named by
# their argument) into a character vector, checking and converting the user
# values: a single non-empty string, or a number (written without exponent);
# `path` (a path inside a DICOM file, e.g. "0008-1140/1/0008-1150") is split at
# its slashes, each part encoded on its own. The names stay (the arguments' names,
# "" for literal segments): the Rust side names a refused string by them.
route_segments <- function(segments, call = NULL) {
  nms <- names(segments)
  # Literal segments only (e.g. list("system")): nothing to check.
  if (is.null(nms)) return(unlist(segments, use.names = FALSE))
  # The common case, cheaply: every value a single string, none empty or NA, no `path`.
  out <- unlist(segments)
  if (is.character(out) && length(out) == length(segments) && !anyNA(out) && all(nzchar(out)) &&
      !("path" %in% nms) && all(vapply(segments, is.character, NA, USE.NAMES = FALSE))) {
    return(out)
  }
  out <- vector("list", length(segments))
  for (i in seq_along(segments)) {
    v <- segments[[i]]
    arg <- nms[i]
    if (!nzchar(arg)) {
      out[[i]] <- v
      next
    }
    parts <- if (identical(arg, "path") && is_string(v)) strsplit(v, "/", fixed = TRUE)[[1]]
    if (length(parts) > 1L) {
      parts <- parts[nzchar(parts)]
      out[[i]] <- stats::setNames(enc2utf8(parts), rep(arg, length(parts)))
    }
    ok <- (is.character(v) || is.numeric(v) && !is.object(v)) && length(v) == 1L && !is.na(v) &&
      (is.character(v) || is.finite(v)) && nzchar(v) && (is.null(parts) || any(nzchar(parts)))
    if (ok && length(parts) > 1L) next
    if (!ok) {
      orthanc_abort("argument", c(
        "{.arg {arg}} must be a single non-empty string.",
        x = "It is {.obj_type_friendly {v}}."
      ), call = call)
    }
    v <- if (is.numeric(v)) format(v, scientific = FALSE, trim = TRUE) else enc2utf8(v)
    out[[i]] <- stats::setNames(v, arg)
  }
  unlist(out)
}

# Query parameters, headers and cookies: a named list (or named atomic vector)
# whose values are NULL (left out) or strings, numbers or logical values.
check_named_list <- function(x, arg, call = NULL) {
  if (is.null(x)) return(invisible())
  ok <- (is.list(x) || is.atomic(x)) && (length(x) == 0L || (!is.null(names(x)) && all(nzchar(names(x)))))
  if (!ok) {
    orthanc_abort("argument", "{.arg {arg}} must be a named list (or NULL).", call = call)
  }
  if (is.list(x)) {
    # By position: x[[name]] would make R translate the name (an R error for one in
    # "bytes" encoding, which the Rust side refuses with its own message).
    for (i in seq_along(x)) {
      v <- x[[i]]
      if (is.null(v)) next
      what <- paste0(arg, "$", names(x)[i])
      if (!(is.character(v) || is.numeric(v) || is.logical(v)) || is.object(v) && !is.numeric(v)) {
        orthanc_abort("argument", "{.arg {what}} must be a string, number or logical value.", call = call)
      }
      if (anyNA(v) || (is.double(v) && any(is.infinite(v)))) {
        orthanc_abort("argument", "{.arg {what}} must not be NA or infinite.", call = call)
      }
    }
  } else if (!(is.character(x) || is.numeric(x) || is.logical(x))) {
    orthanc_abort("argument", "{.arg {arg}} must be a named list (or NULL).", call = call)
  }
  if (identical(arg, "cookies")) check_cookies(x, call)
  invisible()
}

# Cookies go into one `Cookie` header, "name=value; name=value": a name must be
# a token (RFC 6265: no "=", ";", space, ...) and a value must not hold ";" or
# control characters, which would split it into other cookies than the ones
# given or break the header.
check_cookies <- function(x, call = NULL) {
  nms <- names(x)
  bad <- !grepl("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", nms, useBytes = TRUE)
  if (any(bad)) {
    name <- nms[bad][1L]
    orthanc_abort("argument", c(
      "The cookie name {.val {name}} is not valid.",
      i = "A cookie name is ASCII letters, digits and {.code !#$%&'*+-.^_`|~}."
    ), call = call)
  }
  for (i in seq_along(x)) {
    v <- x[[i]]
    if (!is.character(v)) next
    bad <- grepl("[;\001-\037\177]", v, useBytes = TRUE)
    if (any(bad)) {
      what <- paste0("cookies$", nms[i])
      orthanc_abort("argument", c(
        "{.arg {what}} must not contain {.val ;} or control characters.",
        i = "Encode the value first, e.g. with {.code utils::URLencode(x, reserved = TRUE)}."
      ), call = call)
    }
  }
  invisible()
}

check_route <- function(route, call = NULL) {
  if (!is_string(route)) {
    orthanc_abort("argument", "{.arg route} must be a single string such as {.val /system}.", call = call)
  }
}

# Is an answer a failure? A failure of the transfer starts with its `error`
# string (see result_to_r() in src/rust/src/lib.rs); an HTTP answer with status
# >= 300 other than 304 (not modified) is one too.
is_failure <- function(res) {
  status <- res[[1L]]
  is.character(status) || status >= 300L && status != 304L
}

# A request that streams to `dest` and got an empty answer still gives its
# (empty) file, as promised.
empty_file <- function(dest) {
  file.create(dest)
  dest
}

# Send one request value with the client's Rust handle (an answer with error
# "stale" when the handle is gone, see the private request() of `Orthanc`);
# the answer is a list(status, url, content_type, headers, body, file) or
# list(error, message, url, ...). The mock seam: while a mock is set
# (local_orthanc_mock()), it answers instead of the server.
send_request <- function(handle, req, base_url) {
  if (!is.null(the$mock)) {
    return(mock_answer(req, base_url))
  }
  .Call(wrap__rs_perform, handle, req)
}

# Send many request values at once (at most `concurrency` in flight).
send_batch <- function(handle, reqs, base_url, concurrency, progress) {
  if (!is.null(the$mock)) {
    out <- vector("list", length(reqs))
    for (i in seq_along(reqs)) {
      out[[i]] <- mock_answer(reqs[[i]], base_url)
      if (!is.null(progress)) progress(i, length(reqs))
    }
    return(out)
  }
  rs_perform_batch(handle(), reqs, as.integer(concurrency), progress)
}

# The condition for an answer that is_failure(): a transfer error or an HTTP
# error status. `version`: the server's version when the client knows it (NULL
# otherwise: building a condition never sends a request).
answer_condition <- function(res, method, version, call, ids = NA) {
  if (!is.null(res$error)) {
    return(transport_condition(res, method, call))
  }
  http_condition(res, method, version, call, ids)
}

the <- new.env(parent = emptyenv())
