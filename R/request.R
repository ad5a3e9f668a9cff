# The one request path. Every request, generated or not, is described by one
# value (request_value()), sent by send_request() to Rust (or to a mock, see
# R/mock.R), and its answer or failure is turned into a value or a condition
# here.

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
# their argument) into a character vector, checking the user values.
route_segments <- function(segments, call = NULL) {
  nms <- names(segments)
  # Literal segments only (e.g. list("system")): nothing to check.
  if (is.null(nms)) return(unlist(segments, use.names = FALSE))
  out <- vector("list", length(segments))
  for (i in seq_along(segments)) {
    v <- segments[[i]]
    if (nzchar(nms[i])) {
      if (identical(nms[i], "path") && is_string(v)) {
        # A path inside a DICOM file (e.g. "0008-1140/1/0008-1150"): its slashes are
        # separators, each part is encoded on its own.
        v <- strsplit(v, "/", fixed = TRUE)[[1]]
        v <- v[nzchar(v)]
        if (length(v)) {
          out[[i]] <- list(enc2utf8(v))
          next
        }
      }
      ok <- (is.character(v) || is.numeric(v)) && length(v) == 1L && !is.na(v) &&
        nzchar(as.character(v))
      if (!ok) {
        arg <- nms[i]
        orthanc_abort("argument", c(
          "{.arg {arg}} must be a single non-empty string.",
          x = "It is {.obj_type_friendly {v}}."
        ), call = call)
      }
      out[[i]] <- if (is.numeric(v)) format(v, scientific = FALSE, trim = TRUE) else enc2utf8(v)
    } else {
      out[[i]] <- v
    }
  }
  unlist(out, use.names = FALSE)
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
  invisible()
}

check_route <- function(route, call = NULL) {
  if (!is_string(route)) {
    orthanc_abort("argument", "{.arg route} must be a single string such as {.val /system}.", call = call)
  }
}

# Empty answers, and what DELETE answers, are returned invisibly.
answer <- function(body, method) {
  if (is.null(body) || identical(method, "DELETE")) invisible(body) else body
}

# Send one request value with the client's Rust handle (an answer with error
# "stale" when the handle is gone, see the private failed() of `Orthanc`); the answer is a list(status, url, content_type, headers, body,
# file) or list(error, message, url, ...). The mock seam: while a mock is set
# (local_orthanc_mock()), it answers instead of the server.
send_request <- function(handle, req, base_url) {
  if (!is.null(the$mock)) {
    return(mock_answer(req, base_url))
  }
  rs_perform(handle, req)
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

# The condition for an answer that is a failure (a transfer error or an HTTP
# status >= 300 other than 304), or NULL for a success.
answer_condition <- function(res, method, version, call, ids = NA) {
  if (!is.null(res$error)) {
    return(transport_condition(res, method, call))
  }
  if (res$status >= 300L && res$status != 304L) {
    return(http_condition(res, method, version, call, ids))
  }
  NULL
}

the <- new.env(parent = emptyenv())
