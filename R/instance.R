#' An instance stored in Orthanc
#'
#' @description
#' A [Resource] at the instance level: one DICOM file.
#'
#' Unlike the other levels, Orthanc does not store the result of
#' `anonymize()` and `modify()` on an instance: it answers the new DICOM file,
#' which these methods return as a raw vector (upload it with
#' `client$post_instances(data = ...)` or write it with [writeBin()] if
#' needed). `anonymize_as_job()` and `modify_as_job()` go through
#' `/tools/bulk-anonymize` and `/tools/bulk-modify`, which do store the new
#' instance in Orthanc; the [Job]'s `content` names it.
#'
#' `as.data.frame()` on an instance gives all its tags as a long data frame:
#' see [as.data.frame.Instance()].
#'
#' What every level has (labels, `download()`, `anonymize()`, `modify()`,
#' the fields `identifier`, `main_dicom_tags`, ...) is documented in
#' [Resource]. An instance has no archive and no shared tags: `get_zip()`,
#' `get_shared_tags()` and the field `shared_tags` are refused (an
#' `orthanc_argument_error` naming what to use instead).
#'
#' @param tag A tag or path to a value inside the DICOM file, e.g.
#'   `"0010-0010"`, `"PatientName"` or `"0008-1140/0/0008-1150"` (as in
#'   `GET /instances/{id}/content/...`).
#' @field uid SOPInstanceUID.
#' @field instance_number InstanceNumber (numeric).
#' @field creation_date InstanceCreationDate, a `Date` (`NA` when absent).
#' @field image_position_patient ImagePositionPatient (numeric vector,
#'   empty when absent).
#' @field image_orientation_patient ImageOrientationPatient (numeric
#'   vector, empty when absent).
#' @field acquisition_number AcquisitionNumber (numeric).
#' @field image_index ImageIndex (numeric).
#' @field image_comments ImageComments.
#' @field temporal_position_identifier TemporalPositionIdentifier (numeric).
#' @field series_identifier Orthanc identifier of the instance's series.
#' @field parent_series The [Series] of the instance.
#' @field parent_study The [Study] of the instance (one request, whose
#'   answer fills it).
#' @field parent_patient The [Patient] of the instance (one request, whose
#'   answer fills it).
#'
#' @family resources
#' @include resource.R resource-fields.R
#' @export
#' @examplesIf nzchar(Sys.getenv("ORTHANC_URL"))
#' o <- Orthanc$new()
#' # Sample files of the package: two MR slices (Brainix) and a CT image
#' stored <- upload(o, system.file("extdata", package = "orthanc"), check_before_upload = TRUE)
#' i <- Instance$new(stored$id[[1]], o)
#' i$uid
#' i$simplified_tags$PatientName
#' dim(i$pixel_array())
#' # Delete what this example stored (not what the server already had)
#' for (id in stored$id[stored$status == "Success"]) o$delete_instances_id(id)
Instance <- R6::R6Class("Instance",
  inherit = Resource,
  cloneable = FALSE,
  public = list(
    #' @description The DICOM file, as a raw vector.
    #' @return A raw vector.
    get_dicom_file_content = function() {
      private$.client$get_instances_id_file(private$.id)
    },

    #' @description The pixel data as an R array (see [pixel_array()]).
    #' @param frame `NULL` for all the frames, or the number of one frame
    #'   (starting at 1).
    #' @param ... Passed to [pixel_array()]: `rescale`, `via`, `progress`.
    #' @return A numeric array: rows x columns (x frames) (x samples).
    pixel_array = function(frame = NULL, ...) {
      pixel_array(private$.client, private$.id, frame = frame, ...)
    },

    #' @description The raw content of a tag (or a path into sequences) of the
    #'   DICOM file (`GET /instances/{id}/content/{tag}`).
    #' @return A string for a value; the list of children for a sequence or
    #'   an item (character).
    get_content_by_tag = function(tag) {
      check_string_arg(tag, "tag", call = quote(get_content_by_tag()))
      path <- gsub(",", "-", tag, fixed = TRUE)
      ans <- private$.client$get_instances_id_content_path(private$.id, path)
      if (is.raw(ans)) ans <- rawToChar(ans[ans != as.raw(0)])
      if (is.character(ans)) sub("[ \u0001]+$", "", ans) else as_character_vector(ans)
    }
  ),
  active = c(level_fields("Instance"), read_only_fields(
    #' @field number_of_frames NumberOfFrames (integer); 1 when the tag is
    #'   absent (a single-frame image, or no image at all).
    number_of_frames = {
      v <- private$tag("NumberOfFrames")
      if (is.na(v) || !nzchar(v)) 1L else as.integer(v)
    },
    #' @field file_size Size of the DICOM file in bytes.
    file_size = as.numeric(private$info()$FileSize),
    #' @field tags All tags, as Orthanc gives them (`GET /instances/{id}/tags`:
    #'   a list named by tag, each with `Name`, `Type` and `Value`).
    tags = private$.client$get_instances_id_tags(private$.id),
    #' @field simplified_tags All tags, named by keyword, with their values.
    simplified_tags = private$.client$get_instances_id_simplified_tags(private$.id)
  )),
  private = list(
    .level = "Instance",

    # Orthanc does not store what anonymize() and modify() make of an
    # instance: it answers the new DICOM file. In a job, through the bulk
    # routes, it stores the new instance.
    transform = function(action, body, asynchronous) {
      if (!asynchronous) {
        return(private$endpoint("post_", paste0("_id_", action))(private$.id, json = body))
      }
      body$Resources <- I(private$.id)
      body$Level <- "Instance"
      body$Asynchronous <- TRUE
      ans <- private$.client[[paste0("post_tools_bulk_", action)]](json = body)
      Job$new(ans$ID, private$.client)
    }
  )
)

#' The tags of an instance as a data frame
#'
#' All the tags of one instance (`GET /instances/{id}/tags`), one row per
#' element; the elements of sequences are flattened, their `path` giving where
#' they are.
#'
#' Orthanc's tag answer does not give value representations; the `type` column
#' is Orthanc's kind of value: `"String"`, `"Sequence"`, `"Null"`, `"TooLong"`
#' (a value larger than Orthanc's limit, not sent) or `"Binary"`.
#'
#' @param x An [Instance].
#' @param row.names,optional Unused (for compatibility with the generic).
#' @param ... Unused.
#' @return A data frame with columns `tag` (`"0010,0010"`), `keyword`
#'   (`"PatientName"`), `type`, `value` (character; `NA` for sequences and
#'   empty values) and `path` (e.g. `"0008,1140[1]/0008,1150"`, items counted
#'   from 1; the tag itself at the top level).
#' @family resources
#' @export
#' @examplesIf nzchar(Sys.getenv("ORTHANC_URL"))
#' o <- Orthanc$new()
#' # Sample files of the package: two MR slices (Brainix) and a CT image
#' stored <- upload(o, system.file("extdata", package = "orthanc"), check_before_upload = TRUE)
#' i <- Instance$new(stored$id[[1]], o)
#' head(as.data.frame(i))
#' # Delete what this example stored (not what the server already had)
#' for (id in stored$id[stored$status == "Success"]) o$delete_instances_id(id)
as.data.frame.Instance <- function(x, row.names = NULL, optional = FALSE, ...) {
  tags <- x$tags
  rows <- flatten_tags(tags, prefix = "")
  column <- function(f) vapply(rows, function(r) r[[f]], "", USE.NAMES = FALSE)
  data.frame(
    tag = column("tag"), keyword = column("keyword"), type = column("type"),
    value = column("value"), path = column("path"), stringsAsFactors = FALSE
  )
}

flatten_tags <- function(tags, prefix) {
  out <- list()
  for (tag in names(tags)) {
    el <- tags[[tag]]
    path <- paste0(prefix, tag)
    type <- el$Type %||% NA_character_
    value <- el$Value
    if (identical(type, "Sequence")) {
      out[[length(out) + 1L]] <- tag_row(tag, el$Name, type, NA_character_, path)
      for (i in seq_along(value)) {
        out <- c(out, flatten_tags(value[[i]], paste0(path, "[", i, "]/")))
      }
    } else {
      v <- if (is.null(value) || !length(value)) NA_character_ else paste(as.character(unlist(value)), collapse = "\\")
      out[[length(out) + 1L]] <- tag_row(tag, el$Name, type, v, path)
    }
  }
  out
}

tag_row <- function(tag, keyword, type, value, path) {
  list(
    tag = tag, keyword = as.character(keyword %||% NA_character_),
    type = as.character(type), value = as.character(value), path = path
  )
}
