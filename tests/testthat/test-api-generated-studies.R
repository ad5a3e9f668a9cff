# The /studies endpoint methods against a live Orthanc (server "a").
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

test_that("study labels are added, listed, tested and removed; names are percent-encoded", {
  o <- orthanc_client()
  x <- study_local_patient(o, series = 1)

  expect_equal(o$get_studies_id_labels(x$study), list())
  expect_null(o$put_studies_id_labels_label(x$study, "study-label_1"))
  o$put_studies_id_labels_label(x$study, "second")
  expect_setequal(unlist(o$get_studies_id_labels(x$study)), c("study-label_1", "second"))
  expect_equal(o$get_studies_id(x$study)$Labels, o$get_studies_id_labels(x$study))
  # GET on a label answers (empty) when the study has it, 404 when not.
  expect_no_error(o$get_studies_id_labels_label(x$study, "second"))
  expect_error(o$get_studies_id_labels_label(x$study, "absent"), class = "orthanc_http_404")

  expect_invisible(o$delete_studies_id_labels_label(x$study, "second"))
  expect_equal(o$get_studies_id_labels(x$study), list("study-label_1"))
  expect_error(o$get_studies_id_labels_label(x$study, "second"), class = "orthanc_http_404")

  # Orthanc refuses "a b"; its error shows it received "a b" (sent as a%20b).
  err <- expect_error(o$put_studies_id_labels_label(x$study, "a b"), class = "orthanc_http_400")
  expect_equal(err$status, 400L)
  expect_match(err$url, "/labels/a%20b", fixed = TRUE)
  expect_match(err$body$Details, "but got: a b", fixed = TRUE)
  expect_match(err$body$Uri, "/labels/a b$")
  expect_equal(o$get_studies_id_labels(x$study), list("study-label_1"))
})

test_that("study metadata round-trip, with names that need encoding", {
  o <- orthanc_client()
  x <- study_local_patient(o, series = 1)
  values <- list(
    "my-metadata" = "plain value",
    "meta with space" = "a value with spaces & symbols ?#/",
    "m\u00e9ta-donn\u00e9es" = "valeur accentu\u00e9e \u00e9\u00e8\u00e0"
  )
  for (name in names(values)) {
    expect_null(o$put_studies_id_metadata_name(x$study, name, data = values[[name]]))
  }
  for (name in names(values)) {
    got <- o$get_studies_id_metadata_name(x$study, name)
    expect_identical(got, values[[name]])
  }
  listed <- unlist(o$get_studies_id_metadata(x$study))
  expect_true(all(names(values) %in% listed))
  expect_true("LastUpdate" %in% listed)
  expanded <- o$get_studies_id_metadata(x$study, params = list(expand = TRUE))
  expect_identical(expanded[names(values)], values)
  numeric <- o$get_studies_id_metadata(x$study, params = list(numeric = TRUE, expand = TRUE))
  expect_identical(numeric[c("1024", "1025", "1026")], stats::setNames(values, c("1024", "1025", "1026")))
  # A metadata can also be addressed by its index.
  expect_identical(o$get_studies_id_metadata_name(x$study, "1025"), values[["meta with space"]])

  # Revisions: the ETag of a GET is "revision-md5 of the value".
  o$get_studies_id_metadata_name(x$study, "my-metadata")
  etag <- orthanc_last_response(o)$headers[["etag"]]
  expect_match(etag, md5_of(charToRaw("plain value")), fixed = TRUE)
  expect_equal(study_status_of(o, o$get_studies_id_metadata_name(
    x$study, "my-metadata",
    headers = list("If-None-Match" = etag)
  )), 304L)
  o$put_studies_id_metadata_name(x$study, "my-metadata", data = "second value", headers = list("If-Match" = etag))
  expect_identical(o$get_studies_id_metadata_name(x$study, "my-metadata"), "second value")
  current <- orthanc_last_response(o)$headers[["etag"]]
  # The old ETag is stale now.
  expect_error(
    o$put_studies_id_metadata_name(x$study, "my-metadata", data = "third", headers = list("If-Match" = etag)),
    class = "orthanc_http_409"
  )
  expect_identical(o$get_studies_id_metadata_name(x$study, "my-metadata"), "second value")

  expect_invisible(o$delete_studies_id_metadata_name(x$study, "my-metadata", headers = list("If-Match" = current)))
  o$delete_studies_id_metadata_name(x$study, "meta with space")
  o$delete_studies_id_metadata_name(x$study, "m\u00e9ta-donn\u00e9es")
  listed <- unlist(o$get_studies_id_metadata(x$study))
  expect_false(any(names(values) %in% listed))
  expect_error(o$get_studies_id_metadata_name(x$study, "my-metadata"), class = "orthanc_http_404")
})

test_that("study attachments: data, info, md5, size, compression and revisions", {
  o <- orthanc_client()
  x <- study_local_patient(o, series = 1)
  name <- "attachment with space"
  # Compressible, with every byte value.
  data <- rep(as.raw(0:255), 8)

  expect_equal(o$get_studies_id_attachments(x$study), list())
  res <- o$put_studies_id_attachments_name(x$study, name, data = data)
  expect_equal(res, structure(list(), names = character()))
  etag <- orthanc_last_response(o)$headers[["etag"]]
  expect_match(etag, md5_of(data), fixed = TRUE)

  expect_equal(o$get_studies_id_attachments(x$study), list(name))
  expect_equal(o$get_studies_id_attachments(x$study, params = list(full = TRUE)), list(`attachment with space` = 1025L))
  ops <- unlist(o$get_studies_id_attachments_name(x$study, name))
  expect_true(all(c("data", "info", "md5", "size", "compress", "uncompress", "verify-md5", "is-compressed") %in% ops))

  expect_identical(o$get_studies_id_attachments_name_data(x$study, name), data)
  # Also by its index (cf. UserContentType).
  expect_identical(o$get_studies_id_attachments_name_data(x$study, "1025"), data)
  info <- o$get_studies_id_attachments_name_info(x$study, name)
  expect_equal(info$ContentType, 1025L)
  expect_equal(info$UncompressedSize, length(data))
  expect_equal(info$UncompressedMD5, md5_of(data))
  expect_equal(o$get_studies_id_attachments_name_md5(x$study, name), md5_of(data))
  expect_equal(o$get_studies_id_attachments_name_size(x$study, name), as.character(length(data)))
  expect_equal(o$get_studies_id_attachments_name_is_compressed(x$study, name), "0")
  expect_equal(o$get_studies_id_attachments_name_compressed_size(x$study, name), as.character(length(data)))
  expect_equal(o$get_studies_id_attachments_name_compressed_md5(x$study, name), md5_of(data))
  expect_identical(o$get_studies_id_attachments_name_compressed_data(x$study, name), data)

  o$post_studies_id_attachments_name_compress(x$study, name)
  expect_equal(o$get_studies_id_attachments_name_is_compressed(x$study, name), "1")
  csize <- as.numeric(o$get_studies_id_attachments_name_compressed_size(x$study, name))
  expect_lt(csize, length(data))
  cdata <- o$get_studies_id_attachments_name_compressed_data(x$study, name)
  expect_type(cdata, "raw")
  expect_length(cdata, csize)
  expect_equal(o$get_studies_id_attachments_name_compressed_md5(x$study, name), md5_of(cdata))
  # The decompressed content is unchanged.
  expect_identical(o$get_studies_id_attachments_name_data(x$study, name), data)
  expect_equal(o$get_studies_id_attachments_name_md5(x$study, name), md5_of(data))
  expect_equal(o$post_studies_id_attachments_name_verify_md5(x$study, name), structure(list(), names = character()))
  o$post_studies_id_attachments_name_uncompress(x$study, name)
  expect_equal(o$get_studies_id_attachments_name_is_compressed(x$study, name), "0")
  expect_identical(o$get_studies_id_attachments_name_data(x$study, name), data)

  # Revisions: If-None-Match with the current ETag is 304; If-Match with a
  # stale one is refused with 409.
  o$get_studies_id_attachments_name_info(x$study, name)
  etag <- orthanc_last_response(o)$headers[["etag"]]
  expect_equal(study_status_of(o, o$get_studies_id_attachments_name_data(
    x$study, name,
    headers = list("If-None-Match" = etag)
  )), 304L)
  new_data <- charToRaw("replaced content")
  o$put_studies_id_attachments_name(x$study, name, data = new_data, headers = list("If-Match" = etag))
  expect_identical(o$get_studies_id_attachments_name_data(x$study, name), new_data)
  expect_error(
    o$put_studies_id_attachments_name(x$study, name, data = data, headers = list("If-Match" = etag)),
    class = "orthanc_http_409"
  )
  expect_identical(o$get_studies_id_attachments_name_data(x$study, name, headers = list("If-None-Match" = etag)), new_data)

  # A second attachment, with a non-ASCII name.
  o$put_studies_id_attachments_name(x$study, "pi\u00e8ce-jointe", data = as.raw(1:3))
  expect_setequal(unlist(o$get_studies_id_attachments(x$study)), c(name, "pi\u00e8ce-jointe"))
  expect_identical(o$get_studies_id_attachments_name_data(x$study, "pi\u00e8ce-jointe"), as.raw(1:3))

  o$get_studies_id_attachments_name_info(x$study, name)
  current <- orthanc_last_response(o)$headers[["etag"]]
  expect_invisible(o$delete_studies_id_attachments_name(x$study, name, headers = list("If-Match" = current)))
  o$delete_studies_id_attachments_name(x$study, "pi\u00e8ce-jointe")
  expect_equal(o$get_studies_id_attachments(x$study), list())
  expect_error(o$get_studies_id_attachments_name_data(x$study, name), class = "orthanc_http_404")
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
