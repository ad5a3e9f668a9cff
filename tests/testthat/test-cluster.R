# A cluster (issue 17, item 7): two Orthanc 1.12.7 nodes on one PostgreSQL
# index and one storage directory (`dev/orthanc-server start --cluster`:
# ORTHANC_CLUSTER_URL1, ORTHANC_CLUSTER_URL2, the credentials of the other
# test servers). What is stored through node 1 is found, counted, sorted and
# retrieved through node 2, and R workers each talking to its own node export
# a cohort into one tree identical to a single-process export. The tests store
# through node 1 only and delete what they stored.
#
# /system on these nodes (Debian 13: orthanc 1.12.7, orthanc-postgresql 5.0):
# "DatabaseBackendPlugin" is the PostgreSQL index plugin, and "Capabilities"
# says HasExtendedFind false and HasExtendedChanges false (extended find came
# with the PostgreSQL plugin 7.0): find_*() sort in R and count_*() count by
# listing (the fallbacks of older servers). The tests check the same answers
# whatever the capabilities say, so they hold with a newer plugin too.

cluster_client <- function(node = 1L) {
  var <- paste0("ORTHANC_CLUSTER_URL", node)
  if (!nzchar(Sys.getenv(var))) {
    if (on_ci()) {
      stop("CI=true but no Orthanc cluster: ", var, " is not set (start one with dev/orthanc-server start --cluster)")
    }
    testthat::skip(paste0(
      "no Orthanc cluster (", var, " is not set; start one with dev/orthanc-server start --cluster)"
    ))
  }
  cred <- test_credentials()
  Orthanc$new(Sys.getenv(var), cred$username, cred$password)
}

ids_of <- function(resources) vapply(resources, function(r) r$identifier, "")

dates_of <- function(studies) vapply(studies, function(s) s$main_dicom_tags$StudyDate, "")

# Relative paths of every file under `dir` (hidden ones too: a leftover
# temporary file would show), sorted.
tree_files <- function(dir) sort(list.files(dir, recursive = TRUE, all.files = TRUE, no.. = TRUE))

test_that("the nodes are two Orthanc servers on one PostgreSQL index", {
  k1 <- cluster_client(1L)
  k2 <- cluster_client(2L)
  s1 <- k1$get_system()
  s2 <- k2$get_system()
  expect_false(identical(s1$Name, s2$Name))
  expect_false(identical(s1$DatabaseServerIdentifier, s2$DatabaseServerIdentifier))
  for (s in list(s1, s2)) {
    expect_match(s$DatabaseBackendPlugin, "PostgreSQL", fixed = TRUE)
    expect_identical(s$Version, "1.12.7")
  }
  # Both nodes say the same about themselves (false with orthanc-postgresql 5.0).
  expect_identical(k1$capabilities$extended_find, k2$capabilities$extended_find)
  expect_identical(unlist(k1$get_plugins()), unlist(k2$get_plugins()))
  expect_true("postgresql-index" %in% unlist(k1$get_plugins()))
})

test_that("what one node stores, the other finds, counts, sorts and retrieves", {
  k1 <- cluster_client(1L)
  k2 <- cluster_client(2L)
  pid <- unique_patient_id("RCLUSTER")
  q <- list(PatientID = pid)
  # Five studies created through node 1 (StudyDate 20200101 to 20200105).
  tree <- local_patient_tree(k1, studies = 5, patient_id = pid)
  # DICOM files uploaded through node 1.
  files <- fixture(c("Brainix-Flair-1.dcm", "Brainix-Flair-2.dcm", "Knee-T1-1.dcm", "CT-JpegLossless.dcm"))
  report <- upload(k1, files)
  withr::defer(for (id in report$id[report$status == "Success"]) try(k1$delete_instances_id(id), silent = TRUE))
  expect_true(all(report$status %in% c("Success", "AlreadyStored")))

  # Found through node 2, with the same answers as node 1.
  found <- find_studies(k2, query = q)
  expect_setequal(ids_of(found), tree$studies)
  expect_identical(ids_of(found), ids_of(find_studies(k1, query = q)))
  expect_setequal(report$id, ids_of(find_instances(k2, query = list(
    SOPInstanceUID = paste(vapply(report$id, function(id) k1$get_instances_id(id)$MainDicomTags$SOPInstanceUID, ""),
      collapse = "\\"
    )
  ))))
  for (id in unique(report$parent_study)) {
    uid <- k1$get_studies_id(id)$MainDicomTags$StudyInstanceUID
    expect_identical(ids_of(find_studies(k2, query = list(StudyInstanceUID = uid))), id)
  }

  # Counted through node 2 (equal to the lengths of the finds of node 1).
  expect_identical(count_studies(k2, query = q), 5)
  expect_identical(count_instances(k2, query = q), 5)
  for (query in list(q, c(q, StudyDate = "20200102-20200104"), list(PatientID = "no-such-patient-cluster"))) {
    expect_identical(count_studies(k2, query = query), as.numeric(length(find_studies(k1, query = query))))
    expect_identical(count_instances(k2, query = query), as.numeric(length(find_instances(k1, query = query))))
  }
  expect_identical(count_instances(k2), count_instances(k1))
  expect_gte(count_instances(k2), 5 + nrow(report))

  # Sorted through node 2: the latest three, then every one by two ascending.
  top <- find_studies(k2, query = q, order_by = c(StudyDate = "desc"), limit = 3, retrieve_all_resources = FALSE)
  expect_identical(dates_of(top), c("20200105", "20200104", "20200103"))
  asc <- find_studies(k2, query = q, order_by = c(StudyDate = "asc"), limit = 2)
  expect_identical(dates_of(asc), sprintf("202001%02d", 1:5))
  expect_identical(ids_of(asc), ids_of(found)[order(dates_of(found))])

  # Retrieved through node 2: the bytes node 1 received.
  dir <- withr::local_tempdir()
  uploaded <- find_studies(k2, query = list(StudyInstanceUID = paste(
    vapply(unique(report$parent_study), function(id) k1$get_studies_id(id)$MainDicomTags$StudyInstanceUID, ""),
    collapse = "\\"
  )))
  written <- retrieve_and_write_studies(uploaded, dir)
  expect_true(all(written$status == "Written"))
  expect_setequal(written$id, report$id)
  expect_identical(
    unname(tools::md5sum(written$path[match(report$id, written$id)])),
    unname(tools::md5sum(files))
  )
  made <- retrieve_and_write_studies(found, file.path(dir, "made"))
  expect_identical(nrow(made), 5L)
  expect_identical(
    unname(tools::md5sum(made$path)),
    vapply(made$id, function(id) md5_of(k1$get_instances_id_file(id)), "", USE.NAMES = FALSE)
  )
})

test_that("R workers on both nodes export a cohort into one tree identical to one process's", {
  skip_on_os("windows")
  k1 <- cluster_client(1L)
  k2 <- cluster_client(2L)
  pid <- unique_patient_id("RCOHORT")
  q <- list(PatientID = pid)
  # The cohort, stored through node 1: 6 studies of 2 series of 2 instances.
  local_patient_tree(k1, studies = 6, series = 2, instances = 2, patient_id = pid)
  expect_identical(count_instances(k1, query = q), 24)

  # One process, one node.
  ref <- withr::local_tempdir()
  one <- retrieve_and_write_studies(find_studies(k1, query = q), ref)
  expect_true(all(one$status == "Written"))
  expect_length(tree_files(ref), 24L)

  # Two forked workers (parallel::mclapply), each with its own client to its
  # own node, each exporting every other study (by date) into one folder. The
  # folder names do not depend on which studies a worker has: the six
  # studies have distinct descriptions. Run in a child R with a timeout, so
  # that a deadlock fails the test instead of hanging it.
  par <- withr::local_tempdir()
  cred <- test_credentials()
  res <- callr::r(function(urls, user, password, pid, out) {
    library(orthanc)
    work <- function(w) {
      o <- Orthanc$new(urls[[w]], user, password)
      studies <- find_studies(o, query = list(PatientID = pid), order_by = c(StudyDate = "asc"))
      mine <- unclass(studies)[seq_along(studies) %% 2L == w %% 2L]
      written <- retrieve_and_write_studies(mine, out, concurrency = 2)
      list(pid = Sys.getpid(), node = o$get_system()$Name, studies = length(mine), status = written$status)
    }
    parallel::mclapply(1:2, work, mc.cores = 2, mc.preschedule = FALSE)
  }, list(
    urls = c(Sys.getenv("ORTHANC_CLUSTER_URL1"), Sys.getenv("ORTHANC_CLUSTER_URL2")),
    user = cred$username, password = cred$password, pid = pid, out = par
  ), timeout = 120, env = fault_child_env())

  expect_length(res, 2L)
  for (w in res) {
    expect_false(inherits(w, "try-error"), info = paste(unlist(w), collapse = " "))
    expect_identical(w$studies, 3L)
    expect_identical(w$status, rep("Written", 12L))
  }
  expect_identical(vapply(res, function(w) w$node, ""), c(k1$get_system()$Name, k2$get_system()$Name))
  expect_false(identical(res[[1]]$pid, res[[2]]$pid))
  # The same files under the same relative paths, byte for byte.
  expect_identical(tree_files(par), tree_files(ref))
  expect_identical(
    unname(tools::md5sum(file.path(par, tree_files(par)))),
    unname(tools::md5sum(file.path(ref, tree_files(ref))))
  )
})
