test_that("capabilities: what the server can do, asked once", {
  o <- orthanc_client()
  caps <- o$capabilities
  expect_named(caps, c("version", "api_version", "extended_find", "extended_changes", "labels", "read_only", "plugins"))
  expect_identical(caps$version, o$get_system()$Version)
  expect_true(is.numeric(caps$api_version) && caps$api_version >= 1)
  expect_false(caps$read_only)
  expect_type(caps$plugins, "character")
  expect_identical(caps$plugins, as.character(unlist(o$get_plugins())))
  if (package_version(caps$version) >= "1.12.5") {
    expect_true(caps$extended_find)
    expect_true(caps$extended_changes)
  }
  expect_error(o$capabilities <- list(), class = "orthanc_argument_error")
  # Remembered: a client whose server is gone still answers it.
  dead <- Orthanc$new("http://127.0.0.1:9", retries = 0)
  expect_error(dead$capabilities, class = "orthanc_connection_error")
})

test_that("capabilities of Orthanc 1.10.1: no extended find or changes", {
  o <- legacy_client()
  caps <- o$capabilities
  expect_identical(caps$version, "1.10.1")
  expect_false(caps$extended_find)
  expect_false(caps$extended_changes)
  expect_error(
    orthanc:::require_capability(o, "extended_find", "A sorted find"),
    "needs Orthanc 1.12.5 or later", class = "orthanc_unsupported_error"
  )
  err <- tryCatch(orthanc:::require_capability(o, "extended_find", "A sorted find"), error = identity)
  expect_identical(err$server_version, "1.10.1")
  expect_identical(err$needs, "1.12.5")
})

changes_check <- function(o) {
  start <- attr(changes(o, since = 0, limit = 1), "last_seq")
  # The end of the log, whatever it holds: asked with no limit from the last change.
  before <- attr(changes(o, since = o$get_changes(params = list(last = ""))$Last), "last_seq")
  ids <- character()
  pid <- paste0("changes-", paste(sample(letters, 10), collapse = ""))
  withr::defer(for (id in ids) try(o$delete_instances_id(id), silent = TRUE))
  for (i in 1:3) {
    ids[i] <- o$post_tools_create_dicom(json = list(Tags = list(
      PatientID = pid, PatientName = "Changes^Test", InstanceNumber = as.character(i),
      SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    )))$ID
  }
  new <- changes(o, since = before, type = "NewInstance")
  mine <- new[new$id %in% ids, ]
  expect_identical(nrow(mine), 3L)
  expect_setequal(mine$id, ids)
  expect_true(all(mine$change_type == "NewInstance") && all(mine$level == "Instance"))
  expect_s3_class(new$date, "POSIXct")
  expect_true(all(abs(as.numeric(difftime(mine$date, Sys.time(), units = "mins"))) < 60))
  expect_true(all(diff(new$seq) > 0))
  expect_gte(attr(new, "last_seq"), max(mine$seq))
  # Asked again from where it stopped: none of ours.
  again <- changes(o, since = attr(new, "last_seq"), type = "NewInstance")
  expect_false(any(again$id %in% ids))
  # All types, then cut by limit: last_seq is the last row, and going on from
  # there gives the rest, each change once.
  all <- changes(o, since = before)
  expect_true(all(c("NewInstance", "NewSeries", "NewStudy", "NewPatient") %in% all$change_type))
  first <- changes(o, since = before, limit = 2, page_size = 1)
  expect_identical(nrow(first), 2L)
  expect_identical(attr(first, "last_seq"), first$seq[2])
  rest <- changes(o, since = attr(first, "last_seq"), to = max(all$seq))
  expect_identical(c(first$seq, rest$seq), all$seq[all$seq <= max(all$seq)])
  # `to` is included and bounds last_seq.
  upto <- changes(o, since = before, to = all$seq[3])
  expect_identical(upto$seq, all$seq[1:3])
  expect_identical(attr(upto, "last_seq"), all$seq[3])
  expect_gte(start, 0)
}

test_that("changes() lists what was stored, once, with the sequence to go on from", {
  changes_check(orthanc_client())
})

test_that("changes() on Orthanc 1.10.1: the same answers, filtered in R", {
  changes_check(legacy_client())
})

test_that("changes() refuses wrong arguments before sending anything", {
  o <- Orthanc$new("http://127.0.0.1:9", retries = 0)
  expect_error(changes(o, since = -1), class = "orthanc_argument_error")
  expect_error(changes(o, since = 1.5), class = "orthanc_argument_error")
  expect_error(changes(o, to = "x"), class = "orthanc_argument_error")
  expect_error(changes(o, limit = 0), class = "orthanc_argument_error")
  expect_error(changes(o, type = NA_character_), class = "orthanc_argument_error")
  expect_error(changes(o, type = "A;B"), class = "orthanc_argument_error")
  expect_error(changes("not a client"), class = "orthanc_argument_error")
})

count_check <- function(o) {
  pid <- unique_patient_id()
  local_patient_tree(o, studies = 2, series = 2, patient_id = pid, modalities = c("MR", "CT"))
  q <- list(PatientID = pid)
  expect_identical(count_patients(o, query = q), 1)
  expect_identical(count_studies(o, query = q), 2)
  expect_identical(count_series(o, query = q), 4)
  expect_identical(count_instances(o, query = q), 4)
  expect_identical(count_series(o, query = c(q, Modality = "MR")), 2)
  for (query in list(q, c(q, Modality = "CT"), list(PatientID = "no-such-patient-x"))) {
    expect_identical(count_series(o, query = query), as.numeric(length(find_series(o, query = query))))
  }
  expect_identical(count_studies(o), as.numeric(length(unlist(o$get_studies()))))
  # Paging by a small page on older servers gives the same count.
  expect_identical(count_instances(o, query = q, page_size = 3), 4)
}

test_that("count_*() count as find_*() finds", {
  count_check(orthanc_client())
})

test_that("count_*() on Orthanc 1.10.1: counted by listing", {
  count_check(legacy_client())
})
