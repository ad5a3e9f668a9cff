# Older servers (issue 4, item 7): Orthanc 1.10.1 (Debian 12's package), started
# by `dev/orthanc-server start --legacy` (ORTHANC_LEGACY_URL, with the same
# credentials as ORTHANC_TEST_*). What 1.10.1 supports must work; a method
# whose route 1.10.1 lacks must raise an orthanc_http_error naming the
# server's version and saying that the route needs a newer Orthanc.
#
# Routes checked with curl against 1.10.1 (404 "Unknown resource",
# OrthancStatus 17, where 1.12.7 answers): GET /tools/labels,
# GET /tools/accepted-sop-classes, POST /tools/count-resources, and every
# /{patients,studies,series,instances}/{id}/labels[/{label}] route.
# GET /tools/create-archive (and create-media) exist only as POST in 1.10.1:
# 405 with `Allow: POST` and an empty body.
# GET /instances/{id}/attachments/{name}/info, /numpy and /tools/bulk-content
# do exist in 1.10.1.

# legacy_client(): helper-server.R.

# The server's version, as the client knows it from now on: the hints of errors
# name it only once the client knows it (building an error sends no request).
legacy_version <- function(client) client$server_version

legacy_is_png <- function(x) is.raw(x) && length(x) > 8 && identical(x[1:8], as.raw(c(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)))
legacy_is_zip <- function(x) is.raw(x) && length(x) > 4 && identical(x[1:4], charToRaw("PK\003\004"))
legacy_is_dicom <- function(x) is.raw(x) && length(x) > 132 && identical(rawToChar(x[129:132]), "DICM")

test_that("a client of Orthanc 1.10.1 knows the server's version once asked", {
  o <- legacy_client()
  sys <- o$get_system()
  expected <- Sys.getenv("ORTHANC_LEGACY_VERSION")
  if (nzchar(expected)) expect_equal(sys$Version, expected)
  expect_match(sys$Version, "^1\\.10\\.")
  expect_lt(sys$ApiVersion, 27L) # 16 for 1.10.1; 27 for 1.12.7
  # api_version is the version of the description the methods come from.
  expect_equal(o$api_version, "1.12.10")
  expect_equal(o$server_version, sys$Version)
  expect_true(any(grepl(sys$Version, capture.output(print(o)), fixed = TRUE)))
  expect_type(o$get_statistics()$CountInstances, "integer")
})

test_that("a DICOM file's life on 1.10.1: upload, read, render, archive, modify, find, changes, delete", {
  o <- legacy_client()
  f <- fixture("Brainix-Flair-1.dcm")
  before <- o$get_changes(params = list(last = TRUE))$Last
  up <- o$post_instances(file = f)
  withr::defer(try(o$delete_patients_id(up$ParentPatient), silent = TRUE))
  expect_equal(up$Status, "Success")
  expect_match(up$ID, "^[0-9a-f]{8}(-[0-9a-f]{8}){4}$")

  info <- o$get_instances_id(up$ID)
  expect_equal(info$ID, up$ID)
  expect_equal(info$ParentSeries, up$ParentSeries)
  bytes <- o$get_instances_id_file(up$ID)
  expect_identical(bytes, readBin(f, "raw", file.size(f)))

  tags <- o$get_instances_id_tags(up$ID)
  simple <- o$get_instances_id_simplified_tags(up$ID)
  uid <- simple$SOPInstanceUID
  expect_type(uid, "character")
  expect_equal(tags[["0008,0018"]]$Value, uid)
  expect_equal(tags[["0010,0010"]]$Value, simple$PatientName)
  expect_true(nzchar(simple$PatientName))

  expect_true(legacy_is_png(o$get_instances_id_preview(up$ID)))
  expect_zip(o$get_studies_id_archive(up$ParentStudy))

  modified <- o$post_instances_id_modify(up$ID, json = list(Replace = list(PatientName = "LEGACY^MODIFIED")))
  expect_true(legacy_is_dicom(modified))
  expect_gt(length(grepRaw("LEGACY^MODIFIED", modified, fixed = TRUE)), 0L)
  anon <- o$post_instances_id_anonymize(up$ID, json = list(Keep = list("SeriesDescription")))
  expect_true(legacy_is_dicom(anon))
  expect_length(grepRaw(simple$PatientName, anon, fixed = TRUE), 0L)
  study_anon <- o$post_studies_id_anonymize(up$ParentStudy)
  withr::defer(try(o$delete_studies_id(study_anon$ID), silent = TRUE))
  expect_equal(study_anon$Type, "Study")
  expect_false(identical(study_anon$ID, up$ParentStudy))
  expect_length(o$get_studies_id_instances(study_anon$ID), 1L)

  found <- o$post_tools_find(json = list(Level = "Instance", Query = list(SOPInstanceUID = uid)))
  expect_equal(found, list(up$ID))
  expanded <- o$post_tools_find(json = list(Level = "Instance", Query = list(SOPInstanceUID = uid), Expand = TRUE))
  expect_equal(expanded[[1]]$ID, up$ID)

  changes <- o$get_changes(params = list(since = before, limit = 1000))
  new_instances <- Filter(function(ch) identical(ch$ChangeType, "NewInstance"), changes$Changes)
  expect_true(up$ID %in% vapply(new_instances, function(ch) ch$ID, ""))

  o$delete_instances_id(up$ID)
  err <- expect_error(o$get_instances_id(up$ID), class = "orthanc_http_404")
  expect_s3_class(err, "orthanc_http_error")
  expect_equal(err$status, 404L)
  # A resource that is gone is not blamed on the server's version.
  expect_match(conditionMessage(err), "identifier", fixed = TRUE)
  expect_false(grepl("newer Orthanc", conditionMessage(err), fixed = TRUE))
})

test_that("a route 1.10.1 lacks is an orthanc_http_error naming the version and asking for a newer Orthanc", {
  o <- legacy_client()
  version <- legacy_version(o)
  up <- o$post_instances(file = fixture("Lena-2.dcm"))
  withr::defer(try(o$delete_instances_id(up$ID), silent = TRUE))

  check <- function(expr, status = 404L) {
    err <- expect_error(expr, class = paste0("orthanc_http_", status))
    expect_s3_class(err, "orthanc_http_error")
    expect_equal(err$status, status)
    msg <- conditionMessage(err)
    expect_match(msg, version, fixed = TRUE)
    expect_match(msg, "newer Orthanc", fixed = TRUE)
    invisible(err)
  }
  # Routes with no identifier in them: nothing else than the route can be missing.
  err <- check(o$get_tools_labels())
  expect_equal(err$error_body$OrthancStatus, 17L)
  expect_false(grepl("identifier", conditionMessage(err), fixed = TRUE))
  check(o$get_tools_accepted_sop_classes())
  check(o$post_tools_count_resources(json = list(Level = "Instance", Query = structure(list(), names = character()))))
  # Routes below an existing resource.
  check(o$get_instances_id_labels(up$ID))
  check(o$put_instances_id_labels_label(up$ID, "legacy"))
  check(o$get_studies_id_labels(up$ParentStudy))
  # A route that 1.10.1 has with another method only: 405 Method Not Allowed.
  err <- check(o$get_tools_create_archive(resources = up$ID), status = 405L)
  expect_match(conditionMessage(err), "POST", fixed = TRUE)

  # The client is still fine after these errors.
  expect_equal(o$get_instances_id(up$ID)$ID, up$ID)
})

test_that("an unknown identifier on a route 1.10.1 has is not blamed on the version", {
  o <- legacy_client()
  version <- legacy_version(o)
  # 1.10.1 answers 404 "Unknown resource" (OrthancStatus 17) here, exactly as
  # for a route it does not know: the message must leave both possibilities open.
  err <- expect_error(o$get_instances_id_file("no-such-instance"), class = "orthanc_http_404")
  expect_equal(err$error_body$OrthancStatus, 17L)
  expect_match(conditionMessage(err), "identifier", fixed = TRUE)
  expect_match(conditionMessage(err), version, fixed = TRUE)
  # An empty 404 (1.10.1's answer to GET /instances/<unknown>) has no doubt.
  err <- expect_error(o$get_instances_id("no-such-instance"), class = "orthanc_http_404")
  expect_false(grepl("newer Orthanc", conditionMessage(err), fixed = TRUE))
})
