# The read-only fields (active bindings) that the classes Patient, Study,
# Series and Instance make the same way, from their level: one per main DICOM
# tag of `main_tag_fields[[level]]`, the Orthanc identifier of the parent
# (`patient_identifier`, ...), the resources above (`parent_patient`, ...) and
# the children (`studies`, `series`, `instances`). Each class takes them with
# `active = c(level_fields("Study"), list(...))` and documents them with
# `@field` in its own help page.
#' @include resource-levels.R main-dicom-tags.R layer-utils.R
NULL

# Fields reading one main DICOM tag, by level: field name = tag. Values are
# typed by main_tag_value(): dates as Date, numbers as numeric, multi-valued
# tags as vectors, the rest as text; NA when absent.
main_tag_fields <- list(
  Patient = c(
    patient_id = "PatientID", name = "PatientName", birth_date = "PatientBirthDate",
    sex = "PatientSex", other_patient_ids = "OtherPatientIDs"
  ),
  Study = c(
    uid = "StudyInstanceUID", study_id = "StudyID", date = "StudyDate",
    description = "StudyDescription", accession_number = "AccessionNumber",
    referring_physician_name = "ReferringPhysicianName", institution_name = "InstitutionName",
    requesting_physician = "RequestingPhysician",
    requested_procedure_description = "RequestedProcedureDescription"
  ),
  Series = c(
    uid = "SeriesInstanceUID", modality = "Modality", series_number = "SeriesNumber",
    description = "SeriesDescription", date = "SeriesDate", body_part_examined = "BodyPartExamined",
    manufacturer = "Manufacturer", protocol_name = "ProtocolName", station_name = "StationName",
    operators_name = "OperatorsName", sequence_name = "SequenceName", series_type = "SeriesType",
    performed_procedure_step_description = "PerformedProcedureStepDescription",
    acquisition_device_processing_description = "AcquisitionDeviceProcessingDescription",
    contrast_bolus_agent = "ContrastBolusAgent", cardiac_number_of_images = "CardiacNumberOfImages",
    images_in_acquisition = "ImagesInAcquisition", number_of_slices = "NumberOfSlices",
    number_of_time_slices = "NumberOfTimeSlices", number_of_temporal_positions = "NumberOfTemporalPositions",
    image_orientation_patient = "ImageOrientationPatient"
  ),
  Instance = c(
    uid = "SOPInstanceUID", instance_number = "InstanceNumber", creation_date = "InstanceCreationDate",
    image_position_patient = "ImagePositionPatient", image_orientation_patient = "ImageOrientationPatient",
    acquisition_number = "AcquisitionNumber", image_index = "ImageIndex", image_comments = "ImageComments",
    temporal_position_identifier = "TemporalPositionIdentifier"
  )
)

# The active bindings of the fields above for one level, a named list.
level_fields <- function(level) {
  exprs <- lapply(main_tag_fields[[level]], function(tag) bquote(private$tag_value(.(tag))))
  parent <- level_parent(level)
  if (!is.null(parent)) {
    field <- level_parent_field(level)
    exprs[[paste0(tolower(parent), "_identifier")]] <- bquote(private$info()[[.(field)]])
  }
  for (above in levels_above(level)) {
    exprs[[paste0("parent_", tolower(above))]] <- bquote(private$parent(.(above)))
  }
  child <- level_child(level)
  if (!is.null(child)) exprs[[level_prefix(child)]] <- quote(private$children())
  Map(read_only_binding, names(exprs), exprs)
}
