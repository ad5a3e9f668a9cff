# Small checks and helpers shared by the package's files.

is_string <- function(x) is.character(x) && length(x) == 1L && !is.na(x)
is_number <- function(x) is.numeric(x) && length(x) == 1L && !is.na(x)
is_flag <- function(x) is.logical(x) && length(x) == 1L && !is.na(x)
# Strings that can be read as text: not in "bytes" encoding, valid UTF-8 once
# translated (a Latin-1 string is). Checked before R functions that translate
# (and raise R's own error on such strings) and before strings reach Rust.
is_text <- function(x) {
  is.character(x) && !anyNA(x) && !any(Encoding(x) == "bytes") && all(validUTF8(enc2utf8(x)))
}

`%||%` <- function(x, y) if (is.null(x)) y else x

env_or_null <- function(name) {
  v <- Sys.getenv(name, "")
  if (nzchar(v)) v else NULL
}

empty_object <- structure(list(), names = character())

# Progress bars ----------------------------------------------------------------
# Every long operation (batches, uploads, downloads, find paging, job waits,
# frames and tags of many instances) asks here whether to show a cli progress
# bar; `progress` is the value of its `progress` argument:
# - TRUE, or a string (the bar's name): shown;
# - FALSE: not shown;
# - NULL (the default): the option orthanc.progress when it is TRUE or FALSE,
#   else shown in interactive sessions only.
# A bar that is shown follows cli's own options: it appears only once the
# operation has lasted cli.progress_show_after seconds (2 by default), is
# cleared when done unless cli.progress_clear is FALSE, and so on.
progress_wanted <- function(progress = NULL) {
  if (is.null(progress)) {
    opt <- getOption("orthanc.progress")
    return(if (is_flag(opt)) opt else interactive())
  }
  !isFALSE(progress)
}

check_progress_arg <- function(progress, call = NULL) {
  if (!is.null(progress) && !is_flag(progress) && !(is_string(progress) && nzchar(progress))) {
    orthanc_abort("argument", c(
      "{.arg progress} must be TRUE, FALSE, NULL or the name of the progress bar.",
      x = "It is {.obj_type_friendly {progress}}."
    ), call = call)
  }
  invisible(progress)
}

# The decision, as a value to pass on to a lower layer's `progress` argument
# (e.g. the batch() method): the bar's name when it is to be shown, else FALSE.
progress_as <- function(progress, name) {
  if (!progress_wanted(progress)) {
    return(FALSE)
  }
  if (is_string(progress)) progress else name
}

# A cli progress bar of `total` steps (NA: unknown) that lives as long as the
# frame `env`, or NULL when none is to be shown. `...`: more arguments of
# cli::cli_progress_bar() (e.g. `format`).
progress_bar <- function(progress, name, total = NA, ..., env = parent.frame()) {
  if (!progress_wanted(progress)) {
    return(NULL)
  }
  if (is_string(progress)) name <- progress
  cli::cli_progress_bar(name, total = total, ..., .envir = env)
}

# Move a bar made by progress_bar() (nothing for NULL).
progress_set <- function(bar, set, env = parent.frame()) {
  if (!is.null(bar)) cli::cli_progress_update(set = set, id = bar, .envir = env)
  invisible()
}

# A bar fed from Rust (`update(done, total)`, called by the batch engine), or
# a NULL `update` when none is shown; `done()` closes it.
progress_ticker <- function(progress, total, name, env = parent.frame()) {
  bar <- progress_bar(progress, name, total = total, env = env)
  if (is.null(bar)) {
    return(list(update = NULL, done = function() invisible()))
  }
  list(
    update = function(done, total) cli::cli_progress_update(set = done, id = bar, .envir = env),
    done = function() cli::cli_progress_done(id = bar, .envir = env)
  )
}

# A token for `Authorization: Bearer`: a single non-empty string of UTF-8 text.
is_token <- function(x) is_string(x) && nzchar(x) && is_text(x)
