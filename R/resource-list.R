# Lists of resources (class `orthanc_resource_list`): made by listings and
# finds, printed one line per resource, and tabulated by as.data.frame().

resource_list <- function(x = list()) {
  structure(unname(x), class = c("orthanc_resource_list", "list"))
}

#' @export
`[.orthanc_resource_list` <- function(x, i) {
  resource_list(unclass(x)[i])
}

#' @export
c.orthanc_resource_list <- function(...) {
  parts <- lapply(list(...), function(p) if (inherits(p, "Resource")) list(p) else unclass(p))
  resource_list(do.call(c, parts))
}

#' @export
format.orthanc_resource_list <- function(x, ...) {
  vapply(x, function(r) r$format(), "")
}

#' @export
print.orthanc_resource_list <- function(x, ..., n = 10L) {
  levels <- unique(vapply(x, function(r) r$level, ""))
  what <- if (length(levels) == 1L) level_noun(levels, length(x)) else level_noun("Resource", length(x))
  cat("<orthanc_resource_list> ", length(x), " ", what, "\n", sep = "")
  shown <- utils::head(unclass(x), n)
  for (r in shown) cat("  ", r$format(), "\n", sep = "")
  if (length(x) > n) cat("  ... and ", length(x) - n, " more\n", sep = "")
  invisible(x)
}

# One line describing a resource, from what is already known (no request when
# the information is cached; one request otherwise).
resource_line <- function(r, info) {
  if (is.null(info)) {
    info <- tryCatch(r$get_main_information(), orthanc_error = function(e) NULL)
  }
  head <- paste0("<", r$level, "> ", r$identifier)
  if (is.null(info)) {
    return(paste0(head, " (unavailable)"))
  }
  tags <- info$MainDicomTags
  pick <- switch(r$level,
    Patient = c("PatientID", "PatientName"),
    Study = c("StudyDate", "StudyDescription"),
    Series = c("Modality", "SeriesNumber", "SeriesDescription"),
    Instance = c("InstanceNumber", "SOPInstanceUID")
  )
  vals <- unlist(lapply(pick, function(p) {
    v <- tags[[p]]
    if (is.null(v) || !nzchar(v)) NULL else paste0(p, "=", v)
  }))
  if (r$level == "Study" && !is.null(info$PatientMainDicomTags$PatientName)) {
    vals <- c(paste0("PatientName=", info$PatientMainDicomTags$PatientName), vals)
  }
  field <- level_children_field(r$level)
  count <- if (!is.null(field) && !is.null(info[[field]])) {
    n <- length(info[[field]])
    paste0(n, " ", level_noun(level_child(r$level), n))
  } else if (r$level == "Instance" && !is.null(info$FileSize)) {
    paste0(info$FileSize, " bytes")
  }
  labels <- as_character_vector(info$Labels)
  paste0(
    head,
    if (length(vals)) paste0(" ", paste(vals, collapse = " ")),
    if (length(count)) paste0(" [", count, "]"),
    if (length(labels)) paste0(" labels: ", paste(labels, collapse = ";"))
  )
}

#' A data frame of resources
#'
#' One row per resource of a list returned by the resource layer (`$studies`,
#' `$series`, `$instances`, [find_studies()], ...). The information comes from
#' what the resources already hold (filled from the listing or find that made
#' them); a resource made by hand costs one request.
#'
#' Columns: `id`, `parent_id` (`NA` for patients), `labels` (labels joined by
#' `";"`), then every main DICOM tag found in any of the resources (for
#' studies, the patient's main tags as well). Tags of value representation DA
#' become `Date`s, IS/DS/US numbers (multi-valued ones such as
#' `ImagePositionPatient` stay text, `"x\\y\\z"`), the others text. Absent tags
#' are `NA`.
#'
#' With `tags`, for a list of instances only: a data frame of those tags
#' instead, one row per instance (column `id`, then one column per tag named
#' by its keyword, e.g. `"0018,0050"` gives `SliceThickness`; a private tag
#' unknown to the DICOM dictionary keeps its `"GGGG,EEEE"` name). The tags of
#' all the instances are asked for at once: through `/tools/find` with
#' `RequestedTags` (Orthanc >= 1.11; 200 instances per request, all the
#' requests in one batch) for instances whose `SOPInstanceUID` is known (those
#' made from a listing or a find), else through one batch of
#' `GET /instances/{id}/tags?simplify`. Orthanc gives no value
#' representations: the package's copy of the DICOM data dictionary (PS3.6)
#' types the columns: DA as `Date`; IS, DS, US, UL, SS, SL, FD, FL, SV, UV as
#' numbers when every value is single (a multi-valued numeric tag such as
#' `PixelSpacing` stays text, `"0.8\\0.8"`, as all multi-valued tags do;
#' split it with `strsplit(x, "\\", fixed = TRUE)`); sequences as a list column (one list of items
#' per instance, `NULL` when absent); anything else as text. Absent or empty
#' values are `NA`.
#'
#' @param x An `orthanc_resource_list`.
#' @param row.names,optional Unused (for compatibility with the generic).
#' @param ... Unused.
#' @param tags `NULL`, or (for a list of [Instance]s) the tags to tabulate:
#'   keywords (`"SliceLocation"`) or group,element (`"0018,0050"`,
#'   `"0018-0050"`, `"00180050"`).
#' @param progress With `tags`: whether to show a progress bar: `TRUE`,
#'   `FALSE`, or `NULL` (the default: the option `orthanc.progress`, else only
#'   in interactive sessions); see [orthanc_options].
#' @return A data frame.
#' @family resources
#' @export
#' @examplesIf nzchar(Sys.getenv("ORTHANC_URL"))
#' o <- Orthanc$new()
#' # Sample files of the package: two MR slices (Brainix) and a CT image
#' stored <- upload(o, system.file("extdata", package = "orthanc"), check_before_upload = TRUE)
#' as.data.frame(find_studies(o))
#' instances <- find_instances(o, query = list(Modality = "MR"))
#' as.data.frame(instances, tags = c("SliceLocation", "0018,0050", "AcquisitionDate"))
#' # Delete what this example stored (not what the server already had)
#' for (id in stored$id[stored$status == "Success"]) o$delete_instances_id(id)
as.data.frame.orthanc_resource_list <- function(x, row.names = NULL, optional = FALSE, ...,
                                                tags = NULL, progress = NULL) {
  if (!is.null(tags)) {
    return(instance_tags_table(x, tags, progress, call = quote(as.data.frame())))
  }
  infos <- lapply(x, function(r) r$.main_info())
  levels <- vapply(x, function(r) r$level, "")
  ids <- vapply(x, function(r) r$identifier, "")
  parent <- vapply(seq_along(infos), function(i) {
    f <- level_parent_field(levels[i])
    v <- if (is.null(f)) NULL else infos[[i]][[f]]
    if (is.null(v)) NA_character_ else v
  }, "")
  labels <- vapply(infos, function(i) paste(as_character_vector(i$Labels), collapse = ";"), "")
  # The tags asked for by a find (`requested_tags`) add columns, without a
  # request per resource; a main tag given twice is taken once.
  tag_lists <- lapply(infos, function(i) {
    tags <- c(i$MainDicomTags, i$PatientMainDicomTags)
    extra <- i$RequestedTags
    c(tags, extra[setdiff(names(extra), names(tags))])
  })
  names_all <- unique(unlist(lapply(tag_lists, names)))
  known <- intersect(names(main_dicom_tag_vrs), names_all)
  names_all <- c(known, sort(setdiff(names_all, known)))
  out <- data.frame(
    id = ids, parent_id = parent, labels = labels,
    stringsAsFactors = FALSE
  )
  for (nm in names_all) {
    vals <- vapply(tag_lists, function(t) {
      v <- t[[nm]]
      if (is.null(v) || !length(v)) NA_character_ else paste(as.character(unlist(v)), collapse = "\\")
    }, "")
    out[[nm]] <- convert_tag_column(nm, vals)
  }
  out
}
