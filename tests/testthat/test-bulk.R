test_that("bulk_content(), bulk_modify(), bulk_anonymize(), bulk_delete() act on many resources at once", {
  o <- orthanc_client()
  pid <- unique_patient_id()
  tree <- local_patient_tree(o, studies = 2, series = 2, patient_id = pid)
  studies <- find_studies(o, query = list(PatientID = pid))
  expect_length(studies, 2)
  # Content: of the resources given, or of the level asked for.
  content <- bulk_content(o, studies)
  expect_setequal(vapply(content, function(x) x$ID, ""), tree$studies)
  series <- bulk_content(o, tree$studies, level = "Series")
  expect_setequal(vapply(series, function(x) x$ID, ""), tree$series)
  expect_identical(bulk_content(o, character()), list())
  # Modify both studies in one request: new studies, the originals kept.
  mod <- bulk_modify(o, studies, replace = list(InstitutionName = "BULK HOSPITAL"), level = "Study")
  new_ids <- setdiff(vapply(mod$Resources, function(r) r$ID, ""), tree$studies)
  new_studies <- Filter(function(r) identical(r$Type, "Study"), mod$Resources)
  expect_length(new_studies, 2)
  withr::defer(try(bulk_delete(o, vapply(new_studies, function(r) r$ID, "")), silent = TRUE))
  for (r in new_studies) {
    expect_identical(o$get_studies_id(r$ID)$MainDicomTags$InstitutionName, "BULK HOSPITAL")
  }
  # Anonymize as a job, by identifiers.
  job <- bulk_anonymize(o, tree$studies, asynchronous = TRUE)
  expect_s3_class(job, "Job")
  done <- job$wait_until_completion(interval = 0.1, timeout = 60)
  anon_ids <- vapply(job$content$Resources %||% list(), function(r) r$ID, "")
  withr::defer(try(bulk_delete(o, anon_ids), silent = TRUE))
  expect_true(length(anon_ids) >= 2)
  # Delete: the new studies are gone, the originals stay.
  deleted <- bulk_delete(o, vapply(new_studies, function(r) r$ID, ""))
  expect_length(deleted, 2)
  for (id in deleted) expect_error(o$get_studies_id(id), class = "orthanc_http_404")
  expect_identical(o$get_studies_id(tree$studies[1])$ID, tree$studies[1])
})

test_that("bulk functions check their arguments before sending anything", {
  o <- Orthanc$new("http://127.0.0.1:9", retries = 0)
  expect_error(bulk_delete(o, 1:3), class = "orthanc_argument_error")
  expect_error(bulk_delete(o, NA_character_), class = "orthanc_argument_error")
  expect_error(bulk_modify(o, character(), replace = list(PatientName = "x")), "nothing to modify", class = "orthanc_argument_error")
  expect_error(bulk_modify(o, "abc", replace = "x"), class = "orthanc_argument_error")
  expect_error(bulk_anonymize(o, "abc", asynchronous = NA), class = "orthanc_argument_error")
  expect_error(bulk_content(o, "abc", level = "Galaxy"), class = "orthanc_argument_error")
  expect_error(bulk_content("no client", "abc"), class = "orthanc_argument_error")
  expect_identical(bulk_delete(o, character()), character())
})
