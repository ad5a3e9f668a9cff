test_that("Patient fields come from its main DICOM tags", {
  o <- orthanc_client("a")
  tree <- local_patient_tree(o)
  p <- Patient$new(tree$patient, o)
  expect_equal(p$patient_id, tree$patient_id)
  expect_equal(p$name, "LAYER^TEST")
  expect_equal(p$birth_date, as.Date("1980-01-02"))
  expect_equal(p$sex, "F")
  expect_equal(p$other_patient_ids, c("OTHER1", "OTHER2"))
})

test_that("protected can be read and set", {
  o <- orthanc_client("a")
  tree <- local_patient_tree(o)
  p <- Patient$new(tree$patient, o)
  expect_false(p$protected)
  p$protected <- TRUE
  expect_true(p$protected)
  p$protected <- FALSE
  expect_false(p$protected)
  expect_error(p$protected <- "yes", class = "orthanc_argument_error")
})

test_that("studies come from one expanded listing, prefilled", {
  o <- orthanc_client("a")
  tree <- local_patient_tree(o, studies = 3)
  p <- Patient$new(tree$patient, o)
  n <- count_calls({
    studies <- p$studies
    descr <- vapply(studies, function(s) s$description, "")
    dates <- lapply(studies, function(s) s$date)
  })
  expect_equal(n, 1L)
  expect_s3_class(studies, "orthanc_resource_list")
  expect_setequal(descr, paste("Study", 1:3))
  expect_true(all(vapply(studies, inherits, TRUE, "Study")))
  # Not locked: each access asks again.
  expect_equal(count_calls(p$studies), 1L)
  locked <- Patient$new(tree$patient, o, lock_children = TRUE)
  locked$studies
  expect_equal(count_calls(locked$studies), 0L)
  expect_true(locked$studies[[1]]$lock_children)
})

test_that("archive in memory and streamed to a file", {
  o <- orthanc_client("a")
  tree <- local_patient_tree(o, series = 2)
  p <- Patient$new(tree$patient, o)
  zip <- p$get_zip()
  expect_zip(zip)
  expect_equal(nrow(zip_entries(zip)), 2L)
  path <- withr::local_tempfile(fileext = ".zip")
  expect_equal(p$download(path), path)
  expect_true(file.exists(path))
  expect_equal(nrow(utils::unzip(path, list = TRUE)), 2L)
  expect_equal(list.files(dirname(path), pattern = "^\\.orthanc-download-"), character())
  expect_error(p$download(file.path(tempdir(), "no-such-dir", "x.zip")), class = "orthanc_io_error")
  expect_error(p$download(tempdir()), class = "orthanc_io_error")
  expect_error(p$download(NA_character_), class = "orthanc_argument_error")
  gone <- Patient$new("00000000-00000000-00000000-00000000-00000000", o)
  expect_error(gone$download(withr::local_tempfile()), class = "orthanc_http_404")
})

test_that("patient module and shared tags", {
  o <- orthanc_client("a")
  tree <- local_patient_tree(o, series = 2)
  p <- Patient$new(tree$patient, o)
  m <- p$get_patient_module()
  expect_equal(m$PatientID, tree$patient_id)
  full <- p$get_patient_module(simplify = FALSE)
  expect_equal(full[["0010,0020"]]$Value, tree$patient_id)
  shared <- p$shared_tags
  expect_equal(shared$PatientName, "LAYER^TEST")
  expect_null(shared$SeriesNumber) # differs between the two series
  expect_equal(p$get_shared_tags(simplify = FALSE)[["0010,0010"]]$Name, "PatientName")
  expect_error(p$get_shared_tags(simplify = "yes"), class = "orthanc_argument_error")
})

test_that("remove_empty_studies() prunes kept children only", {
  o <- orthanc_client("a")
  tree <- local_patient_tree(o, studies = 2)
  p <- Patient$new(tree$patient, o)
  expect_identical(p$remove_empty_studies(), p) # not locked: nothing to do
  locked <- Patient$new(tree$patient, o, lock_children = TRUE)
  expect_length(locked$studies, 2L)
  for (s in locked$studies) s$series # keep the series of each study
  o$delete_series_id(tree$series[1])
  expect_length(locked$studies, 2L) # kept as they were
  locked$remove_empty_studies()
  expect_length(locked$studies, 1L)
  expect_equal(locked$studies[[1]]$identifier, tree$studies[2])
})

test_that("patients can be anonymized and modified, synchronously or as jobs", {
  o <- orthanc_client("a")
  tree <- local_patient_tree(o)
  p <- Patient$new(tree$patient, o)
  anon <- p$anonymize(replace = list(PatientName = "ANON^LAYER"))
  defer_delete(o, "Patient", anon$identifier)
  expect_s3_class(anon, "Patient")
  expect_false(anon$identifier == p$identifier)
  expect_equal(anon$name, "ANON^LAYER")

  new_id <- paste0(tree$patient_id, "-M")
  mod <- p$modify(replace = list(PatientID = new_id, PatientName = "MOD^LAYER"), force = TRUE)
  defer_delete(o, "Patient", mod$identifier)
  expect_equal(mod$patient_id, new_id)
  expect_equal(mod$name, "MOD^LAYER")
  expect_equal(p$name, "LAYER^TEST") # the source is kept

  job <- p$anonymize_as_job(keep = "PatientBirthDate")
  expect_s3_class(job, "Job")
  job$wait_until_completion(interval = 0.1, timeout = 60)
  new <- job$content$ID
  defer_delete(o, "Patient", new)
  expect_equal(Patient$new(new, o)$birth_date, as.Date("1980-01-02"))

  job2 <- p$modify_as_job(replace = list(PatientName = "JOB^LAYER", PatientID = paste0(new_id, "2")), force = TRUE)
  job2$wait_until_completion(interval = 0.1, timeout = 60)
  defer_delete(o, "Patient", job2$content$ID)
  expect_equal(Patient$new(job2$content$ID, o)$name, "JOB^LAYER")

  expect_error(p$modify(replace = list(PatientID = "x")), class = "orthanc_http_error")
  expect_error(p$anonymize(replace = list("x")), class = "orthanc_argument_error")
  expect_error(p$anonymize(remove = 1), class = "orthanc_argument_error")
  expect_error(p$anonymize(force = "yes"), class = "orthanc_argument_error")
  expect_error(p$anonymize(priority = 1.5), class = "orthanc_argument_error")
  expect_error(p$anonymize(dicom_version = 2023), class = "orthanc_argument_error")
})

test_that("modification bodies use Orthanc's keys", {
  body <- orthanc:::modification_body(
    remove = "StudyDescription", replace = c(PatientName = "A"), keep = c("PatientID", "StudyDate"),
    force = TRUE, keep_private_tags = TRUE, remove_private_tags = FALSE, keep_source = FALSE,
    priority = 3, permissive = TRUE, private_creator = "ME", dicom_version = "2021b"
  )
  expect_named(body, c(
    "Remove", "Replace", "Keep", "Force", "KeepPrivateTags", "RemovePrivateTags",
    "KeepSource", "Priority", "Permissive", "PrivateCreator", "DicomVersion"
  ))
  expect_s3_class(body$Remove, "AsIs") # an array even with one tag
  expect_equal(body$Replace, list(PatientName = "A"))
  expect_identical(body$Priority, 3L)
  expect_equal(orthanc:::modification_body(), structure(list(), names = character()))
})
