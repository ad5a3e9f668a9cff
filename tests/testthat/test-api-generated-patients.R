# The /patients endpoint methods against a live Orthanc (server "a").
# Labels, metadata and attachments: test-api-generated-levels.R.
# Fixtures: study_local_patient() in helper-uncovered-study.R; wait_for_job(), zip_entries() in helper-server.R.

test_that("get_patients lists patients, with expand, since/limit and requested-tags", {
  o <- orthanc_client()
  x <- study_local_patient(o, series = 1)
  y <- study_local_patient(o, series = 1)

  ids <- o$get_patients()
  expect_type(ids, "list")
  ids <- unlist(ids)
  expect_type(ids, "character")
  expect_true(all(c(x$patient, y$patient) %in% ids))

  expect_equal(o$get_patients(params = list(since = 0, limit = 1)), list(ids[[1]]))
  expect_equal(o$get_patients(params = list(since = 1, limit = 1)), list(ids[[2]]))
  expect_length(o$get_patients(params = list(since = 0, limit = 2)), 2L)

  find_mine <- function(patients, id) Filter(function(p) identical(p$ID, id), patients)[[1]]
  expanded <- o$get_patients(params = list(expand = TRUE))
  expect_length(expanded, length(ids))
  mine <- find_mine(expanded, x$patient)
  expect_equal(mine$Type, "Patient")
  expect_equal(mine$MainDicomTags$PatientID, x$patient_id)
  expect_equal(mine$MainDicomTags$PatientName, "STUDY^GROUP")
  expect_equal(mine$Studies, list(x$study))

  one <- find_mine(
    o$get_patients(params = list(expand = TRUE, "requested-tags" = "PatientSex")),
    y$patient
  )
  expect_equal(one$RequestedTags, list(PatientSex = "O"))
  # The documented list syntax: ";"-separated, names or "gggg,eeee".
  two <- find_mine(
    o$get_patients(params = list(expand = TRUE, "requested-tags" = "0010,0040;PatientName")),
    y$patient
  )
  expect_equal(two$RequestedTags$PatientSex, "O")
  expect_equal(two$RequestedTags$PatientName, "STUDY^GROUP")
})

test_that("a patient's info, children, modules, tags and statistics", {
  o <- orthanc_client()
  x <- study_local_patient(o, series = 2)

  info <- o$get_patients_id(x$patient)
  expect_equal(info$ID, x$patient)
  expect_equal(info$Type, "Patient")
  expect_equal(info$Studies, list(x$study))
  expect_equal(info$MainDicomTags$PatientID, x$patient_id)
  expect_equal(info$MainDicomTags$PatientName, "STUDY^GROUP")
  expect_equal(info$Labels, list())
  req <- o$get_patients_id(x$patient, params = list("requested-tags" = "PatientSex;PatientID"))
  expect_equal(req$RequestedTags$PatientSex, "O")
  expect_equal(req$RequestedTags$PatientID, x$patient_id)
  short <- o$get_patients_id(x$patient, params = list(short = TRUE))
  expect_equal(short$MainDicomTags[["0010,0020"]], x$patient_id)

  studies <- o$get_patients_id_studies(x$patient)
  expect_length(studies, 1L)
  expect_equal(studies[[1]]$ID, x$study)
  expect_equal(studies[[1]]$Type, "Study")
  expect_equal(studies[[1]]$ParentPatient, x$patient)
  expect_equal(studies[[1]]$MainDicomTags$StudyInstanceUID, x$study_uid)
  expect_equal(o$get_patients_id_studies(x$patient, params = list(expand = FALSE)), list(x$study))

  series <- o$get_patients_id_series(x$patient)
  expect_length(series, 2L)
  expect_setequal(vapply(series, `[[`, "", "ID"), x$series)
  expect_true(all(vapply(series, `[[`, "", "ParentStudy") == x$study))
  expect_setequal(
    vapply(series, function(s) s$MainDicomTags$SeriesDescription, ""),
    c("series 1", "series 2")
  )
  expect_setequal(unlist(o$get_patients_id_series(x$patient, params = list(expand = FALSE))), x$series)

  instances <- o$get_patients_id_instances(x$patient)
  expect_length(instances, 2L)
  expect_setequal(vapply(instances, `[[`, "", "ID"), x$instances)
  expect_true(all(vapply(instances, `[[`, "", "Type") == "Instance"))
  expect_setequal(unlist(o$get_patients_id_instances(x$patient, params = list(expand = FALSE))), x$instances)

  tags <- o$get_patients_id_instances_tags(x$patient, params = list(simplify = TRUE))
  expect_setequal(names(tags), x$instances)
  expect_equal(unname(vapply(tags, `[[`, "", "PatientName")), rep("STUDY^GROUP", 2))
  expect_setequal(unname(vapply(tags, `[[`, "", "SeriesDescription")), c("series 1", "series 2"))
  full <- o$get_patients_id_instances_tags(x$patient)
  expect_equal(full[[x$instances[[1]]]][["0010,0020"]]$Value, x$patient_id)

  shared <- o$get_patients_id_shared_tags(x$patient, params = list(simplify = TRUE))
  expect_equal(shared$PatientID, x$patient_id)
  expect_equal(shared$StudyInstanceUID, x$study_uid)
  expect_null(shared$SeriesInstanceUID)
  short <- o$get_patients_id_shared_tags(x$patient, params = list(short = TRUE))
  expect_equal(short[["0010,0010"]], "STUDY^GROUP")
  expect_null(short[["0020,000e"]])

  module <- o$get_patients_id_module(x$patient)
  expect_equal(module[["0010,0020"]]$Name, "PatientID")
  expect_equal(module[["0010,0020"]]$Value, x$patient_id)
  module <- o$get_patients_id_module(x$patient, params = list(simplify = TRUE))
  expect_equal(module$PatientSex, "O")
  expect_null(module$StudyInstanceUID)

  stats <- o$get_patients_id_statistics(x$patient)
  expect_equal(stats$CountStudies, 1L)
  expect_equal(stats$CountSeries, 2L)
  expect_equal(stats$CountInstances, 2L)
  expect_gt(as.numeric(stats$DiskSize), 0)
  expect_equal(stats$DiskSize, o$get_studies_id_statistics(x$study)$DiskSize)
})

test_that("a patient is protected against recycling and unprotected", {
  o <- orthanc_client()
  x <- study_local_patient(o, series = 1)

  expect_equal(o$get_patients_id_protected(x$patient), "0")
  # json = 1 is sent as the JSON body `1`, json = TRUE as `true`; Orthanc takes both.
  expect_null(o$put_patients_id_protected(x$patient, json = 1))
  expect_equal(o$get_patients_id_protected(x$patient), "1")
  o$put_patients_id_protected(x$patient, json = 0)
  expect_equal(o$get_patients_id_protected(x$patient), "0")
  o$put_patients_id_protected(x$patient, json = TRUE)
  expect_equal(o$get_patients_id_protected(x$patient), "1")
  o$put_patients_id_protected(x$patient, json = FALSE)
  expect_equal(o$get_patients_id_protected(x$patient), "0")
})

test_that("patients are anonymized and modified, synchronously and as jobs", {
  o <- orthanc_client()
  x <- study_local_patient(o, series = 2)

  anon <- o$post_patients_id_anonymize(x$patient, json = list(Replace = list(PatientName = "ANON^PATIENT")))
  study_defer_delete_patient(o, anon$ID)
  expect_equal(anon$Type, "Patient")
  expect_true(anon$IsAnonymization)
  expect_equal(anon$InstancesCount, 2L)
  expect_equal(anon$ParentResources, list(x$patient))
  expect_equal(anon$PatientID, anon$ID)
  expect_false(anon$ID == x$patient)
  new <- o$get_patients_id(anon$ID)
  expect_equal(new$MainDicomTags$PatientName, "ANON^PATIENT")
  expect_false(identical(new$MainDicomTags$PatientID, x$patient_id))
  expect_length(new$Studies, 1L)
  new_study <- o$get_studies_id(new$Studies[[1]])
  expect_false(identical(new_study$MainDicomTags$StudyInstanceUID, x$study_uid))
  # The source is kept.
  expect_equal(o$get_patients_id(x$patient)$MainDicomTags$PatientName, "STUDY^GROUP")

  job <- o$post_patients_id_anonymize(x$patient, json = list(Asynchronous = TRUE, KeepSource = TRUE))
  done <- wait_for_job(o, job$ID)
  study_defer_delete_patient(o, done$Content$ID)
  expect_equal(done$Type, "ResourceModification")
  expect_equal(done$Content$Type, "Patient")
  expect_true(done$Content$IsAnonymization)
  expect_false(identical(o$get_patients_id(done$Content$ID)$MainDicomTags$PatientID, x$patient_id))

  new_pid <- paste0(x$patient_id, ".9")
  mod <- o$post_patients_id_modify(x$patient, json = list(
    Replace = list(PatientID = new_pid, PatientName = "MODIFIED^NAME"),
    Force = TRUE
  ))
  study_defer_delete_patient(o, mod$ID)
  expect_equal(mod$Type, "Patient")
  expect_false(mod$IsAnonymization)
  expect_false(mod$ID == x$patient)
  modified <- o$get_patients_id(mod$ID)
  expect_equal(modified$MainDicomTags$PatientID, new_pid)
  expect_equal(modified$MainDicomTags$PatientName, "MODIFIED^NAME")
  tags <- o$get_patients_id_shared_tags(mod$ID, params = list(simplify = TRUE))
  expect_equal(tags$PatientName, "MODIFIED^NAME")

  job <- o$post_patients_id_modify(x$patient, json = list(
    Replace = list(PatientID = paste0(x$patient_id, ".8"), PatientSex = "F"),
    Force = TRUE,
    Asynchronous = TRUE
  ))
  done <- wait_for_job(o, job$ID)
  study_defer_delete_patient(o, done$Content$ID)
  expect_equal(done$Content$Type, "Patient")
  expect_false(done$Content$IsAnonymization)
  modified <- o$get_patients_id(done$Content$ID, params = list("requested-tags" = "PatientSex"))
  expect_equal(modified$MainDicomTags$PatientID, paste0(x$patient_id, ".8"))
  expect_equal(modified$RequestedTags$PatientSex, "F")
})

test_that("patient archive and media are ZIP files, also made by jobs", {
  o <- orthanc_client()
  x <- study_local_patient(o, series = 2)
  zip_magic <- as.raw(c(0x50, 0x4b, 0x03, 0x04))

  zip <- o$get_patients_id_archive(x$patient, params = list(filename = "patient.zip"))
  expect_type(zip, "raw")
  expect_identical(zip[1:4], zip_magic)
  expect_match(orthanc_last_response(o)$headers[["content-disposition"]], "patient.zip", fixed = TRUE)
  entries <- zip_entries(zip)$Name
  expect_length(entries, 2L)
  expect_true(all(startsWith(entries, gsub("[^A-Za-z0-9]", "", x$patient_id))))

  zip <- o$post_patients_id_archive(x$patient, json = list(Synchronous = TRUE))
  expect_identical(zip[1:4], zip_magic)
  expect_length(zip_entries(zip)$Name, 2L)

  media <- o$get_patients_id_media(x$patient)
  expect_identical(media[1:4], zip_magic)
  entries <- zip_entries(media)$Name
  expect_true("DICOMDIR" %in% entries)
  expect_equal(sum(grepl("^IMAGES/", entries)), 2L)

  media <- o$post_patients_id_media(x$patient, json = list(Synchronous = TRUE))
  expect_identical(media[1:4], zip_magic)
  expect_true("DICOMDIR" %in% zip_entries(media)$Name)

  job <- o$post_patients_id_archive(x$patient, json = list(Asynchronous = TRUE))
  done <- wait_for_job(o, job$ID)
  expect_equal(done$Type, "Archive")
  expect_equal(done$Content$InstancesCount, 2L)
  expect_length(zip_entries(o$get_jobs_id_key(job$ID, "archive"))$Name, 2L)

  job <- o$post_patients_id_media(x$patient, json = list(Asynchronous = TRUE, Extended = TRUE))
  done <- wait_for_job(o, job$ID)
  expect_equal(done$Type, "Media")
  expect_true("DICOMDIR" %in% zip_entries(o$get_jobs_id_key(job$ID, "archive"))$Name)
})

test_that("a patient is reconstructed, then deleted with everything in it", {
  o <- orthanc_client()
  x <- study_local_patient(o, series = 2)
  before <- o$get_patients_id(x$patient)

  expect_null(o$post_patients_id_reconstruct(x$patient))
  expect_null(o$post_patients_id_reconstruct(x$patient, json = list(LimitToThisLevelMainDicomTags = TRUE)))
  after <- o$get_patients_id(x$patient)
  expect_equal(after$MainDicomTags, before$MainDicomTags)
  expect_equal(after$Studies, list(x$study))

  res <- withVisible(o$delete_patients_id(x$patient))
  expect_false(res$visible)
  expect_true(is.null(res$value$RemainingAncestor))
  expect_false(x$patient %in% unlist(o$get_patients()))
  expect_error(o$get_patients_id(x$patient), class = "orthanc_http_404")
  expect_error(o$get_studies_id(x$study), class = "orthanc_http_404")
  for (i in x$instances) {
    expect_error(o$get_instances_id(i), class = "orthanc_http_404")
  }
  expect_error(o$delete_patients_id(x$patient), class = "orthanc_http_404")
})
