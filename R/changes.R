#' Read Orthanc's change log
#'
#' Orthanc records each change of its content in its change log: a new
#' instance, series, study or patient, a resource that became stable (no new
#' instance for a while), a modification, a deletion, ... Each change has a
#' sequence number that only grows. `changes()` reads the log from `since`
#' (excluded) to `to` (included), page after page (`GET /changes`), and
#' returns the changes as a data frame. Its attribute `"last_seq"` is the
#' sequence number up to which the log was read: give it as `since` next time
#' to get only what is new.
#'
#' On Orthanc 1.12.5 and later with a database back-end that supports it (see
#' the `capabilities` field of [Orthanc]: `extended_changes`), `type` and
#' `to` are applied by the server. On older servers the log is read page
#' after page and filtered in R: the same answer, with more requests.
#'
#' Orthanc removes the changes of a resource from its log when the resource is
#' deleted.
#'
#' @param client An [Orthanc] client.
#' @param since Sequence number after which to read (0: from the start).
#' @param to Last sequence number to read (`NULL`: up to the end of the log).
#' @param type Change types to keep (`NULL`: all), e.g. `"NewInstance"`,
#'   `"NewStudy"`, `"StableStudy"`, `"ModifiedStudy"`, `"Deleted"`,
#'   `"UpdatedMetadata"`, `"NewLabel"`.
#' @param limit Largest number of changes to return (`NULL`: all those asked
#'   for). When the answer is cut by `limit`, `"last_seq"` is the sequence
#'   number of its last row, so that the next call goes on from there.
#' @param page_size Number of changes asked for per request.
#' @return A data frame with one row per change: `seq` (sequence number),
#'   `change_type`, `level` (`"Patient"`, `"Study"`, `"Series"` or
#'   `"Instance"`), `id` (Orthanc identifier), `path` (its route) and `date`
#'   (`POSIXct`, UTC, Orthanc's clock), with the attribute `"last_seq"`.
#' @family changes
#' @export
#' @examplesIf nzchar(Sys.getenv("ORTHANC_URL"))
#' o <- Orthanc$new()
#' log <- changes(o, type = "NewStudy", limit = 10)
#' log
#' # Later: only what is new since then
#' news <- changes(o, since = attr(log, "last_seq"), type = "NewStudy")
changes <- function(client, since = 0, to = NULL, type = NULL, limit = NULL,
                    page_size = 1000L) {
  call <- sys.call()
  check_client(client, call = call)
  check_whole_arg(since, "since", 0, call = call)
  check_whole_arg(to, "to", 0, null_ok = TRUE, call = call)
  check_whole_arg(limit, "limit", 1, null_ok = TRUE, call = call)
  check_whole_arg(page_size, "page_size", 1, call = call)
  if (!is.null(type) && (!is.character(type) || !length(type) || anyNA(type) || !all(nzchar(type)) ||
      any(grepl(";", type, fixed = TRUE)))) {
    orthanc_abort("argument", "{.arg type} must be a character vector of change types (or NULL).", call = call)
  }
  on_server <- has_capability(client, "extended_changes")
  rows <- list()
  n <- 0
  last <- since
  position <- since
  cut <- FALSE
  repeat {
    if (!is.null(to) && position >= to) {
      last <- to
      break
    }
    params <- list(since = format(position, scientific = FALSE), limit = as.integer(page_size))
    if (on_server && !is.null(to)) params$to <- format(to, scientific = FALSE)
    if (on_server && !is.null(type)) params$type <- paste(type, collapse = ";")
    page <- client$get_changes(params = params)
    got <- page$Changes
    seqs <- vapply(got, function(ch) as.numeric(ch$Seq), 0)
    keep <- rep(TRUE, length(got))
    if (!is.null(to)) keep <- keep & seqs <= to
    if (!on_server && !is.null(type)) {
      keep <- keep & vapply(got, function(ch) as.character(ch$ChangeType) %in% type, NA)
    }
    kept <- got[keep]
    if (!is.null(limit) && n + length(kept) >= limit) {
      kept <- kept[seq_len(limit - n)]
      rows <- c(rows, kept)
      n <- limit
      last <- if (length(kept)) as.numeric(kept[[length(kept)]]$Seq) else last
      cut <- TRUE
      break
    }
    rows <- c(rows, kept)
    n <- n + length(kept)
    page_last <- as.numeric(page$Last %||% if (length(seqs)) max(seqs) else position)
    if (!is.null(to) && (length(seqs) && max(seqs) >= to || page_last >= to)) {
      last <- to
      break
    }
    if (isTRUE(page$Done) || !length(got)) {
      # The end of the log: Orthanc's `Last` is its last sequence number.
      last <- max(position, page_last)
      if (!is.null(to)) last <- min(last, to)
      break
    }
    position <- page_last
  }
  changes_frame(rows, last)
}

changes_frame <- function(rows, last) {
  field <- function(name, proto) vapply(rows, function(ch) {
    v <- ch[[name]]
    if (is.null(v)) proto[NA_integer_] else if (is.numeric(proto)) as.numeric(v) else as.character(v)
  }, proto, USE.NAMES = FALSE)
  out <- data.frame(
    seq = field("Seq", 0),
    change_type = field("ChangeType", ""),
    level = field("ResourceType", ""),
    id = field("ID", ""),
    path = field("Path", ""),
    date = as.POSIXct(strptime(field("Date", ""), "%Y%m%dT%H%M%S", tz = "UTC")),
    stringsAsFactors = FALSE
  )
  attr(out, "last_seq") <- last
  out
}
