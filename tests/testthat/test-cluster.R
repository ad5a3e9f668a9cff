# A cluster (issue 17, item 7): two Orthanc 1.12.7 nodes on one PostgreSQL
# index and one storage directory (`dev/orthanc-server start --cluster`:
# ORTHANC_CLUSTER_URL1, ORTHANC_CLUSTER_URL2, the credentials of the other
# test servers). Node 1 is the writer; node 2 is read-only ("ReadOnly": true,
# Orthanc 1.12.5): it refuses to store, modify or delete. What is stored
# through node 1 is found, counted, sorted and retrieved through node 2, and R
# workers (forked by `parallel`, or `future` multisession sessions) each
# talking to its own node export a cohort into one tree identical to a
# single-process export. The tests delete what they stored (through node 1).
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
  # One writer: node 2 is read-only.
  expect_false(isTRUE(s1$ReadOnly))
  expect_true(isTRUE(s2$ReadOnly))
  expect_false(k1$capabilities$read_only)
  expect_true(k2$capabilities$read_only)
})

test_that("the read-only node refuses writes with classed errors; the writer is unharmed", {
  k1 <- cluster_client(1L)
  k2 <- cluster_client(2L)
  pid <- unique_patient_id("RREADONLY")
  tree <- local_patient_tree(k1, studies = 1, patient_id = pid)
  before <- k1$get_statistics()$CountInstances
  file <- fixture("Lena-2.dcm")

  # Storing: POST /instances is not a route of a read-only Orthanc (405).
  expect_error(k2$post_instances(file = file), class = "orthanc_http_405")
  report <- upload(k2, file)
  expect_identical(report$status, "Failed")
  expect_match(report$message, "405")
  # Creating, modifying, deleting: refused (405 for the routes it leaves out,
  # 500 "Cannot modify a read-only data structure" for the others).
  err <- tryCatch(k2$post_tools_create_dicom(json = list(Tags = list(PatientID = pid))), error = identity)
  expect_s3_class(err, "orthanc_http_500")
  expect_match(conditionMessage(err), "read-only", fixed = TRUE)
  expect_error(
    k2$put_studies_id_metadata_name(tree$studies, "my-metadata", data = "x"),
    "read-only", class = "orthanc_http_error"
  )
  expect_error(k2$delete_instances_id(tree$instances), class = "orthanc_http_405")
  expect_error(bulk_delete(k2, tree$studies), class = "orthanc_http_error")

  # Nothing changed, and node 1 still writes and reads.
  expect_identical(k2$get_statistics()$CountInstances, before)
  expect_identical(ids_of(find_studies(k2, query = list(PatientID = pid))), tree$studies)
  expect_false("my-metadata" %in% unlist(k1$get_studies_id_metadata(tree$studies)))
  stored <- upload(k1, file)
  withr::defer(for (id in stored$id[stored$status == "Success"]) try(k1$delete_instances_id(id), silent = TRUE))
  expect_true(all(stored$status %in% c("Success", "AlreadyStored")))
  expect_identical(k2$get_instances_id_file(stored$id), readBin(file, "raw", file.size(file)))
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

# A cohort stored through node 1: 6 studies (distinct dates and descriptions,
# so that the folders of the export do not depend on which worker wrote
# them) of 2 series of 2 instances, copies of a fixture
# (helper-dicom-copies.R); deleted when the calling test ends. Returns the
# patient ID and the tree of a single-process export through node 1.
local_cohort <- function(k1, env = parent.frame()) {
  pid <- unique_patient_id("RCOHORT")
  stamp <- dicom_uid_stamp()
  study <- rep(1:6, each = 4L)
  series <- rep(rep(1:2, each = 2L), 6L)
  paths <- dicom_copies(dicom_seed(fixture("Lena-1.dcm")), withr::local_tempdir(.local_envir = env), list(
    PatientID = rep(pid, 24L), StudyDate = sprintf("202001%02d", study),
    StudyDescription = paste("Study", study), SeriesDescription = paste("Series", series),
    SeriesNumber = as.character(series), InstanceNumber = as.character(rep(1:2, 12L)),
    StudyInstanceUID = sprintf("2.25.%s1%07d", stamp, study),
    SeriesInstanceUID = sprintf("2.25.%s2%07d", stamp, study * 10L + series),
    SOPInstanceUID = dicom_uids(24L, 3L, stamp)
  ))
  report <- upload(k1, paths)
  withr::defer(try(bulk_delete(k1, unique(report$parent_patient)), silent = TRUE), envir = env)
  expect_identical(report$status, rep("Success", 24L))
  expect_identical(count_instances(k1, query = list(PatientID = pid)), 24)
  # One process, one node.
  ref <- withr::local_tempdir(.local_envir = env)
  one <- retrieve_and_write_studies(find_studies(k1, query = list(PatientID = pid)), ref)
  expect_true(all(one$status == "Written"))
  expect_length(tree_files(ref), 24L)
  list(patient_id = pid, ref = ref)
}

# What each worker does, in its own process: its own client to its own node
# (clients cannot cross processes: made from the URL and credentials), every
# other study by date, written into the one shared folder `out`.
cohort_worker <- function(w, urls, user, password, pid, out) {
  o <- orthanc::Orthanc$new(urls[[w]], user, password)
  studies <- orthanc::find_studies(o, query = list(PatientID = pid), order_by = c(StudyDate = "asc"))
  mine <- unclass(studies)[seq_along(studies) %% 2L == w %% 2L]
  written <- orthanc::retrieve_and_write_studies(mine, out, concurrency = 2)
  list(pid = Sys.getpid(), node = o$get_system()$Name, studies = length(mine), status = written$status)
}
# Sent to other processes: nothing of the test's environment goes with it.
environment(cohort_worker) <- globalenv()

# The workers' answers and tree against the single-process tree.
expect_cohort_export <- function(res, par, ref, k1, k2) {
  expect_length(res, 2L)
  for (w in res) {
    expect_false(inherits(w, "try-error"), info = paste(unlist(w), collapse = " "))
    expect_identical(w$studies, 3L)
    expect_identical(w$status, rep("Written", 12L))
  }
  expect_identical(vapply(res, function(w) w$node, ""), c(k1$get_system()$Name, k2$get_system()$Name))
  expect_false(identical(res[[1]]$pid, res[[2]]$pid))
  expect_false(Sys.getpid() %in% c(res[[1]]$pid, res[[2]]$pid))
  # The same files under the same relative paths, byte for byte.
  expect_identical(tree_files(par), tree_files(ref))
  expect_identical(
    unname(tools::md5sum(file.path(par, tree_files(par)))),
    unname(tools::md5sum(file.path(ref, tree_files(ref))))
  )
}

cluster_args <- function(pid, out) {
  cred <- test_credentials()
  list(
    urls = c(Sys.getenv("ORTHANC_CLUSTER_URL1"), Sys.getenv("ORTHANC_CLUSTER_URL2")),
    user = cred$username, password = cred$password, pid = pid, out = out
  )
}

test_that("forked R workers (parallel) on both nodes export a cohort into one tree identical to one process's", {
  skip_on_os("windows")
  k1 <- cluster_client(1L)
  k2 <- cluster_client(2L)
  cohort <- local_cohort(k1)
  # Two forked workers (parallel::mclapply), run in a child R with a
  # timeout, so that a deadlock fails the test instead of hanging it.
  par <- withr::local_tempdir()
  res <- callr::r(function(worker, args) {
    parallel::mclapply(1:2, function(w) do.call(worker, c(list(w), args)), mc.cores = 2, mc.preschedule = FALSE)
  }, list(worker = cohort_worker, args = cluster_args(cohort$patient_id, par)), timeout = 120, env = fault_child_env())
  expect_cohort_export(res, par, cohort$ref, k1, k2)
})

test_that("future multisession workers on both nodes export a cohort into one tree identical to one process's", {
  skip_if_not_installed("future")
  k1 <- cluster_client(1L)
  k2 <- cluster_client(2L)
  cohort <- local_cohort(k1)
  # Two R sessions of future's multisession plan (new R processes, not
  # forks), each given the URLs and credentials, not a client. In a child R
  # with a timeout, so that a deadlock fails the test instead of hanging it.
  par <- withr::local_tempdir()
  res <- callr::r(function(worker, args) {
    future::plan(future::multisession, workers = 2L)
    on.exit(future::plan(future::sequential))
    fs <- lapply(1:2, function(w) future::future(do.call(worker, c(list(w), args)), seed = NULL))
    future::value(fs)
  }, list(worker = cohort_worker, args = cluster_args(cohort$patient_id, par)), timeout = 180, env = fault_child_env())
  expect_cohort_export(res, par, cohort$ref, k1, k2)
})
