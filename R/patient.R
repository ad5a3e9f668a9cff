#' A patient stored in Orthanc
#'
#' @description
#' A [Resource] at the patient level. Its studies come from one expanded
#' listing (`GET /patients/{id}/studies?expand`).
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
#' p <- find_patients(o, query = list(PatientName = "BRAINIX"))[[1]]
#' p$name
#' p$birth_date
#' p$studies
#' # Delete what this example stored (not what the server already had)
#' for (id in stored$id[stored$status == "Success"]) o$delete_instances_id(id)
Patient <- R6::R6Class("Patient",
  inherit = Resource,
  cloneable = FALSE,
  public = list(
    #' @description The patient's archive (ZIP) as a raw vector, in memory.
    #'   For large patients prefer `download()`.
    #' @return A raw vector.
    get_zip = function() {
      private$.client$get_patients_id_archive(private$.id)
    },

    #' @description Stream the patient's archive (ZIP) to a file.
    #' @return `path`, invisibly.
    download = function(path) {
      stream_to_file(private$.client, paste0("/patients/", private$.id, "/archive"), path,
        call = quote(download())
      )
    },

    #' @description The patient module (tags of the patient module of the
    #'   DICOM standard, from one of its instances).
    #' @return A named list.
    get_patient_module = function(simplify = TRUE) {
      check_flag_arg(simplify, "simplify", call = quote(get_patient_module()))
      private$.client$get_patients_id_module(private$.id, params = simplify_params(simplify))
    },

    #' @description The tags whose value is the same in every instance of the
    #'   patient.
    #' @return A named list.
    get_shared_tags = function(simplify = TRUE) {
      check_flag_arg(simplify, "simplify", call = quote(get_shared_tags()))
      private$.client$get_patients_id_shared_tags(private$.id, params = simplify_params(simplify))
    },

    #' @description With locked children: forget the studies (and series) left
    #'   without instances, e.g. after a filter. Does nothing otherwise.
    #' @return The patient, invisibly.
    remove_empty_studies = function() {
      private$remove_empty_children()
    }
  ),
  active = list(
    #' @field patient_id PatientID.
    patient_id = function(value) {
      check_read_only(value, "patient_id")
      private$tag("PatientID")
    },
    #' @field name PatientName.
    name = function(value) {
      check_read_only(value, "name")
      private$tag("PatientName")
    },
    #' @field birth_date PatientBirthDate, a `Date` (`NA` when absent).
    birth_date = function(value) {
      check_read_only(value, "birth_date")
      parse_dicom_date(private$tag("PatientBirthDate"))
    },
    #' @field sex PatientSex.
    sex = function(value) {
      check_read_only(value, "sex")
      private$tag("PatientSex")
    },
    #' @field other_patient_ids OtherPatientIDs (character, empty when absent).
    other_patient_ids = function(value) {
      check_read_only(value, "other_patient_ids")
      v <- private$tag("OtherPatientIDs")
      if (is.na(v) || !nzchar(v)) character() else strsplit(v, "\\", fixed = TRUE)[[1]]
    },
    #' @field protected Whether the patient is protected against recycling;
    #'   assign `TRUE` or `FALSE` to change it.
    protected = function(value) {
      if (missing(value)) {
        v <- private$.client$get_patients_id_protected(private$.id)
        return(identical(trimws(as.character(v)), "1") || isTRUE(v))
      }
      check_flag_arg(value, "protected", call = quote(protected))
      private$.client$put_patients_id_protected(private$.id, json = as.integer(value))
      invisible(value)
    },
    #' @field studies The patient's studies (an `orthanc_resource_list` of
    #'   [Study]).
    studies = function(value) {
      check_read_only(value, "studies")
      private$children()
    },
    #' @field shared_tags The tags shared by all instances (simplified).
    shared_tags = function(value) {
      check_read_only(value, "shared_tags")
      self$get_shared_tags()
    }
  ),
  private = list(
    .level = "Patient"
  )
)

simplify_params <- function(simplify) {
  if (simplify) list(simplify = "true") else NULL
}
