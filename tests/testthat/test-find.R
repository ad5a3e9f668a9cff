test_that("find_*() return prefilled resources, no request per object", {
  o <- orthanc_client("a")
  tree <- local_patient_tree(o, studies = 2, series = 2)
  q <- list(PatientID = tree$patient_id)
  n <- count_calls({
    pats <- find_patients(o, query = q)
    studies <- find_studies(o, query = q)
    series <- find_series(o, query = q)
    instances <- find_instances(o, query = q)
    vapply(c(pats, studies, series, instances), function(r) r$format(), "")
    vapply(series, function(s) s$modality, "")
  })
  expect_equal(n, 8L) # one page + the empty page that ends the paging, per level
  expect_length(pats, 1L)
  expect_s3_class(pats[[1]], "Patient")
  expect_equal(pats[[1]]$identifier, tree$patient)
  expect_setequal(vapply(studies, function(s) s$identifier, ""), tree$studies)
  expect_setequal(vapply(series, function(s) s$identifier, ""), tree$series)
  expect_setequal(vapply(instances, function(s) s$identifier, ""), tree$instances)
  expect_true(all(vapply(instances, inherits, TRUE, "Instance")))
})

test_that("paging returns every match exactly once whatever the limit", {
  o <- orthanc_client("a")
  tree <- local_patient_tree(o, studies = 1, series = 3, instances = 3)
  q <- list(PatientID = tree$patient_id)
  for (limit in c(1L, 2L, 4L, 9L, 100L)) {
    res <- find_instances(o, query = q, limit = limit)
    ids <- vapply(res, function(r) r$identifier, "")
    expect_equal(length(ids), 9L)
    expect_false(anyDuplicated(ids) > 0)
    expect_setequal(ids, tree$instances)
  }
  first <- find_instances(o, query = q, limit = 4, retrieve_all_resources = FALSE)
  expect_length(first, 4L)
  rest <- find_instances(o, query = q, limit = 100, since = 4)
  expect_length(rest, 5L)
  expect_setequal(
    c(vapply(first, function(r) r$identifier, ""), vapply(rest, function(r) r$identifier, "")),
    tree$instances
  )
})

test_that("query_orthanc() accepts level names loosely and checks its arguments", {
  o <- orthanc_client("a")
  tree <- local_patient_tree(o)
  q <- list(PatientID = tree$patient_id)
  expect_length(query_orthanc(o, "studies", query = q), 1L)
  expect_length(query_orthanc(o, "SERIES", query = q), 1L)
  expect_true(query_orthanc(o, "instance", query = q, lock_children = TRUE)[[1]]$lock_children)
  expect_error(query_orthanc(o, "Frame"), class = "orthanc_argument_error")
  expect_error(query_orthanc("nope", "Study"), class = "orthanc_argument_error")
  expect_error(find_studies(o, query = list("x")), class = "orthanc_argument_error")
  expect_error(find_studies(o, query = list(PatientID = 1)), class = "orthanc_argument_error")
  expect_error(find_studies(o, labels = 1), class = "orthanc_argument_error")
  expect_error(find_studies(o, labels = "a", labels_constraint = "Some"), class = "orthanc_argument_error")
  expect_error(find_studies(o, limit = 0), class = "orthanc_argument_error")
  expect_error(find_studies(o, since = -1), class = "orthanc_argument_error")
  expect_error(find_studies(o, retrieve_all_resources = NA), class = "orthanc_argument_error")
  expect_error(find_studies(o, query = list(NoSuchTag = "x")), class = "orthanc_http_error")
})

test_that("finds filter on labels with All, Any and None", {
  o <- orthanc_client("a")
  tree <- local_patient_tree(o, studies = 3)
  q <- list(PatientID = tree$patient_id)
  s <- lapply(tree$studies, Study$new, client = o)
  s[[1]]$add_label("layer_red")
  s[[1]]$add_label("layer_blue")
  s[[2]]$add_label("layer_red")
  ids <- function(x) sort(vapply(x, function(r) r$identifier, ""))
  expect_equal(ids(find_studies(o, q, labels = "layer_red")), sort(tree$studies[1:2]))
  expect_equal(ids(find_studies(o, q, labels = c("layer_red", "layer_blue"))), tree$studies[1])
  expect_equal(
    ids(find_studies(o, q, labels = c("layer_blue", "layer_red"), labels_constraint = "Any")),
    sort(tree$studies[1:2])
  )
  expect_equal(ids(find_studies(o, q, labels = "layer_red", labels_constraint = "None")), tree$studies[3])
  # NULL (pyorthanc's default, None) is no label, as character() is.
  expect_equal(ids(find_studies(o, q, labels = NULL)), sort(tree$studies))
  expect_equal(ids(query_orthanc(o, "Study", q, labels = NULL, labels_constraint = "None")), sort(tree$studies))
})

test_that("find_and_filter_patients() prunes the tree with one find per level", {
  o <- orthanc_client("a")
  t1 <- local_patient_tree(o, studies = 2, series = 2, patient_id = paste0(unique_patient_id(), "-A"))
  t2 <- local_patient_tree(o, studies = 1, series = 1, patient_id = sub("-A$", "-B", t1$patient_id))
  prefix <- sub("-A$", "-*", t1$patient_id)
  q <- list(PatientID = prefix)

  all <- find_and_filter_patients(o, query = q)
  expect_setequal(vapply(all, function(p) p$identifier, ""), c(t1$patient, t2$patient))

  n <- count_calls(res <- find_and_filter_patients(o,
    query = q,
    study_filter = function(s) s$description == "Study 2"
  ))
  expect_equal(n, 4L) # patients and studies, each one page + the empty page
  expect_length(res, 1L)
  expect_equal(res[[1]]$identifier, t1$patient)
  expect_true(res[[1]]$lock_children)
  expect_equal(count_calls(st <- res[[1]]$studies), 0L)
  expect_length(st, 1L)
  expect_equal(st[[1]]$description, "Study 2")

  res <- find_and_filter_patients(o,
    query = q,
    series_filter = function(s) s$modality == "MR"
  )
  expect_length(res, 1L)
  expect_length(res[[1]]$studies, 2L)
  expect_true(all(vapply(res[[1]]$studies, function(s) length(s$series) == 1L, TRUE)))
  expect_equal(res[[1]]$studies[[1]]$series[[1]]$modality, "MR")

  res <- find_and_filter_patients(o,
    query = q,
    patient_filter = function(p) p$patient_id == t2$patient_id,
    instance_filter = function(i) i$instance_number == 1
  )
  expect_length(res, 1L)
  expect_equal(res[[1]]$identifier, t2$patient)
  expect_length(res[[1]]$studies[[1]]$series[[1]]$instances, 1L)

  expect_length(find_and_filter_patients(o, query = q, study_filter = function(s) FALSE), 0L)
  expect_error(find_and_filter_patients(o, study_filter = "x"), class = "orthanc_argument_error")
  expect_error(
    find_and_filter_patients(o, query = q, patient_filter = function(p) NA),
    class = "orthanc_argument_error"
  )
  expect_error(find_and_filter_patients(list()), class = "orthanc_argument_error")
})

test_that("finds work on the legacy Orthanc (1.10)", {
  skip_if_no_orthanc("ORTHANC_LEGACY_URL")
  cred <- test_credentials()
  o <- Orthanc$new(Sys.getenv("ORTHANC_LEGACY_URL"), cred$username, cred$password)
  tree <- local_patient_tree(o, series = 3)
  res <- find_series(o, query = list(PatientID = tree$patient_id), limit = 2)
  expect_setequal(vapply(res, function(r) r$identifier, ""), tree$series)
  expect_equal(nrow(as.data.frame(res)), 3L)
})
