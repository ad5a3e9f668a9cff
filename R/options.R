# The options of a client, given through `...` of Orthanc$new(): defaults and
# validation.

client_option_defaults <- list(
  timeout = 60,
  retries = 2L,
  retry_methods = "GET",
  verify = TRUE,
  ca_file = NULL,
  cert_file = NULL,
  key_file = NULL
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
  if (!is.character(out$retry_methods)) {
    orthanc_abort("argument", "{.arg retry_methods} must be a character vector of HTTP methods.", call = call)
  }
  if (!is_flag(out$verify)) {
    orthanc_abort("argument", "{.arg verify} must be TRUE or FALSE.", call = call)
  }
  for (f in c("ca_file", "cert_file", "key_file")) {
    v <- out[[f]]
    if (!is.null(v) && (!is_string(v) || !file.exists(v))) {
      orthanc_abort("argument", "{.arg {f}} must be the path of an existing file.", call = call)
    }
    if (!is.null(v)) out[[f]] <- normalizePath(v)
  }
  out
}
