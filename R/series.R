#' A series stored in Orthanc
#'
#' @description
#' A [Resource] at the series level. Its instances come from one expanded
#' listing (`GET /series/{id}/instances?expand`).
#'
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
#' s <- find_series(o, query = list(Modality = "MR"))[[1]]
#' s$modality
#' s$num_instances
#' s$parent_study
#' dim(s$pixel_array())
#' # Delete what this example stored (not what the server already had)
#' for (id in stored$id[stored$status == "Success"]) o$delete_instances_id(id)
Series <- R6::R6Class("Series",
  inherit = Resource,
  cloneable = FALSE,
  public = list(
    #' @description The series' archive (ZIP) as a raw vector, in memory.
    #' @return A raw vector.
    get_zip = function() {
      private$.client$get_series_id_archive(private$.id)
    },

    #' @description Stream the series' archive (ZIP) to a file.
    #' @return `path`, invisibly.
    download = function(path) {
      stream_to_file(private$.client, paste0("/series/", private$.id, "/archive"), path,
        call = quote(download())
      )
    },

    #' @description The pixel data of the whole series as an R array, one
    #'   slice per frame in Orthanc's slice order (see [series_pixel_array()]).
    #' @param ... Passed to [series_pixel_array()]: `rescale`, `via`, `progress`.
    #' @return A numeric array: rows x columns x slices (x samples).
    pixel_array = function(...) {
      series_pixel_array(private$.client, private$.id, ...)
    },

    #' @description Write the series as a NIfTI file through Orthanc's
    #'   neuroimaging plugin (see [write_nifti()]), named `<id>.nii.gz` (or
    #'   `.nii`).
    #' @param path An existing folder.
    #' @param compress Whether to write a gzip-compressed file (`.nii.gz`).
    #' @return The path of the file written, invisibly.
    write_nifti = function(path, compress = TRUE) {
      invisible(unname(write_nifti(private$.client, private$.id, path, compress = compress)))
    },

    #' @description The tags whose value is the same in every instance of the
    #'   series.
    #' @return A named list.
    get_shared_tags = function(simplify = TRUE) {
      check_flag_arg(simplify, "simplify", call = quote(get_shared_tags()))
      private$.client$get_series_id_shared_tags(private$.id, params = simplify_params(simplify))
    },

    #' @description With locked children: forget the kept instances that no
    #'   longer exist on the server (one request). Does nothing otherwise.
    #' @return The series, invisibly.
    remove_empty_instances = function() {
      if (!is.null(private$.children)) {
        ids <- tryCatch(
          as_character_vector(private$.client$get_series_id(private$.id)$Instances),
          orthanc_http_404 = function(e) character()
        )
        kids <- private$.children
        private$.children <- resource_list(kids[vapply(kids, function(k) k$identifier %in% ids, TRUE)])
      }
      invisible(self)
    }
  ),
  active = list(
    #' @field uid SeriesInstanceUID.
    uid = function(value) {
      check_read_only(value, "uid")
      private$tag("SeriesInstanceUID")
    },
    #' @field modality Modality.
    modality = function(value) {
      check_read_only(value, "modality")
      private$tag("Modality")
    },
    #' @field series_number SeriesNumber (numeric).
    series_number = function(value) {
      check_read_only(value, "series_number")
      as.numeric(private$tag("SeriesNumber"))
    },
    #' @field description SeriesDescription.
    description = function(value) {
      check_read_only(value, "description")
      private$tag("SeriesDescription")
    },
    #' @field date SeriesDate, a `Date`.
    date = function(value) {
      check_read_only(value, "date")
      parse_dicom_date(private$tag("SeriesDate"))
    },
    #' @field body_part_examined BodyPartExamined.
    body_part_examined = function(value) {
      check_read_only(value, "body_part_examined")
      private$tag("BodyPartExamined")
    },
    #' @field manufacturer Manufacturer.
    manufacturer = function(value) {
      check_read_only(value, "manufacturer")
      private$tag("Manufacturer")
    },
    #' @field protocol_name ProtocolName.
    protocol_name = function(value) {
      check_read_only(value, "protocol_name")
      private$tag("ProtocolName")
    },
    #' @field parent_study The [Study] of the series.
    parent_study = function(value) {
      check_read_only(value, "parent_study")
      Study$new(private$info()$ParentStudy, private$.client)
    },
    #' @field parent_patient The [Patient] of the series (one request, whose
    #'   answer fills it).
    parent_patient = function(value) {
      check_read_only(value, "parent_patient")
      info <- private$.client$get_series_id_patient(private$.id)
      Patient$new(info$ID, private$.client, info = info)
    },
    #' @field instances The series' instances (an `orthanc_resource_list` of
    #'   [Instance]).
    instances = function(value) {
      check_read_only(value, "instances")
      private$children()
    },
    #' @field num_instances Number of instances (from the series' information,
    #'   or the kept instances when locked).
    num_instances = function(value) {
      check_read_only(value, "num_instances")
      if (!is.null(private$.children)) length(private$.children) else length(private$info()$Instances)
    },
    #' @field shared_tags The tags shared by all instances (simplified).
    shared_tags = function(value) {
      check_read_only(value, "shared_tags")
      self$get_shared_tags()
    }
  ),
  private = list(
    .level = "Series"
  )
)
