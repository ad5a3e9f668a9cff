# Fixtures of the resource layer tests: small DICOM trees made by Orthanc itself
# (/tools/create-dicom) under a patient ID of their own, so that tests running
# at the same time on the shared servers never see each other's data.

unique_patient_id <- function(prefix = "RLAYER") {
  paste0(prefix, "-", format(Sys.time(), "%H%M%OS3"), "-", Sys.getpid(), "-", sample.int(1e6, 1L))
}

# Secondary Capture: a SOP class every DICOM node accepts (C-STORE needs one).
secondary_capture <- "1.2.840.10008.5.1.4.1.1.7"

# One patient with `studies` studies, each with `series` series of
# `instances` instances. Returns the patient ID, the Orthanc IDs of the patient,
# studies, series and instances; deletes the patient when the calling test ends.
local_patient_tree <- function(client, studies = 1L, series = 1L, instances = 1L,
                               patient_id = unique_patient_id(), env = parent.frame(),
                               modalities = c("CT", "MR", "US")) {
  ids <- list(patient = NULL, studies = character(), series = character(), instances = character())
  for (s in seq_len(studies)) {
    first <- client$post_tools_create_dicom(json = list(Tags = list(
      PatientID = patient_id, PatientName = "LAYER^TEST", PatientBirthDate = "19800102",
      PatientSex = "F", `0010,1000` = "OTHER1\\OTHER2", # OtherPatientIDs, by number: 1.10.1 names it differently
      StudyDate = sprintf("202001%02d", s), StudyDescription = paste("Study", s),
      AccessionNumber = paste0("ACC", s), StudyID = paste0("S", s),
      ReferringPhysicianName = "REF^DOC", InstitutionName = "LAYER HOSPITAL",
      Modality = modalities[1], SeriesNumber = "1", SeriesDescription = "Series 1",
      SeriesDate = "20200101", BodyPartExamined = "HEAD", Manufacturer = "ACME",
      ProtocolName = "PROTO1", InstanceNumber = "1", SOPClassUID = secondary_capture,
      ImagePositionPatient = "1.5\\-2\\3", ImageOrientationPatient = "1\\0\\0\\0\\1\\0"
    )))
    if (is.null(ids$patient)) {
      ids$patient <- first$ParentPatient
      withr::defer(try(client$delete_patients_id(ids$patient), silent = TRUE), envir = env)
    }
    ids$studies <- c(ids$studies, first$ParentStudy)
    ids$series <- c(ids$series, first$ParentSeries)
    ids$instances <- c(ids$instances, first$ID)
    series_id <- first$ParentSeries
    for (k in seq_len(series)) {
      if (k > 1L) {
        r <- client$post_tools_create_dicom(json = list(Parent = first$ParentStudy, Tags = list(
          Modality = modalities[(k - 1L) %% length(modalities) + 1L],
          SeriesNumber = as.character(k), SeriesDescription = paste("Series", k),
          InstanceNumber = "1", SOPClassUID = secondary_capture
        )))
        series_id <- r$ParentSeries
        ids$series <- c(ids$series, series_id)
        ids$instances <- c(ids$instances, r$ID)
      }
      for (j in seq_len(instances - 1L)) {
        r <- client$post_tools_create_dicom(json = list(Parent = series_id, Tags = list(
          InstanceNumber = as.character(j + 1L), SOPClassUID = secondary_capture
        )))
        ids$instances <- c(ids$instances, r$ID)
      }
    }
  }
  ids$patient_id <- patient_id
  ids
}

# Delete a resource (any level) when the calling test ends.
defer_delete <- function(client, level, id, env = parent.frame()) {
  f <- switch(level,
    Patient = client$delete_patients_id, Study = client$delete_studies_id,
    Series = client$delete_series_id, Instance = client$delete_instances_id
  )
  withr::defer(try(f(id), silent = TRUE), envir = env)
}

# The number of requests a client sends while `expr` runs (the recording
# client of helper-server.R counts its endpoint calls).
count_calls <- function(expr) {
  before <- sum(unlist(as.list(endpoint_calls)))
  force(expr)
  sum(unlist(as.list(endpoint_calls))) - before
}
