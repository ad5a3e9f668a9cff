# The /tools endpoint methods (except dicom-echo, in test-api-generated-network.R, and
# reset/shutdown, in test-api-generated-reset.R). Shared fixtures are in
# helper-uncovered-tools.R.

test_that("generate-uid gives a new identifier at each level", {
  o <- orthanc_client("a")
  p1 <- o$get_tools_generate_uid(level = "patient")
  p2 <- o$get_tools_generate_uid(level = "patient")
  expect_type(p1, "character")
  expect_length(p1, 1L)
  expect_false(identical(p1, p2))
  for (level in c("study", "series", "instance")) {
    uid <- o$get_tools_generate_uid(level = level)
    expect_match(uid, "^[0-9]+(\\.[0-9]+)+$")
    expect_lte(nchar(uid), 64L)
  }
  expect_error(o$get_tools_generate_uid(level = "no-such-level"), class = "orthanc_http_error")
})

test_that("now and now-local give the server's clock as DICOM date-times", {
  o <- orthanc_client("a")
  now <- o$get_tools_now()
  local <- o$get_tools_now_local()
  expect_match(now, "^[0-9]{8}T[0-9]{6}$")
  expect_match(local, "^[0-9]{8}T[0-9]{6}$")
  # The server runs on this machine: its UTC clock is ours.
  server <- as.POSIXct(now, format = "%Y%m%dT%H%M%S", tz = "UTC")
  expect_lt(abs(as.numeric(difftime(server, Sys.time(), units = "secs"))), 300)
  # Local time differs from UTC by a whole number of quarter hours at most 14 h.
  offset <- as.numeric(difftime(as.POSIXct(local, format = "%Y%m%dT%H%M%S", tz = "UTC"), server, units = "mins"))
  expect_lte(abs(offset), 14 * 60 + 1)
})

test_that("the log level and each log category round-trip", {
  o <- orthanc_client("a")
  old <- o$get_tools_log_level()
  expect_true(old %in% c("default", "verbose", "trace"))
  withr::defer(o$put_tools_log_level(data = old))
  expect_null(o$put_tools_log_level(data = "verbose"))
  expect_equal(o$get_tools_log_level(), "verbose")
  o$put_tools_log_level(data = "default")
  expect_equal(o$get_tools_log_level(), "default")
  err <- expect_error(o$put_tools_log_level(data = "loud"), class = "orthanc_http_400")
  expect_equal(err$status, 400L)

  categories <- c("dicom", "generic", "http", "jobs", "lua", "plugins", "sqlite")
  for (categ in categories) {
    get <- o[[paste0("get_tools_log_level_", categ)]]
    put <- o[[paste0("put_tools_log_level_", categ)]]
    before <- get()
    expect_true(before %in% c("default", "verbose", "trace"), label = categ)
    # (Not "trace": at that level Orthanc logs every HTTP header, credentials too.)
    expect_null(put(data = "verbose"))
    expect_equal(get(), "verbose", label = categ)
    expect_null(put(data = "default"))
    expect_equal(get(), "default", label = categ)
    put(data = before)
    expect_equal(get(), before, label = categ)
  }
})

test_that("metrics can be read as text, in the Prometheus format, and switched off and on", {
  o <- orthanc_client("a")
  up <- local_instance(o)
  old <- o$get_tools_metrics()
  expect_true(old %in% c("0", "1"))
  withr::defer(o$put_tools_metrics(data = old))
  expect_null(o$put_tools_metrics(data = "1"))
  expect_equal(o$get_tools_metrics(), "1")
  prom <- o$get_tools_metrics_prometheus()
  expect_type(prom, "character")
  lines <- strsplit(prom, "\n", fixed = TRUE)[[1]]
  count <- grep("^orthanc_count_instances ", lines, value = TRUE)
  expect_length(count, 1L)
  # "name value timestamp"
  expect_match(count, "^orthanc_count_instances [0-9]+ [0-9]+$")
  expect_gte(as.numeric(strsplit(count, " ")[[1]][2]), 1)
  expect_true(any(startsWith(lines, "orthanc_count_patients ")))
  o$put_tools_metrics(data = "0")
  expect_equal(o$get_tools_metrics(), "0")
  o$put_tools_metrics(data = "1")
  expect_equal(o$get_tools_metrics(), "1")
})

test_that("accepted transfer syntaxes, SOP classes and unknown SOP classes round-trip", {
  o <- orthanc_client("a")
  old <- o$get_tools_accepted_transfer_syntaxes()
  expect_type(old, "list")
  expect_true("1.2.840.10008.1.2.1" %in% unlist(old))
  withr::defer(o$put_tools_accepted_transfer_syntaxes(json = old))
  two <- list("1.2.840.10008.1.2", "1.2.840.10008.1.2.1")
  expect_equal(o$put_tools_accepted_transfer_syntaxes(json = two), two)
  expect_equal(o$get_tools_accepted_transfer_syntaxes(), two)
  # A single string with a wildcard is a JSON string.
  jpeg <- unlist(o$put_tools_accepted_transfer_syntaxes(json = "1.2.840.10008.1.2.4.*"))
  expect_true(length(jpeg) > 5)
  expect_true(all(startsWith(jpeg, "1.2.840.10008.1.2.4.")))
  expect_equal(o$put_tools_accepted_transfer_syntaxes(json = old), old)
  expect_equal(o$get_tools_accepted_transfer_syntaxes(), old)

  sop <- unlist(o$get_tools_accepted_sop_classes())
  expect_type(sop, "character")
  expect_true(all(c("1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.7") %in% sop))

  unknown <- o$get_tools_unknown_sop_class_accepted()
  expect_true(unknown %in% c("0", "1"))
  withr::defer(o$put_tools_unknown_sop_class_accepted(data = unknown))
  flipped <- if (unknown == "1") "0" else "1"
  expect_null(o$put_tools_unknown_sop_class_accepted(data = flipped))
  expect_equal(o$get_tools_unknown_sop_class_accepted(), flipped)
  o$put_tools_unknown_sop_class_accepted(data = unknown)
  expect_equal(o$get_tools_unknown_sop_class_accepted(), unknown)
})

test_that("the default encoding round-trips", {
  o <- orthanc_client("a")
  old <- o$get_tools_default_encoding()
  expect_type(old, "character")
  withr::defer(o$put_tools_default_encoding(data = old))
  o$put_tools_default_encoding(data = "Utf8")
  expect_equal(o$get_tools_default_encoding(), "Utf8")
  o$put_tools_default_encoding(data = "Latin1")
  expect_equal(o$get_tools_default_encoding(), "Latin1")
  expect_error(o$put_tools_default_encoding(data = "NoSuchEncoding"), class = "orthanc_http_error")
  o$put_tools_default_encoding(data = old)
  expect_equal(o$get_tools_default_encoding(), old)
})

test_that("the DICOM conformance statement is text", {
  o <- orthanc_client("a")
  txt <- o$get_tools_dicom_conformance()
  expect_type(txt, "character")
  expect_length(txt, 1L)
  expect_match(txt, "DICOM Conformance Statement of Orthanc", fixed = TRUE)
  expect_match(txt, "1.2.840.10008.5.1.4.1.1.7", fixed = TRUE)
})

test_that("create-dicom makes an instance that lookup finds by its UIDs", {
  o <- orthanc_client("a")
  pid <- paste0("TOOLS-", o$get_tools_generate_uid(level = "patient"))
  tools_defer_delete_patient(o, pid)
  made <- o$post_tools_create_dicom(json = list(Tags = list(
    PatientID = pid, PatientName = "TOOLS^Create",
    SOPClassUID = "1.2.840.10008.5.1.4.1.1.7", Modality = "OT", StudyDescription = "made by create-dicom"
  )))
  expect_equal(made$Status, "Success")
  expect_match(made$ID, "^[0-9a-f]{8}(-[0-9a-f]{8}){4}$")
  expect_equal(made$Path, paste0("/instances/", made$ID))
  expect_true(all(c("ParentPatient", "ParentStudy", "ParentSeries") %in% names(made)))

  content <- o$post_tools_bulk_content(json = list(Resources = list(made$ID), Level = "Instance"))
  sop <- content[[1]]$MainDicomTags$SOPInstanceUID
  expect_match(sop, "^[0-9.]+$")
  hit <- o$post_tools_lookup(data = sop)
  expect_length(hit, 1L)
  expect_equal(hit[[1]]$Type, "Instance")
  expect_equal(hit[[1]]$ID, made$ID)
  hit <- o$post_tools_lookup(data = pid)
  expect_equal(hit[[1]]$Type, "Patient")
  expect_equal(hit[[1]]$ID, made$ParentPatient)
  expect_equal(o$post_tools_lookup(data = "1.2.3.4.5.6.7.8.9.no.such.uid"), list())
})

test_that("find searches every level, with labels, limits and expansion; count-resources counts", {
  o <- orthanc_client("a")
  p <- tools_local_patient(o, n = 3L, name = "TOOLS^FIND")
  label <- paste0("tools", sample.int(1e6, 1))

  expect_equal(o$post_tools_find(json = list(Level = "Patient", Query = list(PatientID = p$patient_id))), list(p$patient))
  expect_equal(o$post_tools_find(json = list(Level = "Study", Query = list(PatientID = p$patient_id))), list(p$study))
  expect_equal(o$post_tools_find(json = list(Level = "Series", Query = list(PatientID = p$patient_id, Modality = "OT"))), list(p$series))
  found <- unlist(o$post_tools_find(json = list(Level = "Instance", Query = list(PatientID = p$patient_id))))
  expect_setequal(found, p$instances)

  # Expand gives the resources' descriptions.
  studies <- o$post_tools_find(json = list(
    Level = "Study", Query = list(PatientID = p$patient_id, StudyDescription = "tools*"), Expand = TRUE
  ))
  expect_length(studies, 1L)
  expect_equal(studies[[1]]$ID, p$study)
  expect_equal(studies[[1]]$Type, "Study")
  expect_equal(studies[[1]]$PatientMainDicomTags$PatientID, p$patient_id)
  expect_equal(studies[[1]]$MainDicomTags$StudyInstanceUID, p$study_uid)
  # Wildcards, case-insensitive.
  expect_equal(
    o$post_tools_find(json = list(Level = "Patient", Query = list(PatientID = p$patient_id, PatientName = "tools^fi*"), CaseSensitive = FALSE)),
    list(p$patient)
  )

  # Limit and Since page through the answers.
  q <- list(Level = "Instance", Query = list(PatientID = p$patient_id))
  first <- unlist(o$post_tools_find(json = c(q, list(Limit = 2, Since = 0))))
  rest <- unlist(o$post_tools_find(json = c(q, list(Limit = 2, Since = 2))))
  expect_length(first, 2L)
  expect_length(rest, 1L)
  expect_setequal(c(first, rest), p$instances)

  # Labels.
  o$put_instances_id_labels_label(p$instances[1], label)
  expect_true(label %in% unlist(o$get_tools_labels()))
  labelled <- o$post_tools_find(json = list(
    Level = "Instance", Query = structure(list(), names = character()), Labels = I(label), LabelsConstraint = "All"
  ))
  expect_equal(labelled, list(p$instances[1]))
  none <- o$post_tools_find(json = list(
    Level = "Instance", Query = list(PatientID = p$patient_id), Labels = I(label), LabelsConstraint = "None"
  ))
  expect_setequal(unlist(none), p$instances[-1])

  skip_if_not(tools_version_at_least(o, "1.12.5"), "count-resources needs Orthanc 1.12.5")
  expect_equal(o$post_tools_count_resources(json = q), list(Count = 3L))
  expect_equal(o$post_tools_count_resources(json = list(Level = "Series", Query = list(PatientID = p$patient_id)))$Count, 1L)
  expect_equal(
    o$post_tools_count_resources(json = list(Level = "Instance", Query = structure(list(), names = character()), Labels = I(label)))$Count,
    1L
  )
})

test_that("labels disappear from the list when no resource has them", {
  o <- orthanc_client("a")
  p <- tools_local_patient(o)
  label <- paste0("toolsgone", sample.int(1e6, 1))
  expect_false(label %in% unlist(o$get_tools_labels()))
  o$put_instances_id_labels_label(p$instances, label)
  labels <- o$get_tools_labels()
  expect_type(labels, "list")
  expect_true(label %in% unlist(labels))
  expect_null(o$post_tools_bulk_delete(json = list(Resources = list(p$instances))))
  expect_false(label %in% unlist(o$get_tools_labels()))
})

test_that("bulk-content, bulk-modify, bulk-anonymize and bulk-delete act on sets of resources", {
  o <- orthanc_client("a")
  p <- tools_local_patient(o, n = 2L)

  content <- o$post_tools_bulk_content(json = list(Resources = as.list(p$instances)))
  expect_length(content, 2L)
  expect_setequal(vapply(content, `[[`, "", "ID"), p$instances)
  expect_true(all(vapply(content, `[[`, "", "Type") == "Instance"))
  up <- o$post_tools_bulk_content(json = list(Resources = as.list(p$instances), Level = "Patient", Metadata = TRUE))
  expect_length(up, 1L)
  expect_equal(up[[1]]$ID, p$patient)
  expect_equal(up[[1]]$MainDicomTags$PatientID, p$patient_id)
  expect_true("LastUpdate" %in% names(up[[1]]$Metadata))

  modified <- o$post_tools_bulk_modify(json = list(
    Resources = list(p$study), Level = "Study", Replace = list(StudyDescription = "TOOLS MODIFIED")
  ))
  expect_false(modified$IsAnonymization)
  expect_equal(modified$InstancesCount, 2L)
  expect_equal(modified$FailedInstancesCount, 0L)
  new_study <- Filter(function(r) identical(r$Type, "Study"), modified$Resources)
  expect_length(new_study, 1L)
  expect_false(identical(new_study[[1]]$ID, p$study))
  desc <- o$post_tools_bulk_content(json = list(Resources = list(new_study[[1]]$ID)))[[1]]$MainDicomTags$StudyDescription
  expect_equal(desc, "TOOLS MODIFIED")

  anon <- o$post_tools_bulk_anonymize(json = list(Resources = list(p$patient), Level = "Patient"))
  anon_patient <- Filter(function(r) identical(r$Type, "Patient"), anon$Resources)
  withr::defer(try(o$post_tools_bulk_delete(json = list(Resources = lapply(anon_patient, `[[`, "ID"))), silent = TRUE))
  expect_true(anon$IsAnonymization)
  # The patient now has the original and the modified study: 4 instances.
  expect_equal(anon$InstancesCount, 4L)
  expect_length(anon_patient, 1L)
  anon_tags <- o$post_tools_bulk_content(json = list(Resources = list(anon_patient[[1]]$ID)))[[1]]$MainDicomTags
  expect_false(identical(anon_tags$PatientID, p$patient_id))

  # bulk-delete removes resources of any level.
  o$post_tools_bulk_delete(json = list(Resources = list(anon_patient[[1]]$ID, new_study[[1]]$ID)))
  expect_equal(o$post_tools_bulk_content(json = list(Resources = list(p$study)))[[1]]$ID, p$study)
  expect_equal(o$post_tools_find(json = list(Level = "Patient", Query = list(PatientID = anon_tags$PatientID))), list())
  expect_length(o$post_tools_find(json = list(Level = "Study", Query = list(PatientID = p$patient_id))), 1L)
  o$post_tools_bulk_delete(json = list(Resources = as.list(p$instances)))
  expect_equal(tools_instances_of(o, p$patient_id), NULL)
})

test_that("execute-script runs Lua and gives back what it prints", {
  o <- orthanc_client("a")
  expect_equal(o$post_tools_execute_script(data = "print(42)"), "42\n")
  aet <- o$post_tools_execute_script(data = "local s = ParseJson(RestApiGet('/system')) print(s['DicomAet'])")
  expect_equal(aet, paste0(o$get_system()$DicomAet, "\n"))
  # A script that prints nothing gives an empty answer.
  expect_null(o$post_tools_execute_script(data = "local x = 1"))
  expect_error(o$post_tools_execute_script(data = "this is not lua"), class = "orthanc_http_error")
})

test_that("create-archive and create-media give ZIP files, by GET and by POST", {
  o <- orthanc_client("a")
  p <- tools_local_patient(o, n = 2L)

  zip <- o$get_tools_create_archive(resources = p$instances[1], params = list(filename = "tools-test.zip"))
  expect_zip(zip)
  expect_length(zip_entries(zip)$Name, 1L)
  expect_match(orthanc_last_response(o)$headers[["content-disposition"]], "tools-test.zip", fixed = TRUE)

  media <- o$get_tools_create_media(resources = p$study)
  expect_zip(media)
  expect_true("DICOMDIR" %in% zip_entries(media)$Name)
  expect_length(grep("^IMAGES/", zip_entries(media)$Name), 2L)

  ext <- o$get_tools_create_media_extended(resources = p$series)
  expect_zip(ext)
  expect_true("DICOMDIR" %in% zip_entries(ext)$Name)

  pzip <- o$post_tools_create_archive(json = list(Resources = as.list(p$instances)))
  expect_zip(pzip)
  files <- zip_entries(pzip)$Name
  expect_length(files, 2L)
  expect_true(all(grepl("\\.dcm$", files)))

  pmedia <- o$post_tools_create_media(json = list(Resources = list(p$patient)))
  expect_zip(pmedia)
  expect_setequal(grep("^IMAGES/", zip_entries(pmedia)$Name, value = TRUE), c("IMAGES/IM0", "IMAGES/IM1"))
  expect_true("DICOMDIR" %in% zip_entries(pmedia)$Name)

  pext <- o$post_tools_create_media_extended(json = list(Resources = list(p$study)))
  expect_zip(pext)
  expect_true("DICOMDIR" %in% zip_entries(pext)$Name)
  expect_length(grep("^IMAGES/", zip_entries(pext)$Name), 2L)
})

test_that("GET create-archive takes several resources as a comma-separated list", {
  # The documented form of `resources` is "id1,id2": the comma must reach
  # Orthanc as a comma (Orthanc 1.12.7 does not decode %2C in query values).
  o <- orthanc_client("a")
  p <- tools_local_patient(o, n = 3L)
  zip <- o$get_tools_create_archive(resources = paste(p$instances, collapse = ","))
  expect_zip(zip)
  expect_length(zip_entries(zip)$Name, 3L)
})

test_that("invalidate-tags and reconstruct leave the index usable", {
  o <- orthanc_client("a")
  p <- tools_local_patient(o)
  expect_null(o$post_tools_invalidate_tags())
  expect_null(o$post_tools_reconstruct(json = list(ReconstructFiles = FALSE)))
  # After reconstruction the instance is still indexed under the same IDs.
  expect_equal(tools_instances_of(o, p$patient_id), p$instances)
  expect_equal(
    o$post_tools_bulk_content(json = list(Resources = list(p$instances)))[[1]]$ParentSeries,
    p$series
  )
})
