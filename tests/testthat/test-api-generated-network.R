# DICOM and HTTP networking between server A and server B: modalities, peers,
# queries (C-FIND, C-MOVE, C-GET), storage commitment, tools/dicom-echo.
# Shared fixtures are in helper-uncovered-tools.R.

tools_peer_name <- function() {
  skip_if_no_orthanc("ORTHANC_TEST_URL2")
  Sys.getenv("ORTHANC_TEST_PEER", "b")
}

tools_dicom_port_b <- function() as.integer(Sys.getenv("ORTHANC_TEST_DICOM_PORT2"))

test_that("modalities are listed, described, created and deleted", {
  o <- orthanc_client("a")
  peer <- tools_peer_name()
  expect_true(peer %in% unlist(o$get_modalities()))
  all <- o$get_modalities(params = list(expand = TRUE))
  expect_equal(all[[peer]]$AET, Sys.getenv("ORTHANC_TEST_AET2"))
  expect_equal(all[[peer]]$Port, tools_dicom_port_b())
  expect_listed(o$get_modalities_id(peer), c("echo", "store", "store-straight", "query", "move", "get", "storage-commitment", "find-worklist", "configuration"))
  cfg <- o$get_modalities_id_configuration(peer)
  expect_equal(cfg$AET, Sys.getenv("ORTHANC_TEST_AET2"))
  expect_equal(cfg$Host, "127.0.0.1")
  expect_true(cfg$AllowStore)

  name <- paste0("tools-mod-", sample.int(1e6, 1))
  withr::defer(try(o$delete_modalities_id(name), silent = TRUE))
  expect_null(o$put_modalities_id(name, json = list(
    AET = Sys.getenv("ORTHANC_TEST_AET2"), Host = "127.0.0.1", Port = tools_dicom_port_b(),
    AllowStore = FALSE, Timeout = 7, Manufacturer = "Generic"
  )))
  expect_true(name %in% unlist(o$get_modalities()))
  cfg <- o$get_modalities_id_configuration(name)
  expect_equal(cfg$AET, Sys.getenv("ORTHANC_TEST_AET2"))
  expect_equal(cfg$Port, tools_dicom_port_b())
  expect_equal(cfg$Timeout, 7L)
  expect_false(cfg$AllowStore)
  # The new modality works: C-ECHO to B through it.
  expect_equal(o$post_modalities_id_echo(name, json = list(Timeout = 5)), structure(list(), names = character()))
  # Changing it.
  o$put_modalities_id(name, json = list(AET = "OTHERAET", Host = "127.0.0.1", Port = tools_dicom_port_b()))
  expect_equal(o$get_modalities_id_configuration(name)$AET, "OTHERAET")
  expect_null(expect_invisible(o$delete_modalities_id(name)))
  expect_false(name %in% unlist(o$get_modalities()))
  expect_error(o$get_modalities_id_configuration(name), class = "orthanc_http_404")
})

test_that("C-ECHO reaches B, by modality name and by tools/dicom-echo", {
  o <- orthanc_client("a")
  peer <- tools_peer_name()
  empty <- structure(list(), names = character())
  expect_equal(o$post_modalities_id_echo(peer, json = empty), empty)
  expect_equal(o$post_tools_dicom_echo(json = list(
    AET = Sys.getenv("ORTHANC_TEST_AET2"), Host = "127.0.0.1", Port = tools_dicom_port_b(), Timeout = 5
  )), empty)
  # Nothing listens on port 9: a network error, as a 500.
  err <- expect_error(
    o$post_tools_dicom_echo(json = list(AET = "NOBODY", Host = "127.0.0.1", Port = 9L, Timeout = 2)),
    class = "orthanc_http_500"
  )
  expect_match(err$error_body$Details, "Connection refused|TCP", ignore.case = TRUE)
  expect_error(o$post_modalities_id_echo("no-such-modality"), class = "orthanc_http_404")
})

test_that("C-STORE sends instances to B, from the index and straight from a file", {
  o <- orthanc_client("a")
  b <- orthanc_client("b")
  peer <- tools_peer_name()
  p <- tools_local_patient(o, n = 2L, cleanup = list(o, b))

  res <- o$post_modalities_id_store(peer, json = list(Resources = list(p$instances[1])))
  expect_equal(res$InstancesCount, 1L)
  expect_equal(res$FailedInstancesCount, 0L)
  expect_equal(res$RemoteAet, Sys.getenv("ORTHANC_TEST_AET2"))
  expect_equal(res$LocalAet, Sys.getenv("ORTHANC_TEST_AET"))
  on_b <- tools_instances_of(b, p$patient_id)
  expect_length(on_b, 1L)
  # Orthanc IDs are hashes of the DICOM UIDs: the same on both servers.
  expect_equal(on_b, p$instances[1])

  # store-straight: the DICOM file itself, not indexed on A.
  bytes <- o$get_instances_id_file(p$instances[2])
  f <- withr::local_tempfile(fileext = ".dcm")
  writeBin(bytes, f)
  sop <- o$post_tools_bulk_content(json = list(Resources = list(p$instances[2])))[[1]]$MainDicomTags$SOPInstanceUID
  straight <- o$post_modalities_id_store_straight(peer, file = f)
  expect_equal(straight$SOPInstanceUID, sop)
  expect_equal(straight$SOPClassUID, "1.2.840.10008.5.1.4.1.1.7")
  expect_setequal(tools_instances_of(b, p$patient_id), p$instances)

  # Asynchronous store: a job.
  b$post_tools_bulk_delete(json = list(Resources = as.list(p$instances)))
  job <- o$post_modalities_id_store(peer, json = list(Resources = list(p$series), Asynchronous = TRUE))
  expect_match(job$ID, "^[0-9a-f-]{36}$")
  done <- wait_for_job(o, job$ID)
  expect_equal(done$Type, "DicomModalityStore")
  expect_setequal(tools_instances_of(b, p$patient_id), p$instances)
})

test_that("C-FIND queries B; answers, sub-queries and retrieve work", {
  o <- orthanc_client("a")
  b <- orthanc_client("b")
  peer <- tools_peer_name()
  p <- tools_local_patient(o, n = 2L, cleanup = list(o, b))
  o$post_modalities_id_store(peer, json = list(Resources = list(p$study)))

  q <- o$post_modalities_id_query(peer, json = list(
    Level = "Series", Query = list(PatientID = p$patient_id, SeriesInstanceUID = "", Modality = "")
  ))
  withr::defer(try(o$delete_queries_id(q$ID), silent = TRUE))
  expect_equal(q$Path, paste0("/queries/", q$ID))
  expect_listed(o$get_queries(), q$ID)
  expect_true(all(c("answers", "level", "modality", "query", "retrieve") %in% unlist(o$get_queries_id(q$ID))))
  expect_equal(o$get_queries_id_level(q$ID), "Series")
  expect_equal(o$get_queries_id_modality(q$ID), peer)
  query <- o$get_queries_id_query(q$ID)
  expect_equal(query[["0010,0020"]]$Value, p$patient_id)
  expect_equal(query[["0010,0020"]]$Name, "PatientID")
  expect_equal(o$get_queries_id_query(q$ID, params = list(simplify = TRUE))$PatientID, p$patient_id)

  expect_equal(o$get_queries_id_answers(q$ID), list("0"))
  expanded <- o$get_queries_id_answers(q$ID, params = list(expand = TRUE, simplify = TRUE))
  expect_equal(expanded[[1]]$SeriesInstanceUID, p$series_uid)
  expect_equal(expanded[[1]]$Modality, "OT")
  expect_listed(o$get_queries_id_answers_index(q$ID, 0), c("content", "retrieve"))
  content <- o$get_queries_id_answers_index_content(q$ID, 0)
  expect_equal(content[["0020,000e"]]$Value, p$series_uid)
  expect_equal(content[["0008,0052"]]$Value, "SERIES")
  simple <- o$get_queries_id_answers_index_content(q$ID, 0, params = list(simplify = TRUE))
  expect_equal(simple$StudyInstanceUID, p$study_uid)

  # Retrieve (C-MOVE to A) brings back what A had deleted.
  o$post_tools_bulk_delete(json = list(Resources = as.list(p$instances)))
  expect_null(tools_instances_of(o, p$patient_id))
  one <- o$post_queries_id_answers_index_retrieve(q$ID, 0, json = list(TargetAet = Sys.getenv("ORTHANC_TEST_AET"), Synchronous = TRUE))
  expect_equal(one$RemoteAet, Sys.getenv("ORTHANC_TEST_AET2"))
  expect_equal(one$TargetAet, Sys.getenv("ORTHANC_TEST_AET"))
  expect_setequal(tools_instances_of(o, p$patient_id), p$instances)
  o$post_tools_bulk_delete(json = list(Resources = as.list(p$instances)))
  # The whole query, with the target AET as a plain-text body.
  all <- o$post_queries_id_retrieve(q$ID, data = Sys.getenv("ORTHANC_TEST_AET"))
  expect_equal(all$TargetAet, Sys.getenv("ORTHANC_TEST_AET"))
  expect_length(all$Query, 1L)
  expect_setequal(tools_instances_of(o, p$patient_id), p$instances)
  o$post_tools_bulk_delete(json = list(Resources = as.list(p$instances)))
  job <- o$post_queries_id_retrieve(q$ID, json = list(TargetAet = Sys.getenv("ORTHANC_TEST_AET"), Asynchronous = TRUE))
  wait_for_job(o, job$ID)
  expect_setequal(tools_instances_of(o, p$patient_id), p$instances)

  # Sub-queries from an answer: patient -> studies -> series -> instances.
  qp <- o$post_modalities_id_query(peer, json = list(Level = "Patient", Query = list(PatientID = p$patient_id)))
  withr::defer(try(o$delete_queries_id(qp$ID), silent = TRUE))
  expect_equal(o$get_queries_id_answers(qp$ID), list("0"))
  qs <- o$post_queries_id_answers_index_query_studies(qp$ID, 0, json = list(Query = list(StudyDescription = "")))
  withr::defer(try(o$delete_queries_id(qs$ID), silent = TRUE))
  expect_equal(qs$Path, paste0("/queries/", qs$ID))
  expect_equal(o$get_queries_id_level(qs$ID), "Study")
  st <- o$get_queries_id_answers(qs$ID, params = list(expand = TRUE, simplify = TRUE))
  expect_length(st, 1L)
  expect_equal(st[[1]]$StudyInstanceUID, p$study_uid)
  expect_equal(st[[1]]$StudyDescription, "tools group")
  qse <- o$post_queries_id_answers_index_query_series(qs$ID, 0, json = list(Query = list(Modality = "")))
  withr::defer(try(o$delete_queries_id(qse$ID), silent = TRUE))
  expect_equal(qse$Path, paste0("/queries/", qse$ID))
  expect_equal(o$get_queries_id_level(qse$ID), "Series")
  se <- o$get_queries_id_answers(qse$ID, params = list(expand = TRUE, simplify = TRUE))
  expect_equal(se[[1]]$SeriesInstanceUID, p$series_uid)
  qi <- o$post_queries_id_answers_index_query_instances(qse$ID, 0, json = list(Query = list(SOPInstanceUID = "")))
  withr::defer(try(o$delete_queries_id(qi$ID), silent = TRUE))
  expect_equal(qi$Path, paste0("/queries/", qi$ID))
  expect_equal(o$get_queries_id_level(qi$ID), "Instance")
  inst <- o$get_queries_id_answers(qi$ID, params = list(expand = TRUE, simplify = TRUE))
  expect_length(inst, 2L)
  expect_true(all(vapply(inst, `[[`, "", "SeriesInstanceUID") == p$series_uid))

  expect_null(expect_invisible(o$delete_queries_id(q$ID)))
  expect_false(q$ID %in% unlist(o$get_queries()))
  expect_error(o$get_queries_id(q$ID), class = "orthanc_http_404")
})

test_that("C-MOVE and C-GET fetch from B", {
  o <- orthanc_client("a")
  b <- orthanc_client("b")
  peer <- tools_peer_name()
  p <- tools_local_patient(o, n = 2L, cleanup = list(o, b))
  o$post_modalities_id_store(peer, json = list(Resources = list(p$patient)))
  o$post_tools_bulk_delete(json = list(Resources = list(p$patient)))
  expect_null(tools_instances_of(o, p$patient_id))

  series <- list(list(StudyInstanceUID = p$study_uid, SeriesInstanceUID = p$series_uid))
  moved <- o$post_modalities_id_move(peer, json = list(
    Level = "Series", Resources = series, TargetAet = Sys.getenv("ORTHANC_TEST_AET"), Synchronous = TRUE
  ))
  expect_equal(moved$RemoteAet, Sys.getenv("ORTHANC_TEST_AET2"))
  expect_equal(moved$TargetAet, Sys.getenv("ORTHANC_TEST_AET"))
  expect_equal(moved$Query[[1]][["0020,000e"]], p$series_uid)
  expect_setequal(tools_instances_of(o, p$patient_id), p$instances)

  o$post_tools_bulk_delete(json = list(Resources = list(p$patient)))
  got <- o$post_modalities_id_get(peer, json = list(Level = "Study", Resources = list(list(StudyInstanceUID = p$study_uid)), Synchronous = TRUE))
  expect_equal(got$RemoteAet, Sys.getenv("ORTHANC_TEST_AET2"))
  expect_equal(got$Query[[1]][["0008,0052"]], "STUDY")
  expect_setequal(tools_instances_of(o, p$patient_id), p$instances)
})

test_that("storage commitment asks B, reports, and removes the committed instances from A", {
  o <- orthanc_client("a")
  b <- orthanc_client("b")
  peer <- tools_peer_name()
  p <- tools_local_patient(o, n = 2L, cleanup = list(o, b))
  o$post_modalities_id_store(peer, json = list(Resources = list(p$instances[1])))
  sops <- vapply(o$post_tools_bulk_content(json = list(Resources = as.list(p$instances))), function(x) x$MainDicomTags$SOPInstanceUID, "")
  ids <- vapply(o$post_tools_bulk_content(json = list(Resources = as.list(p$instances))), `[[`, "", "ID")
  sops <- sops[match(p$instances, ids)]

  sc <- o$post_modalities_id_storage_commitment(peer, json = list(Resources = as.list(p$instances), Timeout = 10))
  expect_equal(sc$Path, paste0("/storage-commitment/", sc$ID))
  deadline <- Sys.time() + 20
  repeat {
    report <- o$get_storage_commitment_id(sc$ID)
    if (!identical(report$Status, "Pending") || Sys.time() > deadline) break
    Sys.sleep(0.2)
  }
  expect_equal(report$RemoteAET, Sys.getenv("ORTHANC_TEST_AET2"))
  # B has the first instance only.
  expect_equal(report$Status, "Failure")
  expect_equal(vapply(report$Success, `[[`, "", "SOPInstanceUID"), sops[1])
  expect_equal(vapply(report$Failures, `[[`, "", "SOPInstanceUID"), sops[2])

  # All of them on B: a successful report; then "remove" deletes them from A.
  o$post_modalities_id_store(peer, json = list(Resources = list(p$instances[2])))
  sc <- o$post_modalities_id_storage_commitment(peer, json = list(Resources = as.list(p$instances)))
  deadline <- Sys.time() + 20
  repeat {
    report <- o$get_storage_commitment_id(sc$ID)
    if (!identical(report$Status, "Pending") || Sys.time() > deadline) break
    Sys.sleep(0.2)
  }
  expect_equal(report$Status, "Success")
  expect_setequal(vapply(report$Success, `[[`, "", "SOPInstanceUID"), sops)
  expect_equal(report$Failures, list())
  expect_equal(o$post_storage_commitment_id_remove(sc$ID), structure(list(), names = character()))
  expect_null(tools_instances_of(o, p$patient_id))
  expect_setequal(tools_instances_of(b, p$patient_id), p$instances)
  expect_error(o$get_storage_commitment_id("1.2.3.no.such.report"), class = "orthanc_http_404")
})

test_that("find-worklist is refused by B, which has no worklist plugin", {
  # Orthanc answers worklist C-FIND only through a worklist plugin; server B has
  # none, so it does not accept the Modality Worklist presentation context.
  o <- orthanc_client("a")
  peer <- tools_peer_name()
  err <- expect_error(
    o$post_modalities_id_find_worklist(peer, json = list(Query = list(PatientID = "*"))),
    class = "orthanc_http_500"
  )
  expect_equal(err$status, 500L)
  expect_match(err$error_body$Message, "presentation context", ignore.case = TRUE)
  expect_match(err$error_body$Details, Sys.getenv("ORTHANC_TEST_AET2"), fixed = TRUE)
})

test_that("peers are listed, described, created, used and deleted", {
  o <- orthanc_client("a")
  b <- orthanc_client("b")
  peer <- tools_peer_name()
  url2 <- Sys.getenv("ORTHANC_TEST_URL2")
  expect_listed(o$get_peers(), peer)
  expanded <- o$get_peers(params = list(expand = TRUE))
  expect_equal(sub("/$", "", expanded[[peer]]$Url), url2)
  expect_listed(o$get_peers_id(peer), c("configuration", "store", "store-straight", "system"))
  cfg <- o$get_peers_id_configuration(peer)
  expect_equal(sub("/$", "", cfg$Url), url2)
  expect_equal(cfg$Username, Sys.getenv("ORTHANC_TEST_USERNAME"))
  # The password is never shown.
  expect_null(cfg$Password)
  sys <- o$get_peers_id_system(peer)
  expect_equal(sys$DicomAet, Sys.getenv("ORTHANC_TEST_AET2"))
  expect_equal(sys$Version, b$get_system()$Version)

  name <- paste0("tools-peer-", sample.int(1e6, 1))
  withr::defer(try(o$delete_peers_id(name), silent = TRUE))
  cred <- test_credentials()
  expect_null(o$put_peers_id(name, json = list(Url = url2, Username = cred$username, Password = cred$password, Timeout = 9)))
  expect_true(name %in% unlist(o$get_peers()))
  cfg <- o$get_peers_id_configuration(name)
  expect_equal(cfg$Timeout, 9L)
  expect_equal(o$get_peers_id_system(name)$DicomAet, Sys.getenv("ORTHANC_TEST_AET2"))
  expect_null(expect_invisible(o$delete_peers_id(name)))
  expect_false(name %in% unlist(o$get_peers()))
  expect_error(o$get_peers_id_configuration(name), class = "orthanc_http_404")
  # A peer with a wrong password: B answers 401, which A reports as an error.
  bad <- paste0(name, "-bad")
  withr::defer(try(o$delete_peers_id(bad), silent = TRUE))
  o$put_peers_id(bad, json = list(Url = url2, Username = cred$username, Password = "wrong"))
  expect_error(o$get_peers_id_system(bad), class = "orthanc_http_error")
  o$delete_peers_id(bad)
})

test_that("peers store instances on B over HTTP, from the index and straight from a file", {
  o <- orthanc_client("a")
  b <- orthanc_client("b")
  peer <- tools_peer_name()
  p <- tools_local_patient(o, n = 2L, cleanup = list(o, b))
  res <- o$post_peers_id_store(peer, json = list(Resources = list(p$instances[1])))
  expect_equal(res$InstancesCount, 1L)
  expect_equal(res$FailedInstancesCount, 0L)
  expect_equal(res$ParentResources, list(p$instances[1]))
  expect_equal(tools_instances_of(b, p$patient_id), p$instances[1])
  # The ID as a plain-text body.
  res <- o$post_peers_id_store(peer, data = p$instances[2])
  expect_equal(res$InstancesCount, 1L)
  expect_setequal(tools_instances_of(b, p$patient_id), p$instances)

  b$post_tools_bulk_delete(json = list(Resources = as.list(p$instances)))
  f <- withr::local_tempfile(fileext = ".dcm")
  writeBin(o$get_instances_id_file(p$instances[1]), f)
  straight <- o$post_peers_id_store_straight(peer, file = f)
  # B's answer to the upload.
  expect_equal(straight$Status, "Success")
  expect_equal(straight$ID, p$instances[1])
  expect_equal(tools_instances_of(b, p$patient_id), p$instances[1])
})
