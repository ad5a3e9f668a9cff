# Group "study": the /studies and /patients endpoint methods, tested in
# test-api-generated-levels.R (what both levels have) and
# test-api-generated-studies.R, test-api-generated-patients.R (what one has).
#
# Every one of them is exercised, so nothing is registered with
# not_exercised() here. The small fixtures below are shared by those files.

# A synthetic patient with one study of `series` series (one instance each),
# with a PatientID that no other test uses. The patient (and so everything in
# it) is deleted when the calling test ends.
study_local_patient <- function(client, series = 2L, env = parent.frame()) {
  patient_id <- client$get_tools_generate_uid(level = "patient")
  study_uid <- client$get_tools_generate_uid(level = "study")
  series_uids <- vapply(seq_len(series), function(i) {
    client$get_tools_generate_uid(level = "series")
  }, character(1))
  created <- lapply(seq_len(series), function(i) {
    client$post_tools_create_dicom(json = list(
      Tags = list(
        PatientID = patient_id,
        PatientName = "STUDY^GROUP",
        PatientSex = "O",
        StudyInstanceUID = study_uid,
        StudyDescription = "study group test",
        AccessionNumber = "STUDYACC",
        SeriesInstanceUID = series_uids[[i]],
        SeriesDescription = paste("series", i),
        SeriesNumber = as.character(i),
        Modality = "OT",
        SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
      ),
      Force = TRUE
    ))
  })
  patient <- created[[1]]$ParentPatient
  study_defer_delete_patient(client, patient, env = env)
  list(
    patient = patient,
    study = created[[1]]$ParentStudy,
    series = vapply(created, function(x) x$ParentSeries, character(1)),
    instances = vapply(created, function(x) x$ID, character(1)),
    patient_id = patient_id,
    study_uid = study_uid,
    series_uids = series_uids
  )
}

# Delete a patient (e.g. one created by anonymize/modify) when the test ends.
study_defer_delete_patient <- function(client, patient, env = parent.frame()) {
  withr::defer(try(client$delete_patients_id(patient), silent = TRUE), envir = env)
  invisible(patient)
}




# Run `expr` (a request expected to answer 304 Not Modified) and return the
# status of the answer, whether the client treats 304 as an error or not.
study_status_of <- function(client, expr) {
  tryCatch(expr, orthanc_http_error = function(e) NULL)
  orthanc_last_response(client)$status
}
