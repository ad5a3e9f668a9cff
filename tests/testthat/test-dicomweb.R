# The DICOMweb client (R/dicomweb.R) and Orthanc as a DICOMweb client
# (R/dicomweb-servers.R), against real Orthanc servers with the DICOMweb
# plugin (dev/orthanc-server: A, B and C load it and export
# ORTHANC_TEST_DICOMWEB=1; A knows B as the DICOMweb server "b", B knows A as
# "a").

skip_if_no_dicomweb <- function() {
  skip_if_no_orthanc()
  if (!identical(Sys.getenv("ORTHANC_TEST_DICOMWEB"), "1")) {
    if (on_ci()) stop("CI=true but the test servers have no DICOMweb plugin (ORTHANC_TEST_DICOMWEB is not 1)")
    skip("the test servers do not load the DICOMweb plugin (ORTHANC_TEST_DICOMWEB is not 1; see dev/orthanc-server)")
  }
}

dicomweb_client <- function(which = "a") {
  skip_if_no_dicomweb()
  dicomweb(orthanc_client(which))
}

# The Brainix study (two instances of one series), stored for the test and
# deleted when it ends.
local_brainix <- function(client, env = parent.frame()) {
  a <- local_instance(client, fixture("Brainix-Flair-1.dcm"), env = env)
  b <- local_instance(client, fixture("Brainix-Flair-2.dcm"), env = env)
  tags <- client$get_instances_id_simplified_tags(a$ID)
  list(
    ids = c(a$ID, b$ID), study = tags$StudyInstanceUID, series = tags$SeriesInstanceUID,
    instances = c(tags$SOPInstanceUID, client$get_instances_id_simplified_tags(b$ID)$SOPInstanceUID),
    study_id = a$ParentStudy
  )
}

# Client ----------------------------------------------------------------------

test_that("DicomWeb$new() checks its arguments and keeps no secret in R", {
  dw <- DicomWeb$new("http://127.0.0.1:1/dicom-web/", "me", "s3cr3t-pw", timeout = 5)
  expect_identical(dw$url, "http://127.0.0.1:1/dicom-web")
  out <- paste(capture.output(print(dw)), collapse = "\n")
  expect_match(out, "<DicomWeb client>", fixed = TRUE)
  expect_match(out, "me", fixed = TRUE)
  expect_no_match(out, "s3cr3t-pw", fixed = TRUE)
  saved <- tempfile(fileext = ".rds")
  on.exit(unlink(saved))
  saveRDS(dw, saved, compress = FALSE)
  expect_length(grepRaw("s3cr3t-pw", readBin(saved, "raw", file.size(saved)), fixed = TRUE), 0L)
  expect_error(DicomWeb$new(), class = "orthanc_argument_error")
  expect_error(DicomWeb$new("http://127.0.0.1:1", timeout = -1), class = "orthanc_argument_error")
  expect_error(DicomWeb$new("http://127.0.0.1:1", nope = 1), class = "orthanc_argument_error")
  expect_error(DicomWeb$new("http://127.0.0.1:1", token = ""), class = "orthanc_argument_error")
  # Nothing listens there: a classed connection error naming the DICOMweb URL.
  err <- expect_error(dw$search_for_studies(), class = "orthanc_connection_error")
  expect_match(err$url, "^http://127.0.0.1:1/dicom-web/studies")
  expect_match(conditionMessage(err), "Cannot reach the DICOMweb server at", fixed = TRUE)
  expect_no_match(conditionMessage(err), "s3cr3t-pw", fixed = TRUE)
})

test_that("arguments are checked before anything is sent", {
  dw <- DicomWeb$new("http://127.0.0.1:1/dicom-web")
  expect_error(dw$search_for_studies(query = list("x")), class = "orthanc_argument_error")
  expect_error(dw$search_for_studies(query = list(PatientName = list())), class = "orthanc_argument_error")
  expect_error(dw$search_for_studies(as = "tibble"), class = "orthanc_argument_error")
  expect_error(dw$search_for_studies(limit = 0), class = "orthanc_argument_error")
  expect_error(dw$search_for_instances(series_instance_uid = "1.2"), class = "orthanc_argument_error")
  expect_error(dw$retrieve_study_metadata(NA_character_), class = "orthanc_argument_error")
  expect_error(dw$retrieve_study_metadata(c("1", "2")), class = "orthanc_argument_error")
  expect_error(dw$retrieve_instance_frames("1", "2", "3", frame_numbers = 0), class = "orthanc_argument_error")
  expect_error(dw$retrieve_instance_frames("1", "2", "3", transfer_syntax = "x;y"), class = "orthanc_argument_error")
  expect_error(dw$retrieve_study("1", path = NA_character_), class = "orthanc_argument_error")
  not_a_folder <- withr::local_tempfile(lines = "x")
  err <- expect_error(dw$retrieve_study("1", path = not_a_folder), class = "orthanc_io_error")
  expect_match(conditionMessage(err), "not a folder")
  expect_error(dw$retrieve_bulkdata("http://elsewhere.example/bulk/1"), class = "orthanc_argument_error")
  expect_error(dw$store_instances(tempfile()), class = "orthanc_argument_error")
  expect_error(dicomweb("not a client"), class = "orthanc_argument_error")
})

test_that("QIDO parameters: keywords and tags, dates, lists, includefield, fuzzy", {
  p <- qido_params(
    list(PatientName = "BRAIN*", "0008,0020" = as.Date("2006-12-01"), "(0020,000D)" = c("1.2", "1.3"), SeriesNumber = 3),
    c("StudyDescription", "00081030"), TRUE, NULL
  )
  expect_identical(p, list(
    PatientName = "BRAIN*", "00080020" = "20061201", "0020000D" = "1.2,1.3", SeriesNumber = "3",
    includefield = "StudyDescription,00081030", fuzzymatching = "true"
  ))
  expect_identical(qido_params(NULL, c("PatientAge", "all"), FALSE, NULL), list(includefield = "all"))
})

test_that("DICOM JSON becomes a typed data frame", {
  x <- list(
    list(
      "00080020" = list(vr = "DA", Value = list("20061201")),
      "00100010" = list(vr = "PN", Value = list(list(Alphabetic = "DOE^JOHN"))),
      "00201208" = list(vr = "IS", Value = list(2L)),
      "00200032" = list(vr = "DS", Value = list(1.5, -2, 3)),
      "00080008" = list(vr = "CS", Value = list("ORIGINAL", "PRIMARY")),
      "00081115" = list(vr = "SQ", Value = list(list("0020000E" = list(vr = "UI", Value = list("1.2"))))),
      "7FE00010" = list(vr = "OW", BulkDataURI = "http://x/bulk/7fe00010"),
      "00091001" = list(vr = "LO", Value = list("private"))
    ),
    list("00080020" = list(vr = "DA"), "00201208" = list(vr = "IS", Value = list(10L)))
  )
  df <- dicom_json_table(x)
  expect_identical(names(df), c(
    "ImageType", "StudyDate", "ReferencedSeriesSequence", "0009,1001", "PatientName",
    "ImagePositionPatient", "NumberOfStudyRelatedInstances", "PixelData"
  ))
  expect_identical(df$StudyDate, as.Date(c("2006-12-01", NA)))
  expect_identical(df$PatientName, c("DOE^JOHN", NA))
  expect_identical(df$NumberOfStudyRelatedInstances, c(2, 10))
  expect_identical(df$ImagePositionPatient, c("1.5\\-2\\3", NA))
  expect_identical(df$ImageType, c("ORIGINAL\\PRIMARY", NA))
  expect_type(df$ReferencedSeriesSequence, "list")
  expect_identical(df$ReferencedSeriesSequence[[1]][[1]]$`0020000E`$Value[[1]], "1.2")
  expect_identical(df$PixelData, c("http://x/bulk/7fe00010", NA))
  expect_identical(dim(dicom_json_table(list())), c(0L, 0L))
})

test_that("DICOM JSON tables built by vectors equal those built cell by cell", {
  # The cell-by-cell way: each element through dicom_json_value(), each
  # column through tag_column().
  by_cell <- function(x) {
    tags <- sort(unique(toupper(unlist(lapply(x, names)))))
    hex <- paste0(substr(tags, 1L, 4L), ",", substr(tags, 5L, 8L))
    kw <- dicom_dictionary$keyword[match(hex, dicom_dictionary$tag)]
    out <- list()
    for (j in seq_along(tags)) {
      el <- lapply(x, function(d) d[[tags[j]]] %||% d[[tolower(tags[j])]])
      vrs <- unlist(lapply(el, function(e) if (is.list(e)) e$vr))
      vr <- if (length(vrs)) vrs[[1L]] else dicom_dictionary$vr[match(hex[j], dicom_dictionary$tag)]
      out[[if (is.na(kw[j])) hex[j] else kw[j]]] <- tag_column(lapply(el, dicom_json_value, vr = vr), vr)
    }
    structure(out, class = "data.frame", row.names = .set_row_names(length(x)))
  }
  x <- list(
    list(
      "00200013" = list(vr = "IS", Value = list(3L)),
      "00080018" = list(vr = "UI", Value = list("1.2.3")),
      "0008103E" = list(vr = "LO", Value = list("  ")),
      "00280030" = list(vr = "DS", Value = list("0.5")),
      "00180050" = list(vr = "DS", Value = list(1.25)),
      "00080021" = list(vr = "DA", Value = list("20200102")),
      "00091010" = list(vr = "LO", Value = list(7)),
      "00100010" = list(vr = "PN", Value = list(list(Alphabetic = "A^B"))),
      "00080008" = list(vr = "CS", Value = list("ORIGINAL", "PRIMARY")),
      "00081115" = list(vr = "SQ", Value = list(list("0020000E" = list(vr = "UI", Value = list("1.2")))))
    ),
    list(
      "00200013" = list(vr = "IS"),
      "0008103e" = list(vr = "LO", Value = list("T1")),
      "00280030" = list(vr = "DS", Value = list("1\\2")),
      "00180050" = list(vr = "DS", Value = list()),
      "00080021" = list(vr = "DA", Value = list("")),
      "00080008" = list(vr = "CS", Value = list("DERIVED")),
      "00100010" = list(vr = "PN", Value = list(list(Alphabetic = " "))),
      "00081115" = list(vr = "SQ")
    ),
    list()
  )
  df <- dicom_json_table(x)
  expect_identical(df, by_cell(x))
  expect_identical(df$InstanceNumber, c(3, NA, NA))
  expect_identical(df$SeriesDescription, c(NA, "T1", NA))
  expect_identical(df$PixelSpacing, c("0.5", "1\\2", NA))
  expect_identical(df$SliceThickness, c(1.25, NA, NA))
  expect_identical(df$SeriesDate, as.Date(c("2020-01-02", NA, NA)))
  expect_identical(df$PatientName, c("A^B", NA, NA))
  expect_identical(unclass(df$ReferencedSeriesSequence)[2:3], list(list(), NULL))
  # A person name without an Alphabetic group: NA (not "NA").
  y <- list(
    list("00100010" = list(vr = "PN", Value = list(list(Ideographic = "x")))),
    list("00100010" = list(vr = "PN", Value = list(list(Alphabetic = "A^B"))))
  )
  expect_identical(dicom_json_table(y)$PatientName, c(NA, "A^B"))
})

# QIDO-RS and metadata against Orthanc ---------------------------------------

test_that("search_for_studies() finds the studies that find_studies() finds", {
  skip_if_no_dicomweb()
  o <- orthanc_client("a")
  dw <- dicomweb(o)
  b <- local_brainix(o)
  expect_identical(dw$url, paste0(o$url, "/dicom-web"))
  studies <- dw$search_for_studies(all = TRUE)
  found <- find_studies(o)
  expect_setequal(studies$StudyInstanceUID, vapply(found, function(s) s$uid, ""))
  expect_true(b$study %in% studies$StudyInstanceUID)
  expect_identical(orthanc_last_response(o)$status, 200L)
  expect_identical(dw$last_response$status, 200L)
})

test_that("searches answer typed columns, lists on request, and take tags or keywords", {
  skip_if_no_dicomweb()
  o <- orthanc_client("a")
  dw <- dicomweb(o)
  b <- local_brainix(o)
  s <- dw$search_for_studies(query = list(StudyInstanceUID = b$study), includefield = "all")
  expect_identical(nrow(s), 1L)
  expect_s3_class(s$StudyDate, "Date")
  expect_identical(s$StudyDate, as.Date("2006-12-01"))
  expect_identical(s$PatientName, "BRAINIX")
  expect_type(s$NumberOfStudyRelatedInstances, "double")
  expect_gte(s$NumberOfStudyRelatedInstances, 2)
  by_tag <- dw$search_for_studies(query = list("0020,000D" = b$study, PatientName = "BRAIN*"))
  expect_identical(by_tag$StudyInstanceUID, b$study)
  none <- dw$search_for_studies(query = list(StudyInstanceUID = "1.2.3.4.5.6.7.8.9"))
  expect_identical(nrow(none), 0L)
  l <- dw$search_for_studies(query = list(StudyInstanceUID = b$study), as = "list")
  expect_identical(l[[1]]$`0020000D`$Value[[1]], b$study)
  series <- dw$search_for_series(b$study, includefield = c("SeriesDescription", "00200011"))
  expect_identical(series$SeriesInstanceUID, b$series)
  expect_true(all(c("SeriesDescription", "SeriesNumber") %in% names(series)))
  expect_type(series$SeriesNumber, "double")
  inst <- dw$search_for_instances(b$study, b$series)
  expect_setequal(inst$SOPInstanceUID, b$instances)
  inst2 <- dw$search_for_instances(query = list(SeriesInstanceUID = b$series))
  expect_setequal(inst2$SOPInstanceUID, b$instances)
})

test_that("limit, offset and all page through the matches", {
  skip_if_no_dicomweb()
  o <- orthanc_client("a")
  dw <- dicomweb(o)
  b <- local_brainix(o)
  one <- dw$search_for_instances(b$study, b$series, limit = 1)
  expect_identical(nrow(one), 1L)
  expect_true(one$SOPInstanceUID %in% b$instances)
  # Orthanc pages with `offset` only without keys it does not index (here
  # none: every instance of the server).
  all_instances <- dw$search_for_instances()
  expect_gte(nrow(all_instances), 2L)
  first <- dw$search_for_instances(limit = 1)
  second <- dw$search_for_instances(limit = 1, offset = 1)
  expect_identical(nrow(first), 1L)
  expect_identical(nrow(second), 1L)
  expect_false(identical(first$SOPInstanceUID, second$SOPInstanceUID))
  paged <- dw$search_for_instances(all = TRUE, limit = 1)
  expect_setequal(paged$SOPInstanceUID, all_instances$SOPInstanceUID)
  expect_identical(nrow(paged), nrow(all_instances))
  expect_true(all(b$instances %in% paged$SOPInstanceUID))
})

test_that("metadata of a study, series and instance, as data frames or lists", {
  skip_if_no_dicomweb()
  o <- orthanc_client("a")
  dw <- dicomweb(o)
  b <- local_brainix(o)
  st <- dw$retrieve_study_metadata(b$study)
  expect_setequal(st$SOPInstanceUID, b$instances)
  expect_type(st$Rows, "double")
  expect_match(st$PixelData, "/bulk/7fe00010$", ignore.case = TRUE)
  se <- dw$retrieve_series_metadata(b$study, b$series, as = "list")
  expect_length(se, 2L)
  one <- dw$retrieve_instance_metadata(b$study, b$series, b$instances[1])
  expect_identical(one$SOPInstanceUID, b$instances[1])
  expect_identical(one$PatientName, "BRAINIX")
})

test_that("rendered images and thumbnails can be rasters", {
  skip_if_not_installed("jpeg")
  skip_if_not_installed("png")
  skip_if_no_dicomweb()
  o <- orthanc_client("a")
  dw <- dicomweb(o)
  b <- local_brainix(o)
  img <- dw$retrieve_instance_rendered(b$study, b$series, b$instances[1])
  expect_s3_class(img, "orthanc_image")
  expect_identical(img$media_type, "image/jpeg")
  expect_output(print(img), "image/jpeg")
  r <- grDevices::as.raster(img)
  expect_s3_class(r, "raster")
  rows <- dw$retrieve_instance_metadata(b$study, b$series, b$instances[1])$Rows
  expect_identical(nrow(r), as.integer(rows))
  png_img <- dw$retrieve_instance_rendered(b$study, b$series, b$instances[1], media_type = "image/png")
  expect_identical(png_img$media_type, "image/png")
  expect_identical(dim(grDevices::as.raster(png_img)), dim(r))
  small <- dw$retrieve_instance_rendered(b$study, b$series, b$instances[1], params = list(viewport = "64,64"))
  expect_lte(max(dim(grDevices::as.raster(small))), 64L)
  frame <- dw$retrieve_instance_frames_rendered(b$study, b$series, b$instances[1], 1)
  expect_s3_class(grDevices::as.raster(frame), "raster")
  for (img in list(
    dw$retrieve_study_thumbnail(b$study), dw$retrieve_series_thumbnail(b$study, b$series),
    dw$retrieve_instance_thumbnail(b$study, b$series, b$instances[1]),
    dw$retrieve_study_rendered(b$study), dw$retrieve_series_rendered(b$study, b$series)
  )) {
    expect_s3_class(grDevices::as.raster(img), "raster")
  }
})

# Errors ----------------------------------------------------------------------

test_that("DICOMweb errors are classed conditions with the server's words and no secret", {
  skip_if_no_dicomweb()
  o <- orthanc_client("a")
  dw <- dicomweb(o)
  err <- expect_error(dw$retrieve_study_metadata("1.2.3.4.5.6.7.8.9"), class = "orthanc_http_404")
  expect_s3_class(err, "orthanc_http_error")
  expect_s3_class(err, "orthanc_error")
  expect_identical(err$status, 404L)
  expect_identical(err$method, "GET")
  expect_match(err$url, "/dicom-web/studies/1.2.3.4.5.6.7.8.9/metadata", fixed = TRUE)
  expect_match(conditionMessage(err), "The DICOMweb server answered 404", fixed = TRUE)
  expect_match(conditionMessage(err), "inexistent", fixed = TRUE)
  expect_type(err$error_body, "list")
  expect_identical(dw$last_response$status, 404L)

  cred <- test_credentials()
  bad <- DicomWeb$new(paste0(Sys.getenv("ORTHANC_TEST_URL"), "/dicom-web"), cred$username, "wrong-password-x9")
  err <- expect_error(bad$search_for_studies(), class = "orthanc_http_401")
  msg <- conditionMessage(err)
  expect_match(msg, "DicomWeb$new", fixed = TRUE)
  expect_no_match(msg, "wrong-password-x9", fixed = TRUE)
  expect_no_match(paste(format(err$url), collapse = ""), "wrong-password-x9", fixed = TRUE)
  expect_no_match(paste(unlist(bad$last_response), collapse = " "), "wrong-password-x9", fixed = TRUE)

  # The same credentials as the Orthanc client work through DicomWeb$new().
  good <- DicomWeb$new(paste0(Sys.getenv("ORTHANC_TEST_URL"), "/dicom-web/"), cred$username, cred$password)
  expect_s3_class(good$search_for_studies(limit = 1), "data.frame")
})

test_that("Warning headers and DICOM JSON failure reasons are in the message", {
  res <- list(
    status = 409L, url = "http://x/dicom-web/studies",
    headers = c("content-type" = "application/dicom+json", warning = "299 x: Some instances failed"),
    body = list("00081198" = list(vr = "SQ", Value = list(list(
      "00081155" = list(vr = "UI", Value = list("1.2.3")),
      "00081197" = list(vr = "US", Value = list(272L))
    ))))
  )
  cnd <- dicomweb_condition(res, "POST", NULL, NULL)
  expect_s3_class(cnd, "orthanc_http_409")
  expect_identical(cnd$warning, "299 x: Some instances failed")
  expect_match(conditionMessage(cnd), "Warning: 299 x: Some instances failed", fixed = TRUE)
  expect_match(conditionMessage(cnd), "1.2.3: processing failure (0x0110)", fixed = TRUE)
  # An Orthanc error body sent as text/plain is read as JSON.
  res <- list(status = 404L, url = "http://x/y", headers = c("content-type" = "text/plain"),
    body = "{ \"Message\" : \"Accessing an inexistent item\", \"Details\" : \"no study\" }")
  cnd <- dicomweb_condition(res, "GET", NULL, NULL)
  expect_identical(cnd$error_body$Details, "no study")
  expect_match(conditionMessage(cnd), "Details: no study", fixed = TRUE)
})

test_that("a server without the plugin answers a classed 404", {
  legacy <- legacy_client()
  err <- expect_error(dicomweb(legacy)$search_for_studies(), class = "orthanc_http_404")
  expect_match(conditionMessage(err), "no DICOMweb service at this URL", fixed = TRUE)
})

test_that("Warning headers of a successful search become an R warning", {
  w <- expect_warning(dicomweb_warn(c("content-type" = "application/dicom+json",
    warning = "299 pacs: The fuzzymatching parameter is not supported."), NULL),
    class = "orthanc_dicomweb_warning"
  )
  expect_identical(w$warning, "299 pacs: The fuzzymatching parameter is not supported.")
  expect_match(conditionMessage(w), "fuzzymatching parameter is not supported", fixed = TRUE)
  expect_silent(dicomweb_warn(c("content-type" = "application/dicom+json"), NULL))
  expect_silent(dicomweb_warn(NULL, NULL))
})

# Orthanc as a DICOMweb client: A <-> B ---------------------------------------

test_that("Orthanc's DICOMweb servers: list, register, remove", {
  skip_if_no_dicomweb()
  a <- orthanc_client("a")
  expect_true("b" %in% dicomweb_servers(a))
  info <- dicomweb_servers(a, expand = TRUE)
  expect_identical(info$url[info$name == "b"], paste0(Sys.getenv("ORTHANC_TEST_URL2"), "/dicom-web/"))
  expect_false("password" %in% tolower(names(info)))
  name <- paste0("r-test-", Sys.getpid())
  cred <- test_credentials()
  register_dicomweb_server(a, name, paste0(Sys.getenv("ORTHANC_TEST_URL2"), "/dicom-web/"),
    username = cred$username, password = cred$password, timeout = 30
  )
  withr::defer(try(remove_dicomweb_server(a, name), silent = TRUE))
  expect_true(name %in% dicomweb_servers(a))
  expect_s3_class(dicomweb_server_search(a, name, "studies", limit = 1), "data.frame")
  remove_dicomweb_server(a, name)
  expect_false(name %in% dicomweb_servers(a))
  expect_error(dicomweb_server_search(a, name), class = "orthanc_http_error")
})

test_that("A searches, stores to and retrieves from B through the plugin", {
  skip_if_no_dicomweb()
  a <- orthanc_client("a")
  bb <- orthanc_client("b")
  stored <- local_brainix(a)
  # Deleted from B when the test ends, unless B already had it.
  on_b <- tryCatch(is.list(bb$get_studies_id(stored$study_id)), orthanc_http_404 = function(e) FALSE)
  if (!on_b) withr::defer(try(bb$delete_studies_id(stored$study_id), silent = TRUE))
  res <- dicomweb_server_store(a, "b", stored$study_id)
  expect_identical(as.character(res$InstancesCount), "2")
  found <- dicomweb_server_search(a, "b", "studies", query = list(StudyInstanceUID = stored$study))
  expect_identical(found$StudyInstanceUID, stored$study)
  expect_identical(found$PatientName, "BRAINIX")
  inst <- dicomweb_server_search(a, "b", "instances", query = list(StudyInstanceUID = stored$study), as = "list")
  expect_length(inst, 2L)
  got <- dicomweb_server_get(a, "b", paste0("/studies/", stored$study, "/series"))
  expect_identical(got[[1]]$`0020000E`$Value[[1]], stored$series)
  # Retrieve from B into A: delete the series on A first, then it comes back.
  a$delete_studies_id(stored$study_id)
  dicomweb_server_retrieve(a, "b", stored$study, stored$series)
  expect_setequal(
    vapply(find_instances(a, query = list(StudyInstanceUID = stored$study)), function(i) i$uid, ""),
    stored$instances
  )
})

# WADO-RS to files, frames, bulk data and STOW-RS: these need the streaming
# multipart/related transport (parts_dir, parts, multipart_files bodies).

test_that("retrieve_study() writes files byte-identical to Orthanc's", {
  skip_if_no_dicomweb()
  o <- orthanc_client("a")
  dw <- dicomweb(o)
  b <- local_brainix(o)
  dir <- withr::local_tempdir()
  got <- dw$retrieve_study(b$study, dir)
  expect_setequal(got$sop_instance_uid, b$instances)
  expect_setequal(basename(got$path), paste0(b$instances, ".dcm"))
  expect_setequal(list.files(dir), paste0(b$instances, ".dcm"))
  for (i in seq_along(b$ids)) {
    uid <- o$get_instances_id_simplified_tags(b$ids[i])$SOPInstanceUID
    expect_identical(md5_of(readBin(file.path(dir, paste0(uid, ".dcm")), "raw", 1e7)), md5_of(o$get_instances_id_file(b$ids[i])))
  }
  # A folder that does not exist yet is made, as retrieve_and_write_*() do.
  one <- file.path(withr::local_tempdir(), "new", "folder")
  got <- dw$retrieve_instance(b$study, b$series, b$instances[2], one)
  expect_identical(list.files(one), paste0(b$instances[2], ".dcm"))
  expect_identical(basename(got$path), paste0(b$instances[2], ".dcm"))
  many <- withr::local_tempdir()
  got <- dw$retrieve_series(b$study, c(b$series, b$series), many, transfer_syntax = "1.2.840.10008.1.2.1", progress = FALSE)
  expect_setequal(list.files(many), paste0(b$instances, ".dcm"))
  expect_error(dw$retrieve_series(b$study, "1.2.3.4.5.6.7", withr::local_tempdir()), class = "orthanc_http_404")
})

test_that("frames as raw bytes and arrays, and bulk data by URI", {
  skip_if_no_dicomweb()
  o <- orthanc_client("a")
  dw <- dicomweb(o)
  b <- local_brainix(o)
  meta <- dw$retrieve_instance_metadata(b$study, b$series, b$instances[1])
  raw <- dw$retrieve_instance_frames(b$study, b$series, b$instances[1], 1)
  expect_type(raw, "list")
  expect_length(raw[[1]], meta$Rows * meta$Columns * meta$BitsAllocated / 8)
  a <- dw$retrieve_instance_frames(b$study, b$series, b$instances[1], 1, as = "array")
  expected <- pixel_array(o, b$ids[match(b$instances[1], b$instances)], rescale = FALSE)
  expect_identical(dim(a), dim(expected))
  expect_equal(as.vector(a), as.vector(expected))
  bulk <- dw$retrieve_bulkdata(meta$PixelData)
  expect_type(bulk, "raw")
  expect_gte(length(bulk), length(raw[[1]]))
})

test_that("store_instances() stores files, folders and ZIP contents, and reports each", {
  skip_if_no_dicomweb()
  o <- orthanc_client("a")
  dw <- dicomweb(o)
  files <- c(fixture("Lena-1.dcm"), fixture("Knee-T1-1.dcm"))
  ids <- orthanc:::local_instance_ids(files)
  # What the server already has is not deleted; what this test stores is.
  had <- vapply(ids$instance, function(id) {
    tryCatch(is.list(o$get_instances_id(id)), orthanc_http_404 = function(e) FALSE)
  }, TRUE)
  withr::defer(for (id in ids$instance[!had]) try(o$delete_instances_id(id), silent = TRUE))
  before <- o$num_instances
  report <- dw$store_instances(files, max_request_size = 1, progress = FALSE)
  expect_s3_class(report, "orthanc_stow_report")
  expect_identical(report$status, c("Success", "Success"))
  expect_identical(report$sop_instance_uid, ids$sop_instance_uid)
  expect_match(report$retrieve_url, "/dicom-web/studies/")
  expect_identical(o$num_instances, before + sum(!had))
  for (id in ids$instance) expect_type(o$get_instances_id(id), "list")
  # A second time: stored again (OverwriteInstances), as the server says.
  again <- dw$store_instances(files)
  expect_identical(again$status, c("Success", "Success"))
  expect_identical(o$num_instances, before + sum(!had))
  # A folder with a text file (skipped), and a ZIP archive of the two files.
  dir <- withr::local_tempdir()
  file.copy(files, dir)
  writeLines("not DICOM", file.path(dir, "notes.txt"))
  zip <- file.path(withr::local_tempdir(), "two.zip")
  withr::with_dir(dir, utils::zip(zip, basename(files), flags = "-q"))
  report <- dw$store_instances(c(dir, zip))
  expect_identical(sum(report$status == "Skipped"), 1L)
  expect_identical(sum(report$status == "Success"), 4L)
  expect_identical(sum(report$path == zip), 2L)
  expect_output(print(report), "4 Success")
})
