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
#' @param tag A tag or path to a value inside the DICOM file, e.g.
#'   `"0010-0010"`, `"PatientName"` or `"0008-1140/0/0008-1150"` (as in
#'   `GET /instances/{id}/content/...`).
#' @param id Orthanc identifier of the resource.
#' @param client An [Orthanc] client.
#' @param lock_children Whether the children are listed once and kept.
#' @param info Optional: the main information of the resource as Orthanc
#'   gives it (e.g. an element of the answer of an expanded listing), used
#'   instead of asking the server.
#' @param label A label (letters, digits, `_` and `-`).
#' @param remove Tags to remove (character: names such as `"StudyDescription"`
#'   or `"0008,1030"`, or paths into sequences).
#' @param replace Tags to replace or add: a named list (or named character
#'   vector) of values, e.g. `list(PatientName = "Anon")`.
#' @param keep Tags to keep unchanged (character).
#' @param force Allow changing identifiers (`PatientID`, UIDs) (`TRUE`/`FALSE`).
#' @param keep_private_tags Keep the private tags when anonymizing.
#' @param remove_private_tags Remove the private tags when modifying.
#' @param keep_source Keep the original resources (Orthanc's default: `TRUE`).
#' @param priority Priority of the job (integer).
#' @param permissive Ignore the instances that cannot be modified instead of
#'   failing.
#' @param private_creator Private creator of the private tags in `replace`.
#' @param dicom_version Version of the DICOM standard whose profile the
#'   anonymization follows (e.g. `"2023b"`). For all the arguments of
#'   `anonymize()` and `modify()`, `NULL` (the default) sends nothing: Orthanc's
#'   default applies.
#' @param path File to write (its directory must exist). The answer is
#'   streamed to a temporary file next to it, then renamed.
#' @param simplify Whether tags are named by keyword with plain values
#'   (`TRUE`, Orthanc's `simplify`) or by group/element with names, types and
#'   values (`FALSE`).
#'
#' @family resources
#' @include resource.R
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

    #' @description Stream the DICOM file to a file.
    #' @return `path`, invisibly.
    download = function(path) {
      stream_to_file(private$.client, paste0("/instances/", private$.id, "/file"), path,
        call = quote(download())
      )
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
    },

    #' @description The anonymized DICOM file (a raw vector; Orthanc does not
    #'   store it).
    #' @return A raw vector.
    anonymize = function(remove = NULL, replace = NULL, keep = NULL, force = NULL,
                         keep_private_tags = NULL, keep_source = NULL, priority = NULL,
                         permissive = NULL, private_creator = NULL, dicom_version = NULL) {
      body <- modification_body_of(environment(), quote(anonymize()))
      private$.client$post_instances_id_anonymize(private$.id, json = body)
    },

    #' @description The modified DICOM file (a raw vector; Orthanc does not
    #'   store it).
    #' @return A raw vector.
    modify = function(remove = NULL, replace = NULL, keep = NULL, force = NULL,
                      remove_private_tags = NULL, keep_source = NULL, priority = NULL,
                      permissive = NULL, private_creator = NULL) {
      body <- modification_body_of(environment(), quote(modify()))
      private$.client$post_instances_id_modify(private$.id, json = body)
    }
  ),
  active = list(
    #' @field uid SOPInstanceUID.
    uid = function(value) {
      check_read_only(value, "uid")
      private$tag("SOPInstanceUID")
    },
    #' @field instance_number InstanceNumber (numeric).
    instance_number = function(value) {
      check_read_only(value, "instance_number")
      as.numeric(private$tag("InstanceNumber"))
    },
    #' @field number_of_frames NumberOfFrames (integer); 1 when the tag is
    #'   absent (a single-frame image, or no image at all).
    number_of_frames = function(value) {
      check_read_only(value, "number_of_frames")
      v <- private$tag("NumberOfFrames")
      if (is.na(v) || !nzchar(v)) 1L else as.integer(v)
    },
    #' @field image_position_patient ImagePositionPatient (numeric vector,
    #'   empty when absent).
    image_position_patient = function(value) {
      check_read_only(value, "image_position_patient")
      parse_dicom_numbers(private$info()$MainDicomTags$ImagePositionPatient)
    },
    #' @field image_orientation_patient ImageOrientationPatient (numeric
    #'   vector, empty when absent).
    image_orientation_patient = function(value) {
      check_read_only(value, "image_orientation_patient")
      parse_dicom_numbers(private$info()$MainDicomTags$ImageOrientationPatient)
    },
    #' @field file_size Size of the DICOM file in bytes.
    file_size = function(value) {
      check_read_only(value, "file_size")
      as.numeric(private$info()$FileSize)
    },
    #' @field creation_date InstanceCreationDate, a `Date`.
    creation_date = function(value) {
      check_read_only(value, "creation_date")
      parse_dicom_date(private$tag("InstanceCreationDate"))
    },
    #' @field parent_series The [Series] of the instance.
    parent_series = function(value) {
      check_read_only(value, "parent_series")
      Series$new(private$info()$ParentSeries, private$.client)
    },
    #' @field parent_study The [Study] of the instance (one request, whose
    #'   answer fills it).
    parent_study = function(value) {
      check_read_only(value, "parent_study")
      info <- private$.client$get_instances_id_study(private$.id)
      Study$new(info$ID, private$.client, info = info)
    },
    #' @field parent_patient The [Patient] of the instance (one request, whose
    #'   answer fills it).
    parent_patient = function(value) {
      check_read_only(value, "parent_patient")
      info <- private$.client$get_instances_id_patient(private$.id)
      Patient$new(info$ID, private$.client, info = info)
    },
    #' @field tags All tags, as Orthanc gives them (`GET /instances/{id}/tags`:
    #'   a list named by tag, each with `Name`, `Type` and `Value`).
    tags = function(value) {
      check_read_only(value, "tags")
      private$.client$get_instances_id_tags(private$.id)
    },
    #' @field simplified_tags All tags, named by keyword, with their values.
    simplified_tags = function(value) {
      check_read_only(value, "simplified_tags")
      private$.client$get_instances_id_simplified_tags(private$.id)
    }
  ),
  private = list(
    .level = "Instance",

    # Instances are modified in a job through the bulk routes.
    transform = function(action, body, asynchronous) {
      body$Resources <- I(private$.id)
      body$Level <- "Instance"
      body$Asynchronous <- TRUE
      ans <- if (action == "anonymize") {
        private$.client$post_tools_bulk_anonymize(json = body)
      } else {
        private$.client$post_tools_bulk_modify(json = body)
      }
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
