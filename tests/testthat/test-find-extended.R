# Finds as Orthanc 1.12.5+ does them (order_by, parent, metadata,
# case_sensitive, requested_tags) and the same calls on Orthanc 1.10.1
# (done another way, or orthanc_unsupported_error; never an HTTP 400).

sorted_study_check <- function(o) {
  pid <- unique_patient_id()
  tree <- local_patient_tree(o, studies = 7, patient_id = pid)
  q <- list(PatientID = pid)
  all <- find_studies(o, query = q)
  dates <- vapply(all, function(s) s$main_dicom_tags$StudyDate, "")
  expect_length(all, 7)
  expected <- all[order(dates, decreasing = TRUE)]
  top <- find_studies(o, query = q, order_by = c(StudyDate = "desc"), limit = 5, retrieve_all_resources = FALSE)
  expect_identical(vapply(top, function(s) s$identifier, ""), vapply(expected[1:5], function(s) s$identifier, ""))
  # Paging by 2 through the 7, ascending: each once, in order.
  paged <- find_studies(o, query = q, order_by = c(StudyDate = "asc"), limit = 2)
  expect_identical(
    vapply(paged, function(s) s$main_dicom_tags$StudyDate, ""),
    sort(dates)
  )
  # A page from the middle.
  mid <- find_studies(o, query = q, order_by = c(StudyDate = "asc"), since = 3, limit = 2, retrieve_all_resources = FALSE)
  expect_identical(vapply(mid, function(s) s$main_dicom_tags$StudyDate, ""), sort(dates)[4:5])
  # Two keys: PatientName is the same for all, so StudyDate decides.
  two <- find_studies(o, query = q, order_by = c(PatientName = "asc", StudyDate = "desc"))
  expect_identical(vapply(two, function(s) s$main_dicom_tags$StudyDate, ""), sort(dates, decreasing = TRUE))
  # parent: the series of one study, by object and by named identifier.
  study <- all[[1]]
  s1 <- find_series(o, parent = study)
  expect_identical(sort(vapply(s1, function(s) s$identifier, "")), sort(vapply(study$series, function(s) s$identifier, "")))
  s2 <- find_series(o, parent = c(Study = study$identifier))
  expect_identical(vapply(s2, function(s) s$identifier, ""), vapply(s1, function(s) s$identifier, ""))
  expect_identical(count_series(o, parent = study), as.numeric(length(s1)))
  expect_identical(count_instances(o, parent = c(Patient = tree$patient)), 7)
  expect_identical(count_studies(o, query = q), 7)
  for (query in list(q, c(q, StudyDate = "20200101-20200103"), list(PatientID = "no-such-patient-z"))) {
    expect_identical(count_studies(o, query = query), as.numeric(length(find_studies(o, query = query))))
  }
  invisible(all)
}

test_that("finds sorted, paged and restricted to a parent by the server (1.12.5+)", {
  o <- orthanc_client()
  skip_if(!o$capabilities$extended_find, "server A has no extended find")
  sorted_study_check(o)
})

test_that("the same finds on Orthanc 1.10.1: sorted in R, parent as a tag", {
  sorted_study_check(legacy_client())
})

test_that("requested tags, metadata and case sensitivity (1.12.5+)", {
  o <- orthanc_client()
  skip_if(!o$capabilities$extended_find, "server A has no extended find")
  pid <- unique_patient_id()
  tree <- local_patient_tree(o, studies = 2, patient_id = pid)
  q <- list(PatientID = pid)
  found <- find_studies(o, query = q, requested_tags = c("Manufacturer", "0008,1030"))
  expect_identical(vapply(found, function(s) as.character(s$requested_tags$Manufacturer), ""), c("ACME", "ACME"))
  df <- as.data.frame(found)
  expect_identical(df$Manufacturer, c("ACME", "ACME"))
  expect_identical(find_studies(o, query = q)[[1]]$requested_tags, list())
  o$put_studies_id_metadata_name(tree$studies[2], "my-metadata", data = "done")
  o$put_studies_id_metadata_name(tree$studies[1], "my-metadata", data = "waiting")
  done <- find_studies(o, query = q, metadata = list(`my-metadata` = "done"))
  expect_identical(vapply(done, function(s) s$identifier, ""), tree$studies[2])
  expect_identical(count_studies(o, query = q, metadata = c(`my-metadata` = "wait*")), 1)
  by_meta <- find_studies(o, query = q, order_by = c(`metadata:my-metadata` = "asc"))
  expect_identical(vapply(by_meta, function(s) s$identifier, ""), tree$studies[2:1])
  lower <- list(PatientID = pid, PatientName = "layer^test")
  expect_length(find_patients(o, query = lower, case_sensitive = FALSE), 1)
  expect_length(find_patients(o, query = lower, case_sensitive = TRUE), 0)
})

test_that("Orthanc 1.10.1 refuses what it cannot do before anything is sent", {
  o <- legacy_client()
  pid <- unique_patient_id()
  local_patient_tree(o, studies = 1, patient_id = pid)
  q <- list(PatientID = pid)
  err <- tryCatch(find_studies(o, query = q, metadata = list(a = "b")), error = identity)
  expect_s3_class(err, "orthanc_unsupported_error")
  expect_match(conditionMessage(err), "needs Orthanc 1.12.5")
  expect_identical(err$server_version, "1.10.1")
  expect_error(find_studies(o, query = q, order_by = c(`metadata:my-metadata` = "asc")), "1.12.5", class = "orthanc_unsupported_error")
  expect_error(find_studies(o, query = q, requested_tags = "Manufacturer"), "1.11.0", class = "orthanc_unsupported_error")
  expect_error(count_studies(o, metadata = list(a = "b")), class = "orthanc_unsupported_error")
})

test_that("find arguments are checked before anything is sent", {
  o <- Orthanc$new("http://127.0.0.1:9", retries = 0)
  for (bad in list("desc", c(StudyDate = "down"), c("Study Date" = "asc"), c("metadata:" = "asc"), c(StudyDate = NA))) {
    expect_error(find_studies(o, order_by = bad), class = "orthanc_argument_error")
  }
  expect_error(find_studies(o, parent = "abc"), class = "orthanc_argument_error")
  expect_error(find_studies(o, parent = c(Series = "abc")), "must be above", class = "orthanc_argument_error")
  expect_error(find_studies(o, metadata = list(a = 1)), class = "orthanc_argument_error")
  expect_error(find_studies(o, case_sensitive = NA), class = "orthanc_argument_error")
  expect_error(find_studies(o, requested_tags = "Not A Tag"), class = "orthanc_argument_error")
  expect_error(count_studies(o, page_size = 0), class = "orthanc_argument_error")
})

# 1,000 studies (copies of a fixture, helper-dicom-copies.R) on 250 dates,
# paged by 7 in the order StudyDate descending, then StudyInstanceUID (a key
# without ties): page after page, each study once and in order.
paging_check <- function(o) {
  n <- 1000L
  dates <- format(as.Date("2001-01-01") + (seq_len(n) %% 250L) * 3L, "%Y%m%d")
  made <- local_study_copies(o, n, dates, patient_id = unique_patient_id("RPAGE"))
  q <- list(PatientID = made$patient_id)
  expect_identical(count_studies(o, query = q), as.numeric(n))
  keys <- c(StudyDate = "desc", StudyInstanceUID = "asc")
  expected <- made$study_uids[order(-as.integer(made$dates), made$study_uids, method = "radix")]
  uids_of <- function(studies) vapply(studies, function(s) s$main_dicom_tags$StudyInstanceUID, "", USE.NAMES = FALSE)

  pages <- list()
  since <- 0L
  repeat {
    page <- find_studies(o, query = q, order_by = keys, limit = 7, since = since,
      retrieve_all_resources = FALSE, progress = FALSE)
    if (!length(page)) break
    expect_lte(length(page), 7L)
    pages[[length(pages) + 1L]] <- page
    since <- since + 7L
    if (since > n + 7L) break # never loop forever on a server that ignores Since
  }
  expect_length(pages, ceiling(n / 7))
  expect_identical(lengths(pages), c(rep(7L, n %/% 7L), n %% 7L))
  paged <- unlist(lapply(pages, uids_of))
  expect_false(anyDuplicated(paged) > 0L)
  expect_identical(paged, expected)
  ids <- unlist(lapply(pages, function(p) vapply(p, function(s) s$identifier, "")))
  expect_setequal(ids, unique(made$report$parent_study))
  # The same in one call that pages by 7 itself.
  expect_identical(uids_of(find_studies(o, query = q, order_by = keys, limit = 7, progress = FALSE)), expected)
}

test_that("1,000 sorted studies paged by 7: each once, in order (1.12.7)", {
  paging_check(orthanc_client())
})

test_that("1,000 sorted studies paged by 7 on Orthanc 1.10.1 (sorted in R)", {
  paging_check(legacy_client())
})
