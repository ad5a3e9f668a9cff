#' Answer requests without a server
#'
#' While a mock is set, every request of every [Orthanc] client is answered by
#' `mock` instead of the server: the request is built and checked as usual,
#' then handed to `mock`, whose answer goes through the same decoding and error
#' handling as a real one. For fast tests of code written on top of the
#' client (argument checks, error messages, logic) that need no server;
#' behaviour that depends on the server belongs to tests against a real one.
#'
#' `local_orthanc_mock()` sets the mock until the calling function (or test)
#' ends; `with_orthanc_mock()` sets it while `code` runs.
#'
#' @param mock A function of one argument, the request (a list with `method`,
#'   `url`, `path` (the route, without the query), `query`, `headers`,
#'   `body_kind`, `body` (for a JSON body, its JSON text) and `dest`),
#'   returning `orthanc_mock_response()` or
#'   `orthanc_mock_error()`; or a list of such answers, given in turn to the
#'   successive requests.
#' @param env The environment whose end removes the mock.
#' @param code Code to run with the mock set.
#' @return `local_orthanc_mock()`: the previous mock, invisibly.
#'   `with_orthanc_mock()`: the value of `code`.
#' @export
#' @examples
#' with_orthanc_mock(
#'   function(req) orthanc_mock_response(body = list(Version = "1.12.7")),
#'   Orthanc$new("http://orthanc.invalid:8042")$get_system()
#' )
#' o <- Orthanc$new("http://orthanc.invalid:8042")
#' with_orthanc_mock(
#'   list(orthanc_mock_response(404L, body = list(Message = "Unknown resource"))),
#'   tryCatch(o$get_instances_id("x"), orthanc_http_404 = conditionMessage)
#' )
local_orthanc_mock <- function(mock, env = parent.frame()) {
  if (!is.function(mock) && !is.list(mock)) {
    orthanc_abort("argument", "{.arg mock} must be a function or a list of answers.",
      call = quote(local_orthanc_mock())
    )
  }
  if (is.list(mock)) {
    answers <- mock
    i <- 0L
    mock <- function(req) {
      i <<- i + 1L
      if (i > length(answers)) {
        orthanc_abort("argument", "The mock has no answer left for request {i} ({req$method} {.url {req$url}}).")
      }
      answers[[i]]
    }
  }
  old <- the$mock
  the$mock <- mock
  # The expression runs in `env`, which need not see this package's
  # namespace (a user's function, a test run from the global environment):
  # it carries the package's state environment itself.
  restore <- substitute(assign("mock", old, envir = state), list(old = old, state = the))
  do.call(on.exit, list(restore, add = TRUE), envir = env)
  invisible(old)
}

#' @rdname local_orthanc_mock
#' @export
with_orthanc_mock <- function(mock, code) {
  local_orthanc_mock(mock)
  code
}

#' @rdname local_orthanc_mock
#' @param status HTTP status of the answer.
#' @param body The answer's body as the client returns it: an R list (as if
#'   decoded from JSON), a string (text) or a raw vector; `NULL` for none.
#' @param headers Named character vector of headers (lower-case names).
#' @export
orthanc_mock_response <- function(status = 200L, body = NULL, headers = character()) {
  structure(list(status = as.integer(status), body = body, headers = headers),
    class = "orthanc_mock_response"
  )
}

#' @rdname local_orthanc_mock
#' @param kind The kind of transfer failure: `"connection"`, `"timeout"`,
#'   `"tls"` or `"io"`.
#' @param message What went wrong, as the transport would say it.
#' @export
orthanc_mock_error <- function(kind = c("connection", "timeout", "tls", "io"),
                               message = "connection refused") {
  structure(list(error = match.arg(kind), message = message), class = "orthanc_mock_error")
}

# The answer of the mock to one request value, in the shape of rs_perform()'s.
mock_answer <- function(req, base_url) {
  # A route as the generated methods write it (a list): R converts it first, as
  # for Rust when a value is not a plain string (see the private request()).
  if (isTRUE(req$encode) && is.list(req$path)) {
    return(list(error = "route", message = "R converts the route", url = base_url))
  }
  path <- if (isTRUE(req$encode)) {
    paste0("/", paste(vapply(req$path, utils::URLencode, "", reserved = TRUE), collapse = "/"))
  } else if (startsWith(req$path, "/")) {
    req$path
  } else {
    paste0("/", req$path)
  }
  url <- paste0(base_url, path)
  query <- req$query
  full <- if (length(query)) {
    paste0(url, "?", paste(names(query), vapply(query, paste, "", collapse = ","), sep = "=", collapse = "&"))
  } else {
    url
  }
  body <- req$body
  if (identical(req$body_kind, "json")) {
    # The body is converted as for a real request: what cannot be JSON fails here.
    body <- rs_to_json(body)
    if (is.list(body)) return(c(body, url = url))
  }
  seen <- list(
    method = req$method, url = full, path = path, query = query,
    headers = req$headers, body_kind = req$body_kind, body = body, dest = req$dest
  )
  out <- the$mock(seen)
  if (inherits(out, "orthanc_mock_error")) {
    return(list(error = out$error, message = out$message, url = url))
  }
  if (!inherits(out, "orthanc_mock_response")) {
    orthanc_abort("argument", "The mock must answer {.fn orthanc_mock_response} or {.fn orthanc_mock_error}.")
  }
  file <- NULL
  body <- out$body
  if (!is.null(req$dest) && out$status < 300L) {
    if (is.character(body)) body <- charToRaw(body)
    writeBin(body %||% raw(), req$dest)
    file <- req$dest
    body <- NULL
  }
  list(
    status = out$status, url = full, content_type = "", headers = out$headers,
    body = body, file = file
  )
}
