# System-wide endpoint methods: system, statistics, plugins, the /tools index,
# changes, exports and jobs. Shared fixtures are in helper-uncovered-tools.R.

test_that("system describes the server", {
  o <- orthanc_client("a")
  sys <- o$get_system()
  expect_type(sys, "list")
  expect_equal(sys$DicomAet, Sys.getenv("ORTHANC_TEST_AET"))
  expect_equal(sys$DicomPort, as.integer(Sys.getenv("ORTHANC_TEST_DICOM_PORT")))
  if (nzchar(Sys.getenv("ORTHANC_TEST_VERSION"))) {
    expect_equal(sys$Version, Sys.getenv("ORTHANC_TEST_VERSION"))
  }
  expect_match(sys$Version, "^[0-9]+\\.[0-9]+\\.[0-9]+")
  expect_type(sys$ApiVersion, "integer")
  # api_version is the version of the API description the methods come from.
  expect_equal(o$api_version, "1.12.10")
  expect_type(sys$Name, "character")
  expect_false(sys$CheckRevisions)
  expect_true(all(c("my-metadata", "meta with space", "m\u00e9ta-donn\u00e9es") %in% names(sys$UserMetadata)))
  expect_equal(sys$UserMetadata[["m\u00e9ta-donn\u00e9es"]], 1026L)
  expect_equal(orthanc_client("b")$get_system()$DicomAet, Sys.getenv("ORTHANC_TEST_AET2"))
})

test_that("statistics count what is stored", {
  o <- orthanc_client("a")
  before <- o$get_statistics()
  expect_true(all(c(
    "CountInstances", "CountPatients", "CountSeries", "CountStudies",
    "TotalDiskSize", "TotalDiskSizeMB", "TotalUncompressedSize", "TotalUncompressedSizeMB"
  ) %in% names(before)))
  expect_type(before$CountInstances, "integer")
  # Sizes are strings (64-bit numbers).
  expect_match(before$TotalDiskSize, "^[0-9]+$")
  p <- tools_local_patient(o, n = 2L)
  after <- o$get_statistics()
  expect_equal(after$CountInstances - before$CountInstances, 2L)
  expect_equal(after$CountPatients - before$CountPatients, 1L)
  expect_equal(after$CountStudies - before$CountStudies, 1L)
  expect_equal(after$CountSeries - before$CountSeries, 1L)
  expect_gt(as.numeric(after$TotalDiskSize), as.numeric(before$TotalDiskSize))
})

test_that("plugins: gdcm, neuro and dicom-web are loaded, beside the explorer.js extension point", {
  o <- orthanc_client("a")
  plugins <- o$get_plugins()
  expect_type(plugins, "list")
  # GET /plugins always lists "explorer.js"; dev/orthanc-server loads the
  # plugins of the Debian packages orthanc-gdcm, orthanc-neuro and
  # orthanc-dicomweb, and no other.
  expect_setequal(unlist(plugins), c("explorer.js", "gdcm", "neuro", "dicom-web"))
  dicomweb <- o$get_plugins_id("dicom-web")
  expect_equal(dicomweb$ID, "dicom-web")
  expect_match(dicomweb$Version, "^[0-9]+\\.[0-9]+")
  gdcm <- o$get_plugins_id("gdcm")
  expect_equal(gdcm$ID, "gdcm")
  expect_match(gdcm$Description, "GDCM", fixed = TRUE)
  expect_match(gdcm$Version, "^[0-9]+\\.[0-9]+")
  expect_false(gdcm$ExtendsOrthancExplorer)
  neuro <- o$get_plugins_id("neuro")
  expect_equal(neuro$ID, "neuro")
  expect_match(neuro$Description, "NIfTI", fixed = TRUE)
  expect_match(neuro$Version, "^[0-9]+\\.[0-9]+")
  # The neuro plugin adds to Orthanc Explorer, through explorer.js.
  expect_true(neuro$ExtendsOrthancExplorer)
  js <- o$get_plugins_explorer.js()
  expect_type(js, "raw")
  expect_match(orthanc_last_response(o)$headers[["content-type"]], "javascript")
  expect_match(rawToChar(js), "Orthanc Explorer", fixed = TRUE)
  err <- expect_error(o$get_plugins_id("no-such-plugin"), class = "orthanc_http_404")
  expect_equal(err$status, 404L)
})

test_that("the /tools index lists the tools", {
  o <- orthanc_client("a")
  expect_listed(o$get_tools(), c(
    "create-archive", "create-dicom", "execute-script", "find", "generate-uid", "log-level",
    "lookup", "metrics", "now", "reset", "shutdown"
  ))
})

test_that("changes are listed with limit and since, and can be cleared", {
  o <- orthanc_client("a")
  last <- o$get_changes(params = list(last = TRUE))$Last
  expect_type(last, "integer")
  p <- tools_local_patient(o)
  ch <- o$get_changes(params = list(since = last, limit = 100))
  expect_true(all(c("Changes", "Done", "Last") %in% names(ch)))
  expect_true(ch$Done)
  expect_gt(ch$Last, last)
  mine <- Filter(function(x) identical(x$ID, p$instances), ch$Changes)
  expect_length(mine, 1L)
  expect_equal(mine[[1]]$ChangeType, "NewInstance")
  expect_equal(mine[[1]]$ResourceType, "Instance")
  expect_equal(mine[[1]]$Path, paste0("/instances/", p$instances))
  expect_match(mine[[1]]$Date, "^[0-9]{8}T[0-9]{6}$")
  types <- vapply(ch$Changes, `[[`, "", "ChangeType")
  expect_true(all(c("NewPatient", "NewStudy", "NewSeries", "NewInstance") %in% types))
  # limit = 1: one change and more to come.
  one <- o$get_changes(params = list(since = last, limit = 1))
  expect_length(one$Changes, 1L)
  expect_false(one$Done)
  expect_equal(one$Changes[[1]]$Seq, one$Last)
  # last = TRUE: the newest change only.
  newest <- o$get_changes(params = list(last = TRUE))
  expect_length(newest$Changes, 1L)
  expect_equal(newest$Changes[[1]]$Seq, newest$Last)

  expect_null(expect_invisible(o$delete_changes()))
  cleared <- o$get_changes(params = list(since = 0, limit = 100))
  expect_equal(cleared$Changes, list())
  expect_true(cleared$Done)
})

test_that("exports list what was sent to a modality, and can be cleared", {
  o <- orthanc_client("a")
  b <- orthanc_client("b")
  peer <- Sys.getenv("ORTHANC_TEST_PEER", "b")
  p <- tools_local_patient(o, cleanup = list(o, b))
  o$post_modalities_id_store(peer, json = list(Resources = list(p$instances)))
  ex <- o$get_exports(params = list(limit = 1000))
  expect_true(all(c("Exports", "Done", "Last") %in% names(ex)))
  mine <- Filter(function(x) identical(x$ID, p$instances), ex$Exports)
  expect_length(mine, 1L)
  expect_equal(mine[[1]]$RemoteModality, peer)
  expect_equal(mine[[1]]$ResourceType, "Instance")
  expect_equal(mine[[1]]$PatientID, p$patient_id)
  expect_equal(mine[[1]]$SeriesInstanceUID, p$series_uid)
  expect_equal(mine[[1]]$Seq, ex$Last)
  since <- o$get_exports(params = list(since = ex$Last))
  expect_equal(since$Exports, list())

  expect_null(expect_invisible(o$delete_exports()))
  expect_equal(o$get_exports()$Exports, list())
})

test_that("an asynchronous archive job is listed, described, gives its ZIP, and is deleted", {
  o <- orthanc_client("a")
  p <- tools_local_patient(o, n = 3L)
  job <- o$post_tools_create_archive(json = list(Resources = list(p$study), Asynchronous = TRUE))
  expect_equal(job$Path, paste0("/jobs/", job$ID))
  withr::defer(try(o$delete_jobs_id(job$ID), silent = TRUE))
  info <- wait_for_job(o, job$ID)
  expect_equal(info$ID, job$ID)
  expect_equal(info$Type, "Archive")
  expect_equal(info$Progress, 100L)
  expect_equal(info$ErrorCode, 0L)
  expect_equal(info$Content$InstancesCount, 3L)
  expect_match(info$CreationTime, "^[0-9]{8}T[0-9]{6}")

  expect_true(job$ID %in% unlist(o$get_jobs()))
  expanded <- o$get_jobs(params = list(expand = TRUE))
  mine <- Filter(function(j) identical(j$ID, job$ID), expanded)
  expect_length(mine, 1L)
  expect_equal(mine[[1]]$State, "Success")
  expect_equal(mine[[1]]$Type, "Archive")

  zip <- o$get_jobs_id_key(job$ID, "archive")
  expect_zip(zip)
  expect_length(zip_entries(zip)$Name, 3L)
  expect_equal(length(zip), as.numeric(info$Content$ArchiveSize))
  expect_null(expect_invisible(o$delete_jobs_id_key(job$ID, "archive")))
  expect_error(o$get_jobs_id_key(job$ID, "archive"), class = "orthanc_http_404")

  expect_null(expect_invisible(o$delete_jobs_id(job$ID)))
  expect_error(o$get_jobs_id(job$ID), class = "orthanc_http_404")
  expect_false(job$ID %in% unlist(o$get_jobs()))
})

test_that("jobs are paused, resumed, canceled and resubmitted", {
  # Two store jobs to a "modality" that accepts TCP connections but never
  # answers keep both job workers busy (ConcurrentJobs = 2) for a few seconds,
  # so that a third job stays Pending while we act on it.
  o <- orthanc_client("a")
  b <- orthanc_client("b")
  peer <- Sys.getenv("ORTHANC_TEST_PEER", "b")
  p <- tools_local_patient(o, cleanup = list(o, b))

  sock <- NULL
  for (port in sample(20000:40000, 50)) {
    sock <- tryCatch(serverSocket(port), error = function(e) NULL)
    if (!is.null(sock)) break
  }
  skip_if(is.null(sock), "no free local port for a silent DICOM peer")
  withr::defer(close(sock))
  silent <- paste0("tools-silent-", port)
  o$put_modalities_id(silent, json = list(AET = "SILENT", Host = "127.0.0.1", Port = port, Timeout = 2))
  withr::defer(try(o$delete_modalities_id(silent), silent = TRUE))

  blockers <- vapply(1:2, function(i) {
    o$post_modalities_id_store(silent, json = list(Resources = list(p$instances), Asynchronous = TRUE))$ID
  }, "")
  withr::defer(for (id in blockers) try({
    wait_for_job(o, id, c("Success", "Failure"), timeout = 20)
    o$delete_jobs_id(id)
  }, silent = TRUE))
  for (id in blockers) wait_for_job(o, id, "Running", timeout = 10)

  job <- o$post_peers_id_store(peer, json = list(Resources = list(p$instances), Asynchronous = TRUE))$ID
  withr::defer(try(o$delete_jobs_id(job), silent = TRUE))
  expect_equal(o$get_jobs_id(job)$State, "Pending")

  expect_equal(o$post_jobs_id_pause(job), structure(list(), names = character()))
  expect_equal(o$get_jobs_id(job)$State, "Paused")
  expect_equal(o$post_jobs_id_resume(job), structure(list(), names = character()))
  expect_equal(o$get_jobs_id(job)$State, "Pending")
  # Only a paused job can be resumed.
  expect_error(o$post_jobs_id_resume(job), class = "orthanc_http_400")

  expect_equal(o$post_jobs_id_cancel(job), structure(list(), names = character()))
  canceled <- o$get_jobs_id(job)
  expect_equal(canceled$State, "Failure")
  expect_equal(canceled$ErrorCode, 37L)
  expect_match(canceled$ErrorDescription, "cancel", ignore.case = TRUE)

  expect_equal(o$post_jobs_id_resubmit(job), structure(list(), names = character()))
  expect_true(o$get_jobs_id(job)$State %in% c("Pending", "Running", "Success"))
  done <- wait_for_job(o, job, timeout = 30)
  expect_equal(done$ErrorCode, 0L)
  expect_equal(done$Type, "OrthancPeerStore")
  expect_equal(tools_instances_of(b, p$patient_id), p$instances)
  # Only a failed job can be resubmitted.
  expect_error(o$post_jobs_id_resubmit(job), class = "orthanc_http_400")

  # The blockers fail: the silent peer never answers the association.
  for (id in blockers) {
    failed <- wait_for_job(o, id, "Failure", timeout = 20)
    expect_equal(failed$Type, "DicomModalityStore")
  }
})
