# The options of a client, given through `...` of Orthanc$new(): defaults and
# validation.

client_option_defaults <- list(
  timeout = 60,
  retries = 2L,
  retry_methods = "GET",
  verify = TRUE,
  ca_file = NULL,
  cert_file = NULL,
  key_file = NULL,
  user_agent = NULL
)

# Validate the options given through `...`; return the complete list.
client_options <- function(..., call = NULL) {
  opts <- list(...)
  known <- names(client_option_defaults)
  if (length(opts) && (is.null(names(opts)) || any(!nzchar(names(opts))))) {
    orthanc_abort("argument", c(
      "Options in {.arg ...} must be named.",
      i = "Known options: {.arg {known}}."
    ), call = call)
  }
  unknown <- setdiff(names(opts), known)
  if (length(unknown)) {
    orthanc_abort("argument", c(
      "Unknown option: {.arg {unknown}}.",
      i = "Known options: {.arg {known}}."
    ), call = call)
  }
  out <- client_option_defaults
  out[names(opts)] <- list(NULL)
  out <- utils::modifyList(out, opts)
  if (!is_number(out$timeout) || out$timeout <= 0) {
    orthanc_abort("argument", "{.arg timeout} must be a positive number of seconds.", call = call)
  }
  if (!is_number(out$retries) || out$retries < 0) {
    orthanc_abort("argument", "{.arg retries} must be a number >= 0.", call = call)
  }
  if (!is.character(out$retry_methods) || !is_text(out$retry_methods)) {
    orthanc_abort("argument", "{.arg retry_methods} must be a character vector of HTTP methods.", call = call)
  }
  if (!is_flag(out$verify)) {
    orthanc_abort("argument", "{.arg verify} must be TRUE or FALSE.", call = call)
  }
  ua <- out$user_agent
  if (!is.null(ua) && (!is_string(ua) || !nzchar(ua) || grepl("[[:cntrl:]]", ua) || !validUTF8(ua) || grepl("[^ -~]", ua))) {
    orthanc_abort("argument", c(
      "{.arg user_agent} must be a single line of printable ASCII text.",
      i = "For example {.val my-pipeline/1.0 orthanc-r}."
    ), call = call)
  }
  for (f in c("ca_file", "cert_file", "key_file")) {
    v <- out[[f]]
    if (!is.null(v) && (!is_string(v) || !is_text(v) || !file.exists(v))) {
      orthanc_abort("argument", "{.arg {f}} must be the path of an existing file.", call = call)
    }
    if (!is.null(v)) out[[f]] <- normalizePath(v)
  }
  out
}

#' Options of orthanc
#'
#' @description
#' Options of one client are given to `Orthanc$new(url, username, password, ...)`:
#' - `timeout`: time limit of a request in seconds (default `60`); it bounds
#'   the connection and each wait for data, not a whole long download.
#' - `retries`: how many times a request of a method in `retry_methods` is
#'   retried after a connection failure, with a growing pause (default `2`).
#' - `retry_methods`: the HTTP methods that are retried (default `"GET"`;
#'   `POST` should never be, it could store twice).
#' - `verify`: whether the server's TLS certificate is verified (default
#'   `TRUE`; `FALSE` warns).
#' - `ca_file`: a PEM file of certificates to trust besides the system's: the
#'   server's own certificate when it is self-signed, or its authority's.
#' - `cert_file`, `key_file`: a client certificate and its PKCS#8 key (PEM),
#'   for servers that ask for one.
#' - `user_agent`: the `User-Agent` header of every request (default
#'   `orthanc-r/<version>`), e.g. to name your pipeline in the logs of a
#'   proxy in front of Orthanc.
#'
#' URL and credentials may come from the environment variables `ORTHANC_URL`,
#' `ORTHANC_USERNAME` and `ORTHANC_PASSWORD` (a client restored by
#' [readRDS()] or sent to another process takes the password from there
#' only).
#'
#' Session-wide R options:
#' - `orthanc.concurrency`: how many requests the batch operations
#'   (`batch()`, [upload()], the `retrieve_and_write_*()` functions, tags of
#'   many instances) keep in flight at once (default `4`).
#' - `orthanc.progress`: `TRUE` or `FALSE` to show or hide the progress bars
#'   of long operations whose `progress` argument is left at `NULL`; unset
#'   (the default), they are shown in interactive sessions only, so scripts,
#'   `Rscript`, knitr and R CMD check stay quiet.
#'
#' @section Progress bars:
#' Long operations show a [cli][cli::cli_progress_bar] progress bar: the
#' `batch()` method of [Orthanc], [upload()], the `retrieve_and_write_*()`
#' functions ([retrieve_and_write_patients()]), [write_nifti()], the paging of
#' [query_orthanc()] and the `find_*()` functions (matches received so far),
#' `Job$wait_until_completion()` (the job's percentage),
#' [as.data.frame()][as.data.frame.orthanc_resource_list] with `tags` and
#' [pixel_array()]/[series_pixel_array()] when they fetch frames one by one.
#' Each of them has a `progress` argument, decided the same way:
#' - `TRUE` (or, where accepted, a string: the bar's name): shown;
#' - `FALSE`: never shown;
#' - `NULL` (the default): `getOption("orthanc.progress")` when it is `TRUE`
#'   or `FALSE`, otherwise shown only when R is [interactive()].
#'
#' A bar that is shown follows cli's options: it appears only once the
#' operation has lasted `cli.progress_show_after` seconds (default 2), is
#' removed when done unless `cli.progress_clear` is `FALSE`, is drawn on one
#' line in a dynamic terminal (`cli.dynamic`), and so on; see
#' [cli::cli_progress_bar()] and `?cli::cli-config`.
#'
#' @name orthanc_options
#' @examples
#' o <- Orthanc$new("https://pacs.example.org", "me", "secret", timeout = 300, retries = 5)
#' old <- options(orthanc.concurrency = 8, orthanc.progress = FALSE)
#' options(old)
NULL
