#' A study stored in Orthanc
#'
#' @description
#' A [Resource] at the study level. Its series come from one expanded listing
#' (`GET /studies/{id}/series?expand`).
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
#' s <- Study$new(stored$parent_study[[1]], o)
#' s$date
#' s$description
#' as.data.frame(s$series)
#' # Delete what this example stored (not what the server already had)
#' for (id in stored$id[stored$status == "Success"]) o$delete_instances_id(id)
Study <- R6::R6Class("Study",
  inherit = Resource,
  cloneable = FALSE,
  public = list(
    #' @description The study's archive (ZIP) as a raw vector, in memory.
    #' @return A raw vector.
    get_zip = function() {
      private$.client$get_studies_id_archive(private$.id)
    },

    #' @description Stream the study's archive (ZIP) to a file.
    #' @return `path`, invisibly.
    download = function(path) {
      stream_to_file(private$.client, paste0("/studies/", private$.id, "/archive"), path,
        call = quote(download())
      )
    },

    #' @description The tags whose value is the same in every instance of the
    #'   study.
    #' @return A named list.
    get_shared_tags = function(simplify = TRUE) {
      check_flag_arg(simplify, "simplify", call = quote(get_shared_tags()))
      private$.client$get_studies_id_shared_tags(private$.id, params = simplify_params(simplify))
    },

    #' @description With locked children: forget the series left without
    #'   instances. Does nothing otherwise.
    #' @return The study, invisibly.
    remove_empty_series = function() {
      private$remove_empty_children()
    }
  ),
  active = list(
    #' @field uid StudyInstanceUID.
    uid = function(value) {
      check_read_only(value, "uid")
      private$tag("StudyInstanceUID")
    },
    #' @field study_id StudyID.
    study_id = function(value) {
      check_read_only(value, "study_id")
      private$tag("StudyID")
    },
    #' @field date StudyDate, a `Date`.
    date = function(value) {
      check_read_only(value, "date")
      parse_dicom_date(private$tag("StudyDate"))
    },
    #' @field description StudyDescription.
    description = function(value) {
      check_read_only(value, "description")
      private$tag("StudyDescription")
    },
    #' @field accession_number AccessionNumber.
    accession_number = function(value) {
      check_read_only(value, "accession_number")
      private$tag("AccessionNumber")
    },
    #' @field referring_physician_name ReferringPhysicianName.
    referring_physician_name = function(value) {
      check_read_only(value, "referring_physician_name")
      private$tag("ReferringPhysicianName")
    },
    #' @field institution_name InstitutionName.
    institution_name = function(value) {
      check_read_only(value, "institution_name")
      private$tag("InstitutionName")
    },
    #' @field patient_information The patient's main DICOM tags (named list),
    #'   as the study's information holds them.
    patient_information = function(value) {
      check_read_only(value, "patient_information")
      private$info()$PatientMainDicomTags
    },
    #' @field parent_patient The [Patient] of the study.
    parent_patient = function(value) {
      check_read_only(value, "parent_patient")
      Patient$new(private$info()$ParentPatient, private$.client)
    },
    #' @field series The study's series (an `orthanc_resource_list` of
    #'   [Series]).
    series = function(value) {
      check_read_only(value, "series")
      private$children()
    },
    #' @field shared_tags The tags shared by all instances (simplified).
    shared_tags = function(value) {
      check_read_only(value, "shared_tags")
      self$get_shared_tags()
    }
  ),
  private = list(
    .level = "Study"
  )
)
