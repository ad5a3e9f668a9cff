# The /studies endpoint methods against a live Orthanc (server "a").
# Labels, metadata and attachments: test-api-generated-levels.R.
# Fixtures: study_local_patient(), wait_for_job(), ... in helper-uncovered-study.R.

test_that("get_studies lists studies, with expand, since/limit and requested-tags", {
  o <- orthanc_client()
  x <- study_local_patient(o, series = 1)
  y <- study_local_patient(o, series = 1)

  ids <- o$get_studies()
  expect_type(ids, "list")
  ids <- unlist(ids)
  expect_type(ids, "character")
  expect_true(all(c(x$study, y$study) %in% ids))

  # since/limit page through the same list.
  expect_equal(o$get_studies(params = list(since = 0, limit = 1)), list(ids[[1]]))
  expect_equal(o$get_studies(params = list(since = 1, limit = 1)), list(ids[[2]]))
  expect_length(o$get_studies(params = list(since = 0, limit = 2)), 2L)

  find_mine <- function(studies, id) Filter(function(s) identical(s$ID, id), studies)[[1]]
  expanded <- o$get_studies(params = list(expand = TRUE))
  expect_length(expanded, length(ids))
  mine <- find_mine(expanded, x$study)
  expect_equal(mine$Type, "Study")
  expect_equal(mine$ParentPatient, x$patient)
  expect_equal(mine$MainDicomTags$StudyInstanceUID, x$study_uid)
  expect_equal(mine$MainDicomTags$StudyDescription, "study group test")
  expect_equal(mine$PatientMainDicomTags$PatientID, x$patient_id)
  expect_equal(mine$Series, list(x$series[[1]]))

  one <- find_mine(
    o$get_studies(params = list(expand = TRUE, "requested-tags" = "AccessionNumber")),
    y$study
  )
  expect_equal(one$RequestedTags, list(AccessionNumber = "STUDYACC"))

  # The documented list syntax: tags separated by ";", as names or "gggg,eeee".
  # Orthanc 1.12.7 does not percent-decode query values, so "," and ";" must
  # reach it as they are.
  two <- find_mine(
    o$get_studies(params = list(expand = TRUE, "requested-tags" = "0010,0020;StudyDescription")),
    y$study
  )
  expect_equal(two$RequestedTags$PatientID, y$patient_id)
  expect_equal(two$RequestedTags$StudyDescription, "study group test")
})

test_that("a study's info, children, parent, modules, tags and statistics", {
  o <- orthanc_client()
  x <- study_local_patient(o, series = 2)

  info <- o$get_studies_id(x$study)
  expect_equal(info$ID, x$study)
  expect_equal(info$Type, "Study")
  expect_equal(info$ParentPatient, x$patient)
  expect_setequal(unlist(info$Series), x$series)
  expect_equal(info$MainDicomTags$StudyInstanceUID, x$study_uid)
  expect_equal(info$MainDicomTags$AccessionNumber, "STUDYACC")
  expect_equal(info$PatientMainDicomTags$PatientName, "STUDY^GROUP")
  expect_type(info$IsStable, "logical")
  req <- o$get_studies_id(x$study, params = list("requested-tags" = "PatientSex"))
  expect_equal(req$RequestedTags, list(PatientSex = "O"))
  short <- o$get_studies_id(x$study, params = list(short = TRUE))
  expect_equal(short$MainDicomTags[["0020,000d"]], x$study_uid)

  series <- o$get_studies_id_series(x$study)
  expect_length(series, 2L)
  expect_setequal(vapply(series, `[[`, "", "ID"), x$series)
  for (s in series) {
    expect_equal(s$Type, "Series")
    expect_equal(s$ParentStudy, x$study)
    expect_equal(s$MainDicomTags$Modality, "OT")
  }
  expect_setequal(
    vapply(series, function(s) s$MainDicomTags$SeriesInstanceUID, ""),
    x$series_uids
  )
  expect_setequal(unlist(o$get_studies_id_series(x$study, params = list(expand = FALSE))), x$series)

  instances <- o$get_studies_id_instances(x$study)
  expect_length(instances, 2L)
  expect_setequal(vapply(instances, `[[`, "", "ID"), x$instances)
  expect_true(all(vapply(instances, `[[`, "", "Type") == "Instance"))
  expect_setequal(unlist(o$get_studies_id_instances(x$study, params = list(expand = FALSE))), x$instances)

  tags <- o$get_studies_id_instances_tags(x$study, params = list(simplify = TRUE))
  expect_setequal(names(tags), x$instances)
  expect_equal(unname(vapply(tags, `[[`, "", "PatientID")), rep(x$patient_id, 2))
  expect_setequal(unname(vapply(tags, `[[`, "", "SeriesInstanceUID")), x$series_uids)
  hex <- o$get_studies_id_instances_tags(x$study, params = list(short = TRUE))
  expect_equal(hex[[x$instances[[1]]]][["0020,000d"]], x$study_uid)

  shared <- o$get_studies_id_shared_tags(x$study, params = list(simplify = TRUE))
  expect_equal(shared$StudyInstanceUID, x$study_uid)
  expect_equal(shared$PatientID, x$patient_id)
  # The series differ, so their UID is not shared.
  expect_null(shared$SeriesInstanceUID)
  expect_null(shared$SeriesDescription)
  full <- o$get_studies_id_shared_tags(x$study)
  expect_equal(full[["0020,000d"]]$Name, "StudyInstanceUID")
  expect_equal(full[["0020,000d"]]$Value, x$study_uid)

  module <- o$get_studies_id_module(x$study)
  expect_equal(module[["0020,000d"]]$Value, x$study_uid)
  expect_equal(module[["0008,1030"]]$Name, "StudyDescription")
  module <- o$get_studies_id_module(x$study, params = list(simplify = TRUE))
  expect_equal(module$StudyDescription, "study group test")
  expect_equal(module$AccessionNumber, "STUDYACC")
  expect_null(module$PatientID)

  pmodule <- o$get_studies_id_module_patient(x$study, params = list(simplify = TRUE))
  expect_equal(pmodule$PatientID, x$patient_id)
  expect_equal(pmodule$PatientName, "STUDY^GROUP")
  expect_equal(pmodule$PatientSex, "O")
  pmodule <- o$get_studies_id_module_patient(x$study, params = list(short = TRUE))
  expect_equal(pmodule[["0010,0020"]], x$patient_id)

  patient <- o$get_studies_id_patient(x$study)
  expect_equal(patient$ID, x$patient)
  expect_equal(patient$Type, "Patient")
  expect_equal(patient$MainDicomTags$PatientID, x$patient_id)
  expect_equal(patient$Studies, list(x$study))

  stats <- o$get_studies_id_statistics(x$study)
  expect_equal(stats$CountSeries, 2L)
  expect_equal(stats$CountInstances, 2L)
  expect_gt(as.numeric(stats$DiskSize), 0)
  expect_equal(as.numeric(stats$DicomDiskSize), sum(vapply(x$instances, function(i) {
    as.numeric(o$get_instances_id(i)$FileSize)
  }, 0)))
})

test_that("studies are anonymized and modified, synchronously and as jobs", {
  o <- orthanc_client()
  x <- study_local_patient(o, series = 2)

  anon <- o$post_studies_id_anonymize(x$study, json = list(Replace = list(StudyDescription = "ANON STUDY")))
  study_defer_delete_patient(o, anon$PatientID)
  expect_equal(anon$Type, "Study")
  expect_true(anon$IsAnonymization)
  expect_equal(anon$InstancesCount, 2L)
  expect_equal(anon$FailedInstancesCount, 0L)
  expect_equal(anon$ParentResources, list(x$study))
  expect_false(anon$ID == x$study)
  new <- o$get_studies_id(anon$ID)
  expect_equal(new$MainDicomTags$StudyDescription, "ANON STUDY")
  expect_false(identical(new$MainDicomTags$StudyInstanceUID, x$study_uid))
  expect_false(identical(new$PatientMainDicomTags$PatientID, x$patient_id))
  expect_false(identical(new$PatientMainDicomTags$PatientName, "STUDY^GROUP"))
  # The source is kept.
  expect_equal(o$get_studies_id(x$study)$MainDicomTags$StudyDescription, "study group test")

  job <- o$post_studies_id_anonymize(x$study, json = list(Asynchronous = TRUE, Keep = list("StudyDescription")))
  expect_named(job, c("ID", "Path"), ignore.order = TRUE)
  done <- wait_for_job(o, job$ID)
  study_defer_delete_patient(o, done$Content$PatientID)
  expect_equal(done$Type, "ResourceModification")
  expect_true(done$Content$IsAnonymization)
  anon2 <- o$get_studies_id(done$Content$ID)
  expect_equal(anon2$MainDicomTags$StudyDescription, "study group test")
  expect_false(identical(anon2$PatientMainDicomTags$PatientID, x$patient_id))

  mod <- o$post_studies_id_modify(x$study, json = list(Replace = list(StudyDescription = "MODIFIED", AccessionNumber = "NEWACC")))
  expect_equal(mod$Type, "Study")
  expect_false(mod$IsAnonymization)
  # Same patient: cleaned up with it.
  expect_equal(mod$PatientID, x$patient)
  modified <- o$get_studies_id(mod$ID)
  expect_equal(modified$MainDicomTags$StudyDescription, "MODIFIED")
  expect_equal(modified$MainDicomTags$AccessionNumber, "NEWACC")
  expect_equal(modified$PatientMainDicomTags$PatientID, x$patient_id)

  job <- o$post_studies_id_modify(x$study, json = list(
    Replace = list(StudyDescription = "MODIFIED AS JOB"),
    Asynchronous = TRUE
  ))
  done <- wait_for_job(o, job$ID)
  expect_equal(done$Content$Type, "Study")
  expect_equal(o$get_studies_id(done$Content$ID)$MainDicomTags$StudyDescription, "MODIFIED AS JOB")
  expect_length(o$get_patients_id(x$patient)$Studies, 3L)
})

test_that("study archive and media are ZIP files, also made by jobs", {
  o <- orthanc_client()
  x <- study_local_patient(o, series = 2)
  zip_magic <- as.raw(c(0x50, 0x4b, 0x03, 0x04))

  zip <- o$get_studies_id_archive(x$study)
  expect_type(zip, "raw")
  expect_identical(zip[1:4], zip_magic)
  entries <- zip_entries(zip)$Name
  expect_length(entries, 2L)
  expect_true(all(grepl("\\.dcm$", entries)))
  expect_true(all(grepl("study group test", entries, fixed = TRUE)))
  expect_identical(orthanc_last_response(o)$headers[["content-type"]], "application/zip")

  zip <- o$post_studies_id_archive(x$study, json = list(Synchronous = TRUE))
  expect_identical(zip[1:4], zip_magic)
  expect_length(zip_entries(zip)$Name, 2L)

  media <- o$get_studies_id_media(x$study)
  expect_identical(media[1:4], zip_magic)
  entries <- zip_entries(media)$Name
  expect_true("DICOMDIR" %in% entries)
  expect_equal(sum(grepl("^IMAGES/", entries)), 2L)

  media <- o$post_studies_id_media(x$study, json = list(Extended = TRUE))
  expect_identical(media[1:4], zip_magic)
  expect_true("DICOMDIR" %in% zip_entries(media)$Name)

  job <- o$post_studies_id_archive(x$study, json = list(Asynchronous = TRUE))
  done <- wait_for_job(o, job$ID)
  expect_equal(done$Type, "Archive")
  expect_equal(done$Content$InstancesCount, 2L)
  zip <- o$get_jobs_id_key(job$ID, "archive")
  expect_identical(zip[1:4], zip_magic)
  expect_length(zip_entries(zip)$Name, 2L)

  job <- o$post_studies_id_media(x$study, json = list(Asynchronous = TRUE))
  done <- wait_for_job(o, job$ID)
  expect_equal(done$Type, "Media")
  expect_true("DICOMDIR" %in% zip_entries(o$get_jobs_id_key(job$ID, "archive"))$Name)
})

test_that("a study is split into two studies, which are merged back", {
  o <- orthanc_client()
  x <- study_local_patient(o, series = 2)

  split <- o$post_studies_id_split(x$study, json = list(
    Series = list(x$series[[2]]),
    Replace = list(StudyDescription = "split off")
  ))
  expect_equal(split$InstancesCount, 1L)
  expect_equal(split$FailedInstancesCount, 0L)
  expect_type(split$TargetStudy, "character")
  expect_false(identical(split$TargetStudyUID, x$study_uid))
  target <- o$get_studies_id(split$TargetStudy)
  expect_equal(target$MainDicomTags$StudyInstanceUID, split$TargetStudyUID)
  expect_equal(target$MainDicomTags$StudyDescription, "split off")
  expect_equal(target$ParentPatient, x$patient)
  expect_length(target$Series, 1L)
  # By default the source series leave the source study.
  expect_equal(o$get_studies_id(x$study)$Series, list(x$series[[1]]))
  expect_setequal(unlist(o$get_patients_id(x$patient)$Studies), c(x$study, split$TargetStudy))

  merged <- o$post_studies_id_merge(x$study, json = list(Resources = list(split$TargetStudy)))
  expect_equal(merged$TargetStudy, x$study)
  expect_equal(merged$InstancesCount, 1L)
  expect_length(o$get_studies_id(x$study)$Series, 2L)
  expect_equal(o$get_patients_id(x$patient)$Studies, list(x$study))
  expect_error(o$get_studies_id(split$TargetStudy), class = "orthanc_http_404")

  # The same as jobs.
  job <- o$post_studies_id_split(x$study, json = list(Series = list(x$series[[1]]), Asynchronous = TRUE))
  done <- wait_for_job(o, job$ID)
  expect_equal(done$Type, "SplitStudy")
  target <- done$Content$TargetStudy
  expect_length(o$get_studies_id(target)$Series, 1L)
  job <- o$post_studies_id_merge(x$study, json = list(Resources = list(target), Asynchronous = TRUE))
  done <- wait_for_job(o, job$ID)
  expect_equal(done$Type, "MergeStudy")
  expect_length(o$get_studies_id(x$study)$Series, 2L)
})

test_that("a study is reconstructed, then deleted", {
  o <- orthanc_client()
  x <- study_local_patient(o, series = 2)
  before <- o$get_studies_id(x$study)

  # Not ReconstructFiles = TRUE: after a plain reconstruct of the same study,
  # it never answers and Orthanc 1.12.7 stops answering any request.
  expect_null(o$post_studies_id_reconstruct(x$study))
  expect_null(o$post_studies_id_reconstruct(x$study, json = list(LimitToThisLevelMainDicomTags = TRUE)))
  after <- o$get_studies_id(x$study)
  expect_equal(after$MainDicomTags, before$MainDicomTags)
  expect_setequal(unlist(after$Series), x$series)

  res <- withVisible(o$delete_studies_id(x$study))
  expect_false(res$visible)
  # The study was the patient's only one: the patient went with it.
  expect_true(is.null(res$value$RemainingAncestor))
  expect_false(x$study %in% unlist(o$get_studies()))
  expect_error(o$get_studies_id(x$study), class = "orthanc_http_404")
  expect_error(o$get_patients_id(x$patient), class = "orthanc_http_404")
  expect_error(o$delete_studies_id(x$study), class = "orthanc_http_404")
})
