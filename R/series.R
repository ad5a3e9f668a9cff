#' A series stored in Orthanc
#'
#' @description
#' A [Resource] at the series level. Its instances come from one expanded
#' listing (`GET /series/{id}/instances?expand`).
#'
#' What every level has (labels, `get_zip()`, `download()`,
#' `get_shared_tags()`, `anonymize()`, `modify()`, the fields `identifier`,
#' `main_dicom_tags`, `shared_tags`, ...) is documented in [Resource].
#'
#' @field uid SeriesInstanceUID.
#' @field modality Modality.
#' @field series_number SeriesNumber (numeric).
#' @field description SeriesDescription.
#' @field date SeriesDate, a `Date` (`NA` when absent).
#' @field body_part_examined BodyPartExamined.
#' @field manufacturer Manufacturer.
#' @field protocol_name ProtocolName.
#' @field station_name StationName.
#' @field operators_name OperatorsName.
#' @field sequence_name SequenceName.
#' @field series_type SeriesType.
#' @field performed_procedure_step_description
#'   PerformedProcedureStepDescription.
#' @field acquisition_device_processing_description
#'   AcquisitionDeviceProcessingDescription.
#' @field contrast_bolus_agent ContrastBolusAgent.
#' @field cardiac_number_of_images CardiacNumberOfImages (numeric).
#' @field images_in_acquisition ImagesInAcquisition (numeric).
#' @field number_of_slices NumberOfSlices (numeric).
#' @field number_of_time_slices NumberOfTimeSlices (numeric).
#' @field number_of_temporal_positions NumberOfTemporalPositions (numeric).
#' @field image_orientation_patient ImageOrientationPatient (numeric vector,
#'   empty when absent).
#' @field study_identifier Orthanc identifier of the series' study.
#' @field parent_study The [Study] of the series.
#' @field parent_patient The [Patient] of the series (one request, whose
#'   answer fills it).
#' @field instances The series' instances (an `orthanc_resource_list` of
#'   [Instance]).
#'
#' @family resources
#' @include resource.R resource-fields.R
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
  active = c(level_fields("Series"), read_only_fields(
    #' @field num_instances Number of instances (from the series' information,
    #'   or the kept instances when locked).
    num_instances = length(private$.children %||% private$info()$Instances)
  )),
  private = list(
    .level = "Series"
  )
)
