# Small checks and helpers shared by the package's files.

is_string <- function(x) is.character(x) && length(x) == 1L && !is.na(x)
is_number <- function(x) is.numeric(x) && length(x) == 1L && !is.na(x)
is_flag <- function(x) is.logical(x) && length(x) == 1L && !is.na(x)

`%||%` <- function(x, y) if (is.null(x)) y else x

env_or_null <- function(name) {
  v <- Sys.getenv(name, "")
  if (nzchar(v)) v else NULL
}

empty_object <- structure(list(), names = character())
