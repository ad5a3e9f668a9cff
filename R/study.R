#' A study stored in Orthanc
#'
#' @description
#' A [Resource] at the study level. Its series come from one expanded listing
#' (`GET /studies/{id}/series?expand`).
#'
#' What every level has (labels, `get_zip()`, `download()`,
#' `get_shared_tags()`, `anonymize()`, `modify()`, the fields `identifier`,
#' `main_dicom_tags`, `shared_tags`, ...) is documented in [Resource].
#'
#' @field uid StudyInstanceUID.
#' @field study_id StudyID.
#' @field date StudyDate, a `Date` (`NA` when absent).
#' @field description StudyDescription.
#' @field accession_number AccessionNumber.
#' @field referring_physician_name ReferringPhysicianName.
#' @field institution_name InstitutionName.
#' @field requesting_physician RequestingPhysician.
#' @field requested_procedure_description RequestedProcedureDescription.
#' @field patient_identifier Orthanc identifier of the study's patient.
#' @field parent_patient The [Patient] of the study.
#' @field series The study's series (an `orthanc_resource_list` of
#'   [Series]).
#'
#' @family resources
#' @include resource.R resource-fields.R
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
    #' @description With locked children: forget the series left without
    #'   instances. Does nothing otherwise.
    #' @return The study, invisibly.
    remove_empty_series = function() {
      private$remove_empty_children()
    }
  ),
  active = c(level_fields("Study"), read_only_fields(
    #' @field patient_information The patient's main DICOM tags (named list),
    #'   as the study's information holds them.
    patient_information = private$info()$PatientMainDicomTags
  )),
  private = list(
    .level = "Study"
  )
)
