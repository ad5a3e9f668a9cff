#' Find resources stored in Orthanc
#'
#' Query Orthanc's database (`POST /tools/find`) for the patients, studies,
#' series or instances whose DICOM tags match `query` and that carry `labels`.
#' The answers are expanded, so the resources returned are filled with their
#' main information: building them costs no request.
#'
#' `query_orthanc()` asks for `limit` resources at a time, from position
#' `since` of Orthanc's list of matches, and with `retrieve_all_resources =
#' TRUE` goes on page after page (`Since` moving by the number of answers
#' received) until Orthanc answers an empty page: every match is returned once
#' (answers are also deduplicated by identifier), whatever `limit` is and even
#' when the server caps the number of answers (its `LimitFindResults`
#' option). Orthanc (1.12.5 and later) lists matches in the order they were
#' stored; resources deleted while the pages are read can shift the positions
#' and make a match be missed, as with any paging by position.
#'
#' @param client An [Orthanc] client.
#' @param level `"Patient"`, `"Study"`, `"Series"` or `"Instance"`.
#' @param query Named list of DICOM tags and the values they must match, e.g.
#'   `list(PatientName = "DOE*", StudyDate = "20200101-20201231")` (wildcards
#'   `*` and `?`, date ranges; the syntax of a DICOM C-FIND). Tags of upper
#'   levels can be used (e.g. `PatientID` for studies).
#' @param labels Labels the resources must carry (character; `NULL` or
#'   empty for none).
#' @param labels_constraint `"All"` (every label), `"Any"` (at least one) or
#'   `"None"` (none of them).
#' @param limit Number of resources asked for per request.
#' @param since Position of the first match to return (0 for the first).
#' @param retrieve_all_resources Whether to read every page (`TRUE`) or only
#'   the first `limit` matches from `since` (`FALSE`).
#' @param lock_children Whether the resources keep their children once listed
#'   (see [Resource]).
#' @param progress Show a progress bar (the number of matches received, page
#'   after page): `TRUE`, `FALSE`, or `NULL` (the default: the option
#'   `orthanc.progress`, else only in interactive sessions); see
#'   [orthanc_options].
#' @param ... Arguments passed on to `query_orthanc()` (`limit`, `since`,
#'   `retrieve_all_resources`, `lock_children`, `progress`).
#' @return An `orthanc_resource_list` of [Patient], [Study], [Series] or
#'   [Instance] objects (see [as.data.frame.orthanc_resource_list()]).
#' @family find
#' @export
#' @examplesIf nzchar(Sys.getenv("ORTHANC_URL"))
#' o <- Orthanc$new()
#' # Sample files of the package: two MR slices (Brainix) and a CT image
#' stored <- upload(o, system.file("extdata", package = "orthanc"), check_before_upload = TRUE)
#' find_studies(o, query = list(StudyDate = "20000101-"))
#' find_patients(o, query = list(PatientName = "BRAIN*"), limit = 100)
#' as.data.frame(find_series(o, query = list(Modality = "MR")))
#' query_orthanc(o, "Instance", query = list(PatientName = "BRAINIX"))
#' # Delete what this example stored (not what the server already had)
#' for (id in stored$id[stored$status == "Success"]) o$delete_instances_id(id)
query_orthanc <- function(client, level, query = list(), labels = character(),
                          labels_constraint = "All", limit = 1000L, since = 0L,
                          retrieve_all_resources = TRUE, lock_children = FALSE,
                          progress = NULL) {
  call <- sys.call()
  check_client(client, call = call)
  level <- match_level(level, call = call)
  body <- find_body(level, query, labels, labels_constraint, call)
  if (!is_number(limit) || limit < 1 || limit != round(limit)) {
    orthanc_abort("argument", "{.arg limit} must be a whole number >= 1.", call = call)
  }
  if (!is_number(since) || since < 0 || since != round(since)) {
    orthanc_abort("argument", "{.arg since} must be a whole number >= 0.", call = call)
  }
  check_flag_arg(retrieve_all_resources, "retrieve_all_resources", call = call)
  check_flag_arg(lock_children, "lock_children", call = call)
  check_progress_arg(progress, call)
  body$Expand <- TRUE
  body$Limit <- as.integer(limit)
  found <- list()
  seen <- character()
  position <- as.integer(since)
  bar <- progress_bar(progress, paste("Finding", level_prefix(level)),
    format = "{cli::pb_spin} {cli::pb_name}| {cli::pb_current} found [{cli::pb_elapsed}]"
  )
  repeat {
    body$Since <- position
    page <- client$post_tools_find(json = body)
    ids <- vapply(page, function(r) as.character(r$ID), "")
    fresh <- !duplicated(ids) & !ids %in% seen
    found <- c(found, page[fresh])
    seen <- c(seen, ids[fresh])
    progress_set(bar, length(found))
    if (!retrieve_all_resources || !length(page)) break
    position <- position + length(page)
  }
  resources_from_answer(level, found, client, lock_children)
}

find_body <- function(level, query, labels, labels_constraint, call) {
  if (is.null(query)) query <- list()
  query_ok <- (is.list(query) || is.character(query)) &&
    (!length(query) || (!is.null(names(query)) && all(nzchar(names(query))))) &&
    all(vapply(query, function(v) is_string(v), TRUE))
  if (!query_ok) {
    orthanc_abort("argument", c(
      "{.arg query} must be a named list of strings, e.g. {.code list(PatientID = \"123*\")}.",
      x = "It is {.obj_type_friendly {query}}."
    ), call = call)
  }
  if (is.null(labels)) labels <- character()
  if (!is.character(labels) || anyNA(labels) || !all(nzchar(labels))) {
    orthanc_abort("argument", "{.arg labels} must be a character vector of labels.", call = call)
  }
  constraints <- c("All", "Any", "None")
  if (!is_string(labels_constraint) || !labels_constraint %in% constraints) {
    orthanc_abort("argument", c(
      "{.arg labels_constraint} must be one of {.val {constraints}}.",
      x = "It is {.val {format(labels_constraint)}}."
    ), call = call)
  }
  body <- list(
    Level = level,
    Query = if (length(query)) as.list(query) else empty_object
  )
  if (length(labels)) {
    body$Labels <- I(unname(labels))
    body$LabelsConstraint <- labels_constraint
  }
  body
}

#' @rdname query_orthanc
#' @export
find_patients <- function(client, query = list(), labels = character(),
                          labels_constraint = "All", ...) {
  query_orthanc(client, "Patient", query = query, labels = labels,
    labels_constraint = labels_constraint, ...
  )
}

#' @rdname query_orthanc
#' @export
find_studies <- function(client, query = list(), labels = character(),
                         labels_constraint = "All", ...) {
  query_orthanc(client, "Study", query = query, labels = labels,
    labels_constraint = labels_constraint, ...
  )
}

#' @rdname query_orthanc
#' @export
find_series <- function(client, query = list(), labels = character(),
                        labels_constraint = "All", ...) {
  query_orthanc(client, "Series", query = query, labels = labels,
    labels_constraint = labels_constraint, ...
  )
}

#' @rdname query_orthanc
#' @export
find_instances <- function(client, query = list(), labels = character(),
                           labels_constraint = "All", ...) {
  query_orthanc(client, "Instance", query = query, labels = labels,
    labels_constraint = labels_constraint, ...
  )
}

#' Find patients, keeping the branches that pass filters
#'
#' Build the tree patients > studies > series > instances down to the deepest
#' level that has a filter, keep the resources for which their level's filter
#' returns `TRUE`, and prune: a series is kept only if one of its instances
#' passes (when there is an instance filter), a study only if one of its series
#' passes, a patient only if one of its studies passes. The patients returned
#' have locked children holding only what passed (`$studies`, then
#' `$series`, ...).
#'
#' Each level is read with one find ([query_orthanc()], paged), not one
#' request per resource; the filters get resources filled from those answers,
#' so a filter that reads main DICOM tags costs no request.
#'
#' @param client An [Orthanc] client.
#' @param patient_filter,study_filter,series_filter,instance_filter `NULL`
#'   (keep all) or a function of a [Patient], [Study], [Series] or [Instance]
#'   returning `TRUE` (keep) or `FALSE`.
#' @param ... Arguments passed on to [query_orthanc()] for the patients
#'   (`query`, `labels`, `labels_constraint`, `limit`, `progress`); `query`
#'   (and `limit`, `progress`) also apply to the lower levels, since Orthanc
#'   matches patient tags there too.
#' @return An `orthanc_resource_list` of [Patient].
#' @family find
#' @export
#' @examplesIf nzchar(Sys.getenv("ORTHANC_URL"))
#' o <- Orthanc$new()
#' # Sample files of the package: two MR slices (Brainix) and a CT image
#' stored <- upload(o, system.file("extdata", package = "orthanc"), check_before_upload = TRUE)
#' mr_patients <- find_and_filter_patients(o,
#'   series_filter = function(s) identical(s$modality, "MR")
#' )
#' mr_patients
#' mr_patients[[1]]$studies
#' # Delete what this example stored (not what the server already had)
#' for (id in stored$id[stored$status == "Success"]) o$delete_instances_id(id)
find_and_filter_patients <- function(client, patient_filter = NULL, study_filter = NULL,
                                     series_filter = NULL, instance_filter = NULL, ...) {
  call <- sys.call()
  check_client(client, call = call)
  filters <- list(
    Patient = patient_filter, Study = study_filter,
    Series = series_filter, Instance = instance_filter
  )
  for (nm in names(filters)) {
    f <- filters[[nm]]
    if (!is.null(f) && !is.function(f)) {
      arg <- paste0(tolower(nm), "_filter")
      orthanc_abort("argument", c(
        "{.arg {arg}} must be a function returning TRUE or FALSE, or NULL.",
        x = "It is {.obj_type_friendly {f}}."
      ), call = call)
    }
  }
  dots <- list(...)
  lower <- list(query = dots$query %||% list())
  if (!is.null(dots$limit)) lower$limit <- dots$limit
  if (!is.null(dots$progress)) lower$progress <- dots$progress
  given <- which(!vapply(filters, is.null, TRUE))
  deepest <- if (length(given)) max(given) else 1L

  passes <- function(level, r) {
    f <- filters[[level]]
    if (is.null(f)) {
      return(TRUE)
    }
    ok <- f(r)
    if (!is_flag(ok)) {
      arg <- paste0(tolower(level), "_filter")
      orthanc_abort("argument", c(
        "{.arg {arg}} must return TRUE or FALSE.",
        x = "It returned {.obj_type_friendly {ok}}."
      ), call = call)
    }
    ok
  }
  fetch <- function(level) {
    args <- if (level == "Patient") dots else lower
    res <- do.call(query_orthanc, c(list(client, level), args, list(lock_children = TRUE)))
    res[vapply(res, function(r) passes(level, r), TRUE)]
  }

  kept <- NULL # the kept resources of the level below, grouped by parent
  for (i in rev(seq_len(deepest))) {
    level <- orthanc_levels[i]
    res <- fetch(level)
    if (!is.null(kept)) {
      res <- res[vapply(res, function(r) length(kept[[r$identifier]]) > 0L, TRUE)]
      for (r in res) r$.set_children(kept[[r$identifier]])
    }
    if (i > 1L) {
      parent_field <- level_parent_field(level)
      parents <- vapply(res, function(r) as.character(r$.main_info()[[parent_field]]), "")
      kept <- lapply(split(seq_along(res), factor(parents, levels = unique(parents))), function(j) res[j])
    }
  }
  res
}

#' Count resources stored in Orthanc
#'
#' Count the patients, studies, series or instances that [find_studies()] and
#' its siblings would return for the same `query` and `labels`, without
#' listing them: on Orthanc 1.12.5 and later with a database back-end that
#' supports it (the `capabilities` field of [Orthanc]: `extended_find`), one
#' request to `POST /tools/count-resources`. On older servers the matches are
#' listed by identifier (`POST /tools/find`, page after page, not expanded)
#' and counted in R: the same number, with more work for the server.
#'
#' @inheritParams query_orthanc
#' @param page_size On servers without counts, the number of identifiers
#'   asked for per request.
#' @param ... `page_size`, passed on to `count_resources()`.
#' @return The number of matches (a double, as counts can pass 2^31).
#' @family find
#' @export
#' @examplesIf nzchar(Sys.getenv("ORTHANC_URL"))
#' o <- Orthanc$new()
#' count_studies(o)
#' count_series(o, query = list(Modality = "MR"))
count_resources <- function(client, level, query = list(), labels = character(),
                            labels_constraint = "All", page_size = 10000L) {
  call <- sys.call()
  check_client(client, call = call)
  level <- match_level(level, call = call)
  body <- find_body(level, query, labels, labels_constraint, call)
  if (!is_number(page_size) || page_size < 1 || page_size != round(page_size)) {
    orthanc_abort("argument", "{.arg page_size} must be a whole number >= 1.", call = call)
  }
  if (has_capability(client, "extended_find")) {
    return(as.numeric(client$post_tools_count_resources(json = body)$Count))
  }
  body$Expand <- FALSE
  body$Limit <- as.integer(page_size)
  seen <- character()
  position <- 0L
  repeat {
    body$Since <- position
    page <- as.character(unlist(client$post_tools_find(json = body)))
    if (!length(page)) break
    seen <- union(seen, page)
    position <- position + length(page)
  }
  as.numeric(length(seen))
}

#' @rdname count_resources
#' @export
count_patients <- function(client, query = list(), labels = character(), labels_constraint = "All", ...) {
  count_resources(client, "Patient", query = query, labels = labels, labels_constraint = labels_constraint, ...)
}

#' @rdname count_resources
#' @export
count_studies <- function(client, query = list(), labels = character(), labels_constraint = "All", ...) {
  count_resources(client, "Study", query = query, labels = labels, labels_constraint = labels_constraint, ...)
}

#' @rdname count_resources
#' @export
count_series <- function(client, query = list(), labels = character(), labels_constraint = "All", ...) {
  count_resources(client, "Series", query = query, labels = labels, labels_constraint = labels_constraint, ...)
}

#' @rdname count_resources
#' @export
count_instances <- function(client, query = list(), labels = character(), labels_constraint = "All", ...) {
  count_resources(client, "Instance", query = query, labels = labels, labels_constraint = labels_constraint, ...)
}
