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
#' stored, or in the order of `order_by`; resources deleted while the pages
#' are read can shift the positions and make a match be missed, as with any
#' paging by position.
#'
#' `order_by`, `parent` and `metadata` are done by the server on Orthanc
#' 1.12.5 and later with a database back-end that supports them (the
#' `capabilities` field of [Orthanc]: `extended_find`). On older servers,
#' `parent` becomes a constraint on the parent's identifying tag (one request
#' to read it), and `order_by` on tags that the answers carry (main DICOM tags
#' and `requested_tags`) is done in R, after every match is read (then
#' `since` and `limit` select from the sorted matches); `order_by` on metadata,
#' `metadata` and, before Orthanc 1.11, `requested_tags` raise an
#' `orthanc_unsupported_error` before anything is sent.
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
#' @param order_by The order of the matches: a named character vector whose
#'   names are DICOM tags (by keyword, e.g. `StudyDate`, or `"gggg,eeee"`) or
#'   metadata (`"metadata:<Name>"`) and whose values are `"asc"` or `"desc"`;
#'   several keys in order, e.g. `c(StudyDate = "desc", PatientName = "asc")`.
#'   `limit` and `since` then page in that order.
#' @param parent Only the descendants of this patient, study or series: a
#'   [Patient], [Study] or [Series] object, or its identifier named by its
#'   level, e.g. `c(Study = "27f7126f-...")`.
#' @param metadata Named list (or named character vector) of metadata values
#'   the resources must have, e.g. `list(my_status = "done")`.
#' @param case_sensitive Whether text in `query` is matched case-sensitively
#'   (`NULL`: the server's default, case-sensitive except for person names).
#' @param requested_tags DICOM tags (keywords or `"gggg,eeee"`) to give with
#'   each resource beyond its main tags: in its `requested_tags` field and as
#'   columns of [as.data.frame()][as.data.frame.orthanc_resource_list()],
#'   without a request per resource (Orthanc 1.11 and later).
#' @param lock_children Whether the resources keep their children once listed
#'   (see [Resource]).
#' @param progress Show a progress bar (the number of matches received, page
#'   after page): `TRUE`, `FALSE`, or `NULL` (the default: the option
#'   `orthanc.progress`, else only in interactive sessions); see
#'   [orthanc_options].
#' @param ... Arguments passed on to `query_orthanc()` (`limit`, `since`,
#'   `retrieve_all_resources`, `lock_children`, `progress`, `order_by`,
#'   `parent`, `metadata`, `case_sensitive`, `requested_tags`).
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
                          progress = NULL, order_by = NULL, parent = NULL,
                          metadata = NULL, case_sensitive = NULL,
                          requested_tags = NULL) {
  call <- sys.call()
  check_client(client, call = call)
  level <- match_level(level, call = call)
  body <- find_body(level, query, labels, labels_constraint, call)
  check_whole_arg(limit, "limit", 1, call = call)
  check_whole_arg(since, "since", 0, call = call)
  check_flag_arg(retrieve_all_resources, "retrieve_all_resources", call = call)
  check_flag_arg(lock_children, "lock_children", call = call)
  check_progress_arg(progress, call)
  extra <- find_extensions(client, level, body, order_by, parent, metadata, case_sensitive,
    requested_tags, call
  )
  body <- extra$body
  body$Expand <- TRUE
  bar <- progress_bar(progress, paste("Finding", level_prefix(level)),
    format = "{cli::pb_spin} {cli::pb_name}| {cli::pb_current} found [{cli::pb_elapsed}]"
  )
  if (!is.null(extra$sort_in_r)) {
    # An older server: every match, sorted here, then `since` and `limit`.
    found <- find_pages(client, body, 1000L, 0L, TRUE, bar)
    found <- found[sort_answers(found, extra$sort_in_r)]
    n <- seq_along(found)
    found <- found[n > since & (retrieve_all_resources | n <= since + limit)]
  } else {
    found <- find_pages(client, body, as.integer(limit), as.integer(since), retrieve_all_resources, bar)
  }
  resources_from_answer(level, found, client, lock_children)
}

# Read the matches of a find page after page (`Since` moving by the number of
# answers received) until an empty page, or one page only; each match once
# (expanded or not, as `body` asks).
find_pages <- function(client, body, limit, since, all_pages, bar) {
  body$Limit <- limit
  found <- list()
  seen <- character()
  position <- since
  repeat {
    body$Since <- position
    page <- client$post_tools_find(json = body)
    # Expanded answers are objects with an ID; others, identifiers.
    ids <- vapply(page, function(r) as.character(if (is.list(r)) r$ID else r), "")
    fresh <- !duplicated(ids) & !ids %in% seen
    found <- c(found, page[fresh])
    seen <- c(seen, ids[fresh])
    progress_set(bar, length(found))
    if (!all_pages || !length(page)) break
    position <- position + length(page)
  }
  found
}

# Add order_by, parent, metadata, case_sensitive and requested_tags to a find
# body: list(body = <the body>, sort_in_r = <keys> or NULL). What an older
# server cannot do is done another way or refused here, before anything is
# sent (the capabilities are asked only when one of them is given).
find_extensions <- function(client, level, body, order_by, parent, metadata, case_sensitive,
                            requested_tags, call) {
  if (!is.null(case_sensitive)) {
    check_flag_arg(case_sensitive, "case_sensitive", call = call)
    body$CaseSensitive <- case_sensitive
  }
  tags <- check_tag_names(requested_tags, "requested_tags", call)
  keys <- check_order_by(order_by, call)
  meta <- check_metadata_query(metadata, call)
  parent <- check_find_parent(parent, level, call)
  if (!length(tags) && !length(keys) && is.null(meta) && is.null(parent)) {
    return(list(body = body))
  }
  extended <- has_capability(client, "extended_find")
  if (length(tags)) {
    if (package_version(client$capabilities$version) < "1.11.0") {
      require_capability(client, "extended_find", "A find with requested tags", needs = "1.11.0", call = call)
    }
    body$RequestedTags <- I(tags)
  }
  if (!is.null(meta)) {
    require_capability(client, "extended_find", "A find by metadata", call = call)
    body$MetadataQuery <- meta
  }
  if (!is.null(parent) && extended) {
    body[[paste0("Parent", parent$level)]] <- parent$id
  } else if (!is.null(parent)) {
    # The parent's identifying tag as a constraint, read with one request.
    # Orthanc makes the identifier of a patient from its PatientID, so each of
    # these tags names one resource.
    tag <- c(Patient = "PatientID", Study = "StudyInstanceUID", Series = "SeriesInstanceUID")[[parent$level]]
    info <- switch(parent$level,
      Patient = client$get_patients_id(parent$id),
      Study = client$get_studies_id(parent$id),
      Series = client$get_series_id(parent$id)
    )
    query <- as.list(body$Query)
    query[[tag]] <- as.character(info$MainDicomTags[[tag]])
    body$Query <- query
  }
  if (length(keys) && extended) {
    body$OrderBy <- lapply(keys, function(k) list(Type = k$type, Key = k$key, Direction = k$direction))
    keys <- list()
  } else if (any(vapply(keys, function(k) k$type == "Metadata", NA))) {
    require_capability(client, "extended_find", "A find ordered by metadata", call = call)
  }
  list(body = body, sort_in_r = if (length(keys)) keys)
}

tag_pattern <- "^([A-Za-z][A-Za-z0-9]*|[0-9A-Fa-f]{4},[0-9A-Fa-f]{4})$"

# `order_by` -> a list of list(type, key, direction); NULL gives list().
check_order_by <- function(order_by, call) {
  if (is.null(order_by)) return(list())
  nms <- names(order_by)
  ok <- is.character(order_by) && length(order_by) && !anyNA(order_by) && !is.null(nms) &&
    !anyNA(nms) && all(nzchar(nms)) && all(tolower(order_by) %in% c("asc", "desc"))
  if (!ok) {
    orthanc_abort("argument", c(
      "{.arg order_by} must be a named character vector of {.val asc} and {.val desc}, named by DICOM tags or {.val metadata:<name>}.",
      i = "For example {.code c(StudyDate = \"desc\", PatientName = \"asc\")}."
    ), call = call)
  }
  lapply(seq_along(order_by), function(i) {
    nm <- nms[[i]]
    meta <- startsWith(nm, "metadata:")
    key <- if (meta) substring(nm, 10L) else nm
    if (!nzchar(key) || !meta && !grepl(tag_pattern, key)) {
      orthanc_abort("argument", c(
        "{.arg order_by} has the key {.val {nm}}, which is neither a DICOM tag nor {.val metadata:<name>}.",
        i = "Give a tag by keyword ({.val StudyDate}) or number ({.val 0008,0020})."
      ), call = call)
    }
    list(type = if (meta) "Metadata" else "DicomTag", key = key, direction = toupper(order_by[[i]]))
  })
}

# `metadata` -> a named list of strings, or NULL.
check_metadata_query <- function(metadata, call) {
  if (is.null(metadata)) return(NULL)
  ok <- (is.list(metadata) || is.character(metadata)) && length(metadata) &&
    !is.null(names(metadata)) && !anyNA(names(metadata)) && all(nzchar(names(metadata))) &&
    all(vapply(metadata, is_string, TRUE))
  if (!ok) {
    orthanc_abort("argument", "{.arg metadata} must be a named list of strings, e.g. {.code list(status = \"done\")}.", call = call)
  }
  as.list(metadata)
}

# DICOM tags by keyword or "gggg,eeee": a character vector, or NULL.
check_tag_names <- function(x, arg, call) {
  if (is.null(x)) return(character())
  if (!is.character(x) || anyNA(x) || !all(grepl(tag_pattern, x))) {
    orthanc_abort("argument", "{.arg {arg}} must be DICOM tags by keyword ({.val StudyDate}) or number ({.val 0008,0020}).", call = call)
  }
  unique(x)
}

# `parent` -> list(level, id) or NULL; it must be above `level`.
check_find_parent <- function(parent, level, call) {
  if (is.null(parent)) return(NULL)
  ranks <- c(Patient = 1L, Study = 2L, Series = 3L, Instance = 4L)
  if (inherits(parent, "Resource")) {
    out <- list(level = parent$level, id = parent$identifier)
  } else if (is_string(parent) && !is.null(names(parent)) && names(parent) %in% names(ranks)) {
    out <- list(level = names(parent), id = unname(parent))
  } else {
    orthanc_abort("argument", c(
      "{.arg parent} must be a patient, study or series: a {.cls Patient}, {.cls Study} or {.cls Series} object, or its identifier named by its level.",
      i = "For example {.code c(Study = id)}."
    ), call = call)
  }
  if (ranks[[out$level]] >= ranks[[level]]) {
    orthanc_abort("argument", "A find of {level} resources cannot have a {out$level} as {.arg parent}: it must be above them.", call = call)
  }
  out
}

# The order of expanded find answers by `keys` (from check_order_by(), DICOM
# tags only), read from their main tags and requested tags: text in byte
# order, as Orthanc compares it; a missing tag sorts as empty text.
sort_answers <- function(answers, keys) {
  cols <- lapply(keys, function(k) {
    v <- vapply(answers, function(a) {
      x <- c(a$MainDicomTags, a$PatientMainDicomTags, a$RequestedTags)[[k$key]]
      if (is.null(x)) "" else paste(as.character(unlist(x)), collapse = "\\")
    }, "")
    r <- match(v, sort(unique(v), method = "radix"))
    if (k$direction == "DESC") -r else r
  })
  do.call(order, c(unname(cols), list(method = "radix")))
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
#' @param ... `parent`, `metadata`, `case_sensitive`, `page_size`, passed on
#'   to `count_resources()`.
#' @return The number of matches (a double, as counts can pass 2^31).
#' @family find
#' @export
#' @examplesIf nzchar(Sys.getenv("ORTHANC_URL"))
#' o <- Orthanc$new()
#' count_studies(o)
#' count_series(o, query = list(Modality = "MR"))
count_resources <- function(client, level, query = list(), labels = character(),
                            labels_constraint = "All", parent = NULL, metadata = NULL,
                            case_sensitive = NULL, page_size = 10000L) {
  call <- sys.call()
  check_client(client, call = call)
  level <- match_level(level, call = call)
  body <- find_body(level, query, labels, labels_constraint, call)
  check_whole_arg(page_size, "page_size", 1, call = call)
  body <- find_extensions(client, level, body, NULL, parent, metadata, case_sensitive, NULL, call)$body
  if (has_capability(client, "extended_find")) {
    return(as.numeric(client$post_tools_count_resources(json = body)$Count))
  }
  body$Expand <- FALSE
  as.numeric(length(find_pages(client, body, as.integer(page_size), 0L, TRUE, NULL)))
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
