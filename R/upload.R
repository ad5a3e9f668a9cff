#' Upload DICOM files, folders and ZIP archives
#'
#' Sends every DICOM file found in `path` to Orthanc (`POST /instances`),
#' several at once, and reports what happened to each file.
#'
#' `path` may name files, ZIP archives and folders (their files are uploaded,
#' except hidden ones, whose names start with a dot; with `recursive = TRUE`
#' also those of their sub-folders). Each file is looked
#' at before it is sent:
#'
#' * a DICOM file (`"DICM"` at byte 128) is sent as it is;
#' * a ZIP archive is sent as it is: Orthanc stores the DICOM files inside it
#'   (ignoring the others) and answers for each, so the report has **one row
#'   per instance of the archive**, all with the archive's `path` (one row,
#'   `"Skipped"`, when the archive holds no DICOM file; one row, `"Failed"`,
#'   when Orthanc rejects it);
#' * any other file is not sent: its row says `"Skipped"` and why.
#'
#' With `check_before_upload = TRUE`, the identifiers of the DICOM files are
#' computed locally (Orthanc's identifier of an instance is the SHA-1 of
#' `PatientID|StudyInstanceUID|SeriesInstanceUID|SOPInstanceUID`, read here
#' from the files' headers, never their pixel data), the server is asked which
#' of them it already has (one `POST /tools/find` per 1000 files), and those are
#' not sent (`"AlreadyStored"`). ZIP archives, and files whose identifying tags
#' cannot be read, are always sent; so are instances beyond a limit the server
#' may put on the answers of a find (`LimitFindInstances`), for which Orthanc
#' then answers itself. Without the check every file is sent and
#' Orthanc itself answers `"AlreadyStored"` for an instance it has (unless it
#' is configured with `OverwriteInstances`, when it stores it again and answers
#' `"Success"`).
#'
#' A file that Orthanc rejects (e.g. a corrupt DICOM file) is `"Failed"`, with
#' Orthanc's message; the other files are uploaded all the same.
#'
#' @param client An [Orthanc] client, or an [OrthancAsync] client: `upload()`
#'   then answers at once a [promise][promises::promise] of the report (the
#'   files are sent in the background, at most `orthanc.async_max` at once;
#'   no progress bar).
#' @param path Character vector of paths of files, ZIP archives or folders.
#' @param recursive When `path` has folders, also upload the files of their
#'   sub-folders.
#' @param check_before_upload Skip the DICOM files whose instance Orthanc
#'   already stores, without sending them (see Details).
#' @param concurrency How many files to send at once; default
#'   `getOption("orthanc.concurrency", 4)`.
#' @param progress Show a progress bar: `TRUE`, `FALSE`, or `NULL` (the
#'   default: the option `orthanc.progress`, else only in interactive
#'   sessions); see [orthanc_options].
#' @return A data frame of class `orthanc_upload_report`, one row per file
#'   (one per instance for a ZIP archive), in the order of `path`, with columns
#'   * `path`: the file;
#'   * `status`: `"Success"` (stored), `"AlreadyStored"` (already on the
#'     server: not sent, or sent and found there), `"Skipped"` (not sent: not
#'     DICOM, or an empty archive) or `"Failed"` (rejected, or not sent because
#'     of a transfer error);
#'   * `id`, `parent_patient`, `parent_study`, `parent_series`: Orthanc's
#'     identifiers of the instance and of its parents (`NA` when unknown);
#'   * `message`: why a file was skipped or failed (`NA` otherwise).
#'
#'   Printing it summarises the counts by status and lists the first failed
#'   and skipped files; `as.data.frame()` gives the plain data frame.
#' @export
#' @examplesIf nzchar(Sys.getenv("ORTHANC_URL"))
#' o <- Orthanc$new()
#' folder <- system.file("extdata", package = "orthanc")
#' # Files the server already has are not sent:
#' report <- upload(o, folder, recursive = TRUE, check_before_upload = TRUE)
#' report
#' as.data.frame(report)[, c("path", "status", "id")]
#' # A second time, nothing is sent:
#' upload(o, folder, recursive = TRUE, check_before_upload = TRUE)
#' # Delete what this example stored (not what the server already had)
#' for (id in report$id[report$status == "Success"]) o$delete_instances_id(id)
upload <- function(client, path, recursive = FALSE, check_before_upload = FALSE,
                   concurrency = NULL, progress = NULL) {
  call <- quote(upload())
  async <- inherits(client, "OrthancAsync")
  if (!inherits(client, "Orthanc") && !async) {
    orthanc_abort("argument", "{.arg client} must be an {.cls Orthanc} or {.cls OrthancAsync} client, not {.obj_type_friendly {client}}.",
      call = call
    )
  }
  if (!is.character(path) || !length(path) || anyNA(path) || !all(nzchar(path))) {
    orthanc_abort("argument", "{.arg path} must be a character vector of paths of files or folders.", call = call)
  }
  if (!is_flag(recursive)) {
    orthanc_abort("argument", "{.arg recursive} must be TRUE or FALSE.", call = call)
  }
  if (!is_flag(check_before_upload)) {
    orthanc_abort("argument", "{.arg check_before_upload} must be TRUE or FALSE.", call = call)
  }
  if (!is.null(concurrency) && (!is_number(concurrency) || concurrency < 1)) {
    orthanc_abort("argument", "{.arg concurrency} must be NULL or a number >= 1.", call = call)
  }
  check_progress_arg(progress, call)

  files <- upload_files(path, recursive, call)
  kind <- vapply(files, file_kind, "", USE.NAMES = FALSE)
  n <- length(files)
  rows <- lapply(seq_len(n), function(i) NULL)

  # Files that are not sent: not DICOM, not ZIP.
  for (i in which(!kind %in% c("dicom", "zip"))) {
    rows[[i]] <- upload_row(files[i], "Skipped", message = kind[i])
  }

  if (async) return(upload_async(client, files, kind, rows, check_before_upload, concurrency))

  # Instances the server already has, found by their locally computed ids.
  if (check_before_upload && any(kind == "dicom")) {
    dicom <- which(kind == "dicom")
    ids <- local_instance_ids(files[dicom])
    stored <- stored_instances(client, ids)
    rows <- already_stored_rows(rows, files, dicom, ids, stored)
  }

  # Everything else is sent, concurrently.
  send <- which(vapply(rows, is.null, TRUE))
  if (length(send)) {
    answers <- client$batch(upload_requests(files[send]), concurrency = concurrency,
      progress = progress_as(progress, "Uploading")
    )
    rows <- sent_rows(rows, files, kind, send, answers)
  }
  upload_report(rows)
}

# upload() with an OrthancAsync client: the same steps, each request a
# promise; a promise of the same report.
upload_async <- function(client, files, kind, rows, check_before_upload, concurrency) {
  dicom <- which(kind == "dicom")
  stored <- if (check_before_upload && length(dicom)) {
    ids <- local_instance_ids(files[dicom])
    finds <- lapply(stored_queries(ids), function(q) client$post_tools_find(json = q))
    promises::then(promises::promise_all(.list = finds), function(found) {
      already_stored_rows(rows, files, dicom, ids, stored_match(ids, unlist(found)))
    })
  } else {
    promises::promise_resolve(rows)
  }
  promises::then(stored, function(rows) {
    send <- which(vapply(rows, is.null, TRUE))
    if (!length(send)) return(upload_report(rows))
    promises::then(client$batch(upload_requests(files[send]), concurrency = concurrency), function(answers) {
      upload_report(sent_rows(rows, files, kind, send, answers))
    })
  })
}

upload_requests <- function(files) {
  lapply(files, function(f) orthanc_request("POST", "/instances", file = f))
}

# The rows of the DICOM files (positions `dicom`) that the server has.
already_stored_rows <- function(rows, files, dicom, ids, stored) {
  for (j in which(stored)) {
    rows[[dicom[j]]] <- upload_row(files[dicom[j]], "AlreadyStored",
      id = ids$instance[j], patient = ids$patient[j], study = ids$study[j],
      series = ids$series[j]
    )
  }
  rows
}

# The rows of the files sent (positions `send`), from the batch's answers.
sent_rows <- function(rows, files, kind, send, answers) {
  for (k in seq_along(send)) {
    i <- send[k]
    rows[[i]] <- answer_rows(files[i], kind[i], answers[[k]])
  }
  rows
}

upload_report <- function(rows) {
  report <- bind_rows_of(rows)
  class(report) <- c("orthanc_upload_report", "data.frame")
  report
}

# The files named by `path`: files as they are, the files of folders (of
# their sub-folders too when `recursive`), each once, in order.
upload_files <- function(path, recursive, call) {
  missing <- path[!file.exists(path)]
  if (length(missing)) {
    shown <- utils::head(missing, 3L)
    more <- if (length(missing) > 3L) paste0(" (and ", length(missing) - 3L, " more)") else ""
    orthanc_abort("argument", c(
      "{.arg path} must name existing files or folders.",
      x = "Not found: {.path {shown}}{more}."
    ), call = call)
  }
  files <- unlist(lapply(path, function(p) {
    if (!dir.exists(p)) return(p)
    list.files(p, recursive = recursive, full.names = TRUE, no.. = TRUE)
  }), use.names = FALSE)
  # Sub-folders listed when not recursive are not files.
  files <- files[!dir.exists(files)]
  if (!length(files)) {
    orthanc_abort("argument", c(
      "There is no file to upload in {.arg path}.",
      i = if (!recursive && any(dir.exists(path))) "Use {.code recursive = TRUE} to upload the files of sub-folders."
    ), call = call)
  }
  files[!duplicated(normalizePath(files))]
}

# "dicom", "zip", or why the file is not sent.
file_kind <- function(file) {
  head <- tryCatch(
    {
      con <- file(file, "rb")
      on.exit(close(con))
      readBin(con, "raw", 132L)
    },
    error = function(e) NULL
  )
  if (is.null(head)) return("cannot read the file")
  if (length(head) == 132L && identical(head[129:132], charToRaw("DICM"))) return("dicom")
  if (length(head) >= 4L && identical(head[1:4], as.raw(c(0x50, 0x4b, 0x03, 0x04)))) return("zip")
  if (!length(head)) return("empty file")
  "not a DICOM file (no \"DICM\" at byte 128) nor a ZIP archive"
}

# Rows of the report are lists of columns (a data frame is made once, at the
# end, by bind_rows_of(): one data.frame() and rbind() per file cost more than
# the upload of a small file).
upload_row <- function(path, status, id = NA_character_, patient = NA_character_,
                       study = NA_character_, series = NA_character_, message = NA_character_) {
  list(
    path = path, status = status, id = id, parent_patient = patient,
    parent_study = study, parent_series = series, message = message
  )
}

# Rows (lists of columns of equal length, as upload_row()'s) -> one data frame
# of character columns.
bind_rows_of <- function(rows) {
  cols <- names(rows[[1L]])
  out <- lapply(cols, function(col) {
    as.character(unlist(lapply(rows, .subset2, col), use.names = FALSE))
  })
  names(out) <- cols
  structure(out, class = "data.frame", row.names = .set_row_names(length(out[[1L]])))
}

# Orthanc's ids of local DICOM files (NA where the tags cannot be read).
local_instance_ids <- function(files) {
  res <- rs_dicom_ids(enc2utf8(normalizePath(files)))
  if (!is.null(res$error)) {
    if (identical(res$error, "interrupt")) orthanc_interrupt()
    if (identical(res$error, "internal")) stop(internal_condition(res, call = NULL))
    orthanc_abort("io", "Cannot read the files: {res$message}")
  }
  res
}

# Which of these instances the server has: one /tools/find by SOPInstanceUID
# per 1000 files, whose answer (Orthanc ids) is matched with the local ids.
stored_instances <- function(client, ids, chunk = 1000L) {
  found <- lapply(stored_queries(ids, chunk), function(q) client$post_tools_find(json = q))
  stored_match(ids, unlist(found))
}

# The /tools/find queries of stored_instances(): one per `chunk` instances.
stored_queries <- function(ids, chunk = 1000L) {
  known <- !is.na(ids$instance)
  uids <- unique(ids$sop_instance_uid[known])
  lapply(split(uids, ceiling(seq_along(uids) / chunk)), function(part) {
    list(
      Level = "Instance", Expand = FALSE,
      Query = list(SOPInstanceUID = paste(part, collapse = "\\"))
    )
  })
}

# Which of the local instances are among the Orthanc ids `found`.
stored_match <- function(ids, found) {
  !is.na(ids$instance) & ids$instance %in% found
}

# The rows of one answer of POST /instances: one for a DICOM file, one per
# instance for a ZIP archive.
answer_rows <- function(path, kind, answer) {
  if (inherits(answer, "orthanc_error")) {
    return(upload_row(path, "Failed", message = error_text(answer)))
  }
  if (kind == "zip" && is.list(answer) && is.null(names(answer))) {
    if (!length(answer)) {
      return(upload_row(path, "Skipped", message = "the ZIP archive holds no DICOM file"))
    }
    return(bind_rows_of(lapply(answer, function(a) instance_row(path, a))))
  }
  instance_row(path, answer)
}

instance_row <- function(path, a) {
  if (!is.list(a) || is.null(a$ID)) {
    return(upload_row(path, "Failed", message = "Orthanc's answer names no instance"))
  }
  status <- a$Status %||% "Success"
  message <- NA_character_
  if (!status %in% c("Success", "AlreadyStored")) {
    # "FilteredOut": refused by a filter of the server (Lua or plugin).
    message <- paste0("Orthanc answered ", status)
    status <- if (identical(status, "FilteredOut")) "Skipped" else "Failed"
  }
  upload_row(path, status,
    id = a$ID, patient = a$ParentPatient %||% NA_character_,
    study = a$ParentStudy %||% NA_character_, series = a$ParentSeries %||% NA_character_,
    message = message
  )
}

# One line for a failed request: Orthanc's message and details, or the
# condition's message.
error_text <- function(cnd) {
  body <- cnd$error_body
  if (is.list(body) && !is.null(body$Message)) {
    text <- body$Message
    if (!is.null(body$Details)) text <- paste0(text, ": ", body$Details)
    return(paste0(text, " (HTTP ", cnd$status, ")"))
  }
  paste(trimws(strsplit(conditionMessage(cnd), "\n", fixed = TRUE)[[1]]), collapse = " ")
}

#' @export
print.orthanc_upload_report <- function(x, ..., n = 5L) {
  statuses <- c("Success", "AlreadyStored", "Skipped", "Failed")
  counts <- table(factor(x$status, levels = statuses))
  counts <- counts[counts > 0]
  files <- length(unique(x$path))
  cli::cat_line(
    "<", class(x)[1L], "> ",
    if (nrow(x) != files) paste0(nrow(x), " rows from "),
    files, " file", if (files != 1L) "s",
    if (length(counts)) paste0(": ", paste(counts, names(counts), collapse = ", "))
  )
  for (s in c("Failed", "Skipped")) {
    rows <- which(x$status == s)
    if (!length(rows)) next
    cli::cat_line(s, ":")
    for (i in utils::head(rows, n)) cli::cat_line("  ", x$path[i], ": ", x$message[i])
    if (length(rows) > n) cli::cat_line("  ... and ", length(rows) - n, " more")
  }
  cli::cat_line("Use as.data.frame() to see every row.")
  invisible(x)
}
