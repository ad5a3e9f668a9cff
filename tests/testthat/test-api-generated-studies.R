# The /studies endpoint methods of studies only, against a live Orthanc (server "a").
# Listing, info, relatives, tags, anonymize/modify, archive/media, reconstruct/delete
# (the same tests as for patients), labels, metadata and attachments:
# test-api-generated-levels.R.
# Fixtures: study_local_patient() in helper-uncovered-study.R; wait_for_job() in helper-server.R.

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
