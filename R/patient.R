#' A patient stored in Orthanc
#'
#' @description
#' A [Resource] at the patient level. Its studies come from one expanded
#' listing (`GET /patients/{id}/studies?expand`).
#'
#' What every level has (labels, `get_zip()`, `download()`,
#' `get_shared_tags()`, `anonymize()`, `modify()`, the fields `identifier`,
#' `main_dicom_tags`, `shared_tags`, ...) is documented in [Resource].
#'
#' @param simplify Whether tags are named by keyword with plain values
#'   (`TRUE`, Orthanc's `simplify`) or by group/element with names, types and
#'   values (`FALSE`).
#' @field patient_id PatientID.
#' @field name PatientName.
#' @field birth_date PatientBirthDate, a `Date` (`NA` when absent).
#' @field sex PatientSex.
#' @field other_patient_ids OtherPatientIDs (character, empty when absent).
#' @field studies The patient's studies (an `orthanc_resource_list` of
#'   [Study]).
#'
#' @family resources
#' @include resource.R resource-fields.R
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
    #' @description The patient module (tags of the patient module of the
    #'   DICOM standard, from one of its instances).
    #' @return A named list.
    get_patient_module = function(simplify = TRUE) {
      check_flag_arg(simplify, "simplify", call = quote(get_patient_module()))
      private$.client$get_patients_id_module(private$.id, params = simplify_params(simplify))
    },

    #' @description With locked children: forget the studies (and series) left
    #'   without instances, e.g. after a filter. Does nothing otherwise.
    #' @return The patient, invisibly.
    remove_empty_studies = function() {
      private$remove_empty_children()
    }
  ),
  active = c(level_fields("Patient"), list(
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
    }
  )),
  private = list(
    .level = "Patient"
  )
)
