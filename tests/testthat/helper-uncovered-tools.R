# Group "tools": every endpoint method that is not under /instances, /series,
# /studies or /patients (tools, system, statistics, changes, exports, jobs,
# plugins, modalities, peers, queries, storage commitment), tested in
# test-api-generated-tools.R, test-api-generated-system.R, test-api-generated-network.R and
# test-api-generated-reset.R.
#
# Every one of them is called with assertions on what comes back, so nothing is
# registered with not_exercised() here. get_plugins_id() reads the gdcm and
# neuro plugins that dev/orthanc-server loads (and a 404 for an unknown one).
# One can only be exercised through an error on these servers, and the tests
# assert that error:
# - post_modalities_id_find_worklist(): server B has no worklist plugin, so it
#   refuses the Modality Worklist presentation context; the tests check the 500
#   "No acceptable presentation context" answer.
#
# The small fixtures below are shared by those files.


# A synthetic patient with `n` Secondary Capture instances in one series, with a
# PatientID that no other test uses. Deleted (by PatientID, on every client in
# `cleanup`) when the calling test ends. Returns the PatientID, the Orthanc IDs
# and the DICOM UIDs.
tools_local_patient <- function(client, n = 1L, cleanup = list(client), env = parent.frame(),
                                name = "TOOLS^SYNTHETIC") {
  pid <- paste0("TOOLS-", client$get_tools_generate_uid(level = "patient"))
  study <- client$get_tools_generate_uid(level = "study")
  series <- client$get_tools_generate_uid(level = "series")
  for (cl in cleanup) tools_defer_delete_patient(cl, pid, env)
  made <- lapply(seq_len(n), function(i) {
    client$post_tools_create_dicom(json = list(Tags = list(
      PatientID = pid, PatientName = name,
      StudyInstanceUID = study, SeriesInstanceUID = series,
      SOPClassUID = "1.2.840.10008.5.1.4.1.1.7", Modality = "OT",
      StudyDescription = "tools group", InstanceNumber = as.character(i)
    ), Force = TRUE))
  })
  list(
    patient_id = pid,
    patient = made[[1]]$ParentPatient,
    study = made[[1]]$ParentStudy,
    series = made[[1]]$ParentSeries,
    instances = vapply(made, `[[`, "", "ID"),
    study_uid = study,
    series_uid = series
  )
}

# Orthanc IDs of the instances of a PatientID on a server.
tools_instances_of <- function(client, patient_id) {
  unlist(client$post_tools_find(json = list(Level = "Instance", Query = list(PatientID = patient_id))))
}

# Delete everything with this PatientID on a server when `env` ends.
tools_defer_delete_patient <- function(client, patient_id, env = parent.frame()) {
  force(client)
  force(patient_id)
  withr::defer(
    try({
      ids <- unlist(client$post_tools_find(json = list(Level = "Patient", Query = list(PatientID = patient_id))))
      if (length(ids)) client$post_tools_bulk_delete(json = list(Resources = as.list(ids)))
    }, silent = TRUE),
    envir = env
  )
}

tools_version_at_least <- function(client, version) {
  utils::compareVersion(client$get_system()$Version, version) >= 0
}
