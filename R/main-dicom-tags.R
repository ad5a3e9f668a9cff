# The value representations of the main DICOM tags (Orthanc's defaults, plus a
# few extra ones that can be configured): DA is read as a Date, IS/DS/US as
# numbers when single-valued; anything else (and tags not listed) as text.
main_dicom_tag_vrs <- c(
  # Patient
  PatientName = "PN", PatientID = "LO", PatientBirthDate = "DA", PatientSex = "CS",
  OtherPatientIDs = "LO",
  # Study
  StudyDate = "DA", StudyTime = "TM", AccessionNumber = "SH", InstitutionName = "LO",
  ReferringPhysicianName = "PN", TimezoneOffsetFromUTC = "SH", StudyDescription = "LO",
  StudyInstanceUID = "UI", StudyID = "SH", RequestingPhysician = "PN",
  RequestedProcedureDescription = "LO",
  # Series
  SeriesDate = "DA", SeriesTime = "TM", Modality = "CS", Manufacturer = "LO",
  StationName = "SH", SeriesDescription = "LO", OperatorsName = "PN",
  ContrastBolusAgent = "LO", BodyPartExamined = "CS", SequenceName = "SH",
  ProtocolName = "LO", CardiacNumberOfImages = "IS",
  AcquisitionDeviceProcessingDescription = "LO", SeriesInstanceUID = "UI",
  SeriesNumber = "IS", ImageOrientationPatient = "DS", NumberOfTemporalPositions = "IS",
  ImagesInAcquisition = "IS", PerformedProcedureStepStartDate = "DA",
  PerformedProcedureStepStartTime = "TM", PerformedProcedureStepDescription = "LO",
  NumberOfSlices = "US", NumberOfTimeSlices = "US", SeriesType = "CS",
  # Instance
  InstanceCreationDate = "DA", InstanceCreationTime = "TM", SOPInstanceUID = "UI",
  AcquisitionNumber = "IS", InstanceNumber = "IS", ImagePositionPatient = "DS",
  TemporalPositionIdentifier = "IS", ImageComments = "LT", NumberOfFrames = "IS",
  ImageIndex = "US", SOPClassUID = "UI", AcquisitionDate = "DA", ContentDate = "DA",
  SliceLocation = "DS", SliceThickness = "DS"
)

# Convert the values (character, NA where absent) of one main DICOM tag.
convert_tag_column <- function(name, values) {
  vr <- main_dicom_tag_vrs[name]
  if (is.na(vr)) {
    return(values)
  }
  if (vr == "DA") {
    return(parse_dicom_date(values))
  }
  if (vr %in% c("IS", "DS", "US")) {
    multi <- !is.na(values) & grepl("\\", values, fixed = TRUE)
    if (any(multi)) {
      return(values) # e.g. ImagePositionPatient: kept as "x\\y\\z"
    }
    return(suppressWarnings(as.numeric(values)))
  }
  values
}

# Main DICOM tags holding several values ("a\\b\\c"), read as vectors by the
# fields of the resource classes.
multi_valued_main_tags <- c("OtherPatientIDs", "ImagePositionPatient", "ImageOrientationPatient")

# One main DICOM tag (a string, NA when absent) as a field of a resource gives
# it: a Date for DA; a number for IS, DS and US (NA when not a number); a
# vector for multi-valued tags (numeric or character, empty when absent); else
# the text.
main_tag_value <- function(name, value) {
  vr <- main_dicom_tag_vrs[name]
  numeric <- !is.na(vr) && vr %in% c("IS", "DS", "US")
  if (name %in% multi_valued_main_tags) {
    parts <- if (is.na(value) || !nzchar(value)) character() else strsplit(value, "\\", fixed = TRUE)[[1]]
    return(if (numeric) suppressWarnings(as.numeric(trimws(parts))) else parts)
  }
  if (!is.na(vr) && vr == "DA") {
    return(parse_dicom_date(value))
  }
  if (numeric) suppressWarnings(as.numeric(value)) else value
}
