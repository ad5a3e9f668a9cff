#' Describe a request for a batch
#'
#' `orthanc_request()` describes one request without sending it; a list of them
#' is sent by the `batch()` method of an [Orthanc] client, which performs them
#' concurrently on the client's connections (at most `concurrency` at once,
#' default `getOption("orthanc.concurrency", 4)`), with the same retries,
#' timeouts, interrupt handling and streaming to disk as single requests.
#'
#' @param method HTTP method: `"GET"`, `"POST"`, `"PUT"` or `"DELETE"`.
#' @param route The route, such as `"/instances/<id>/tags"` (sent as it is),
#'   or a character vector of segments, such as `c("instances", id, "tags")`
#'   (each segment percent-encoded).
#' @param params Named list of query parameters, or `NULL`.
#' @param headers Named list of headers, or `NULL`.
#' @param json,data,file The body, as for the `POST()` method: an R object
#'   sent as JSON, a raw vector or string sent as it is, or the path of a file
#'   streamed from disk. At most one.
#' @param dest `NULL`, or the path of a file where a successful answer's body
#'   is written as it arrives (through a temporary name in the same folder,
#'   renamed when complete: an interrupted or failed transfer leaves no file).
#' @param parts_dir `NULL`, or an existing folder where the parts of a
#'   successful `multipart/related` answer (DICOMweb's WADO-RS) are written
#'   as they arrive, each through a temporary name renamed when the part is
#'   complete: `part-000001.dcm`, `part-000002.dcm`, ... (`.dcm` for
#'   `application/dicom` parts, `.json` for JSON ones, `.bin` otherwise; an
#'   answer that is not multipart is one part). The result is then
#'   `list(files, part_types)`. An answer cut in the middle of a part is an
#'   error and leaves no file for that part. Use one folder per request: the
#'   names restart at `part-000001` for each.
#' @param parts `TRUE` to split a successful multipart answer into its parts
#'   in memory (small answers: frames, bulk data): the result is then
#'   `list(parts, part_types)`, `parts` a list of raw vectors.
#' @param multipart `NULL`, or the paths of files sent as one
#'   `multipart/related` body (DICOMweb's STOW-RS), one part per file, streamed
#'   from disk with a known length (instead of `json`, `data` or `file`).
#' @param part_type The Content-Type of each part of a `multipart` body.
#' @return An object of class `orthanc_request`.
#' @seealso The `batch()` method of [Orthanc].
#' @export
#' @examplesIf nzchar(Sys.getenv("ORTHANC_URL"))
#' o <- Orthanc$new()
#' # Sample files of the package: two MR slices (Brainix) and a CT image
#' stored <- upload(o, system.file("extdata", package = "orthanc"), check_before_upload = TRUE)
#' reqs <- lapply(stored$id, function(id) {
#'   orthanc_request("GET", c("instances", id, "simplified-tags"))
#' })
#' reqs[[1]]
#' tags <- o$batch(reqs)
#' vapply(tags, function(t) t$SOPInstanceUID, "")
#' # Delete what this example stored (not what the server already had)
#' for (id in stored$id[stored$status == "Success"]) o$delete_instances_id(id)
orthanc_request <- function(method = "GET", route, params = NULL, headers = NULL,
                            json = NULL, data = NULL, file = NULL, dest = NULL,
                            parts_dir = NULL, parts = FALSE, multipart = NULL,
                            part_type = "application/dicom") {
  call <- quote(orthanc_request())
  if (!is_string(method) || !toupper(method) %in% c("GET", "POST", "PUT", "DELETE")) {
    orthanc_abort("argument", "{.arg method} must be one of GET, POST, PUT or DELETE.", call = call)
  }
  method <- toupper(method)
  segments <- length(route) != 1L
  if (!is.character(route) || !length(route) || anyNA(route)) {
    orthanc_abort("argument", "{.arg route} must be a route or a character vector of segments.", call = call)
  }
  check_named_list(params, "params", call)
  check_named_list(headers, "headers", call)
  if (!is.null(dest) && !is_string(dest)) {
    orthanc_abort("argument", "{.arg dest} must be NULL or the path of a file.", call = call)
  }
  if (!is.null(dest) && !dir.exists(dirname(dest))) {
    orthanc_abort("argument", "The folder of {.arg dest} {.path {dirname(dest)}} does not exist.", call = call)
  }
  if (!is.null(parts_dir) && !(is_string(parts_dir) && dir.exists(parts_dir))) {
    orthanc_abort("argument", "{.arg parts_dir} must be NULL or the path of an existing folder.", call = call)
  }
  if (!is.logical(parts) || length(parts) != 1L || is.na(parts)) {
    orthanc_abort("argument", "{.arg parts} must be TRUE or FALSE.", call = call)
  }
  if (!is.null(multipart)) {
    if (!is.null(file) || !is.null(json) || !is.null(data)) {
      orthanc_abort("argument", "Give only one of {.arg multipart}, {.arg file}, {.arg json} and {.arg data}.", call = call)
    }
    body <- multipart_body(multipart, part_type, call)
  } else {
    body <- request_body(file, json, data, call)
  }
  req <- request_value(method, enc2utf8(route), segments, params, headers, NULL, body,
    dest = if (!is.null(dest)) normalizePath(dest, mustWork = FALSE),
    parts_dir = if (!is.null(parts_dir)) normalizePath(parts_dir), parts = parts
  )
  structure(req, class = "orthanc_request")
}

#' @export
print.orthanc_request <- function(x, ...) {
  route <- if (isTRUE(x$encode)) paste0("/", paste(x$path, collapse = "/")) else x$path
  cli::cat_line("<orthanc_request> ", x$method, " ", route,
    if (!identical(x$body_kind, "none")) paste0(" (", x$body_kind, " body)"),
    if (!is.null(x$dest)) paste0(" -> ", x$dest),
    if (!is.null(x$parts_dir)) paste0(" -> parts in ", x$parts_dir),
    if (isTRUE(x$parts)) " -> parts"
  )
  invisible(x)
}

# Perform a list of orthanc_request values; one result per request: the
# answer's body (or the file written, for a request with `dest`; the parts,
# as split_answer() gives them, for one with `parts_dir` or `parts`), or the
# orthanc_error condition of its failure (not raised). A user interrupt stops
# the whole batch.
run_batch <- function(handle, base_url, requests, concurrency, progress, version, call,
                      describe = NULL) {
  # The client's own wording of failures (the DICOMweb client's), if it has one.
  describe <- describe %||% answer_condition
  reqs <- batch_requests(requests, concurrency, progress, call)
  n <- length(reqs)
  if (n == 0L) return(list())
  concurrency <- concurrency %||% getOption("orthanc.concurrency", 4L)
  tick <- progress_ticker(progress, n, "Requests")
  res <- send_batch(handle, reqs, base_url, concurrency, tick$update)
  tick$done()
  if (!is.null(res$error)) {
    # The whole batch failed (an interrupt, or a client that cannot be used).
    if (identical(res$error, "interrupt")) orthanc_interrupt()
    stop(transport_condition(res, "BATCH", call))
  }
  lapply(seq_len(n), function(i) batch_value(res[[i]], reqs[[i]], version, call, describe))
}

# The request values of a batch, checked (also by OrthancAsync's batch()).
batch_requests <- function(requests, concurrency, progress, call) {
  if (inherits(requests, "orthanc_request")) requests <- list(requests)
  if (!is.list(requests) || !all(vapply(requests, inherits, TRUE, "orthanc_request"))) {
    orthanc_abort("argument", "{.arg requests} must be a list of {.fn orthanc_request} values.", call = call)
  }
  concurrency <- concurrency %||% getOption("orthanc.concurrency", 4L)
  if (!is_number(concurrency) || concurrency < 1) {
    orthanc_abort("argument", "{.arg concurrency} must be a number >= 1.", call = call)
  }
  check_progress_arg(progress, call)
  lapply(requests, unclass)
}

# The result of one request of a batch: its value (the body, the file written
# or the parts), or the condition of its failure (not raised).
batch_value <- function(r, req, version, call, describe) {
  if (is_failure(r)) return(describe(r, req$method, version, call))
  if (!is.null(r$part_types)) split_answer(r) else if (!is.null(r$file)) r$file else r$body
}
