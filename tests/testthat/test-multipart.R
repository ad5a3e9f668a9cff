# The multipart transport of DICOMweb (the request value's `parts_dir`,
# `parts` and "multipart_files" body; see R/request.R and src/rust/core/src/
# multipart.rs) against a real Orthanc with the DICOMweb plugin.

stow_fixtures <- function() {
  fixture(c("Brainix-Flair-1.dcm", "Brainix-Flair-2.dcm", "Knee-T1-1.dcm"))
}

md5 <- function(files) unname(tools::md5sum(files))

test_that("a STOW of N files (multipart_files) stores N instances", {
  dw <- local_dicomweb_orthanc()
  o <- dw$client
  request <- private_request(o)
  files <- stow_fixtures()
  before <- length(o$get_instances())
  answer <- request("POST", "/dicom-web/studies",
    encode = FALSE, headers = list(Accept = "application/dicom+json"),
    body = multipart_body(files)
  )
  expect_length(o$get_instances(), before + length(files))
  # The answer (DICOM JSON): ReferencedSOPSequence lists every instance stored.
  referenced <- answer[["00081199"]]$Value
  expect_length(referenced, length(files))
  expect_null(answer[["00081198"]]) # no FailedSOPSequence

  # The same through the batch engine: one more file, no instance twice.
  res <- o$batch(list(orthanc_request("POST", "/dicom-web/studies",
    headers = list(Accept = "application/dicom+json"), multipart = fixture("Lena-1.dcm")
  )))
  expect_length(res[[1]][["00081199"]]$Value, 1L)
  expect_length(o$get_instances(), before + length(files) + 1L)

  # Arguments are checked before anything is sent.
  expect_error(multipart_body(c(files, tempfile())), "does not exist", class = "orthanc_argument_error")
  expect_error(multipart_body(files, part_type = "a/b\r\nX: y"), class = "orthanc_argument_error")
  expect_error(orthanc_request("POST", "/x", multipart = files, data = "x"), class = "orthanc_argument_error")
})

test_that("WADO-RS into parts_dir gives files byte-identical to /instances/{id}/file", {
  dw <- local_dicomweb_orthanc()
  o <- dw$client
  request <- private_request(o)
  stored <- lapply(stow_fixtures(), function(f) o$post_instances(file = f))
  brainix <- o$get_instances_id_simplified_tags(stored[[1]]$ID)
  study_uid <- brainix$StudyInstanceUID
  study_id <- stored[[1]]$ParentStudy
  instances <- vapply(o$get_studies_id_instances(study_id), function(x) x$ID, "")
  expect_length(instances, 2L)
  originals <- vapply(instances, function(id) md5_of(o$get_instances_id_file(id)), "")

  dir <- withr::local_tempdir()
  accept <- list(Accept = 'multipart/related; type="application/dicom"; transfer-syntax=*')
  got <- request("GET", c("dicom-web", "studies", study_uid),
    headers = accept, parts_dir = dir
  )
  expect_named(got, c("files", "part_types", "parts"))
  expect_identical(got$files, file.path(normalizePath(dir), c("part-000001.dcm", "part-000002.dcm")))
  expect_true(all(startsWith(got$part_types, "application/dicom")))
  expect_setequal(md5(got$files), originals)
  # Nothing else in the folder (no temporary file left).
  expect_setequal(list.files(dir, all.files = TRUE, no.. = TRUE), basename(got$files))

  # Many series at once through the batch engine, one folder each.
  series <- vapply(stored, function(s) s$ParentSeries, "")
  series_uids <- vapply(series, function(id) o$get_series_id(id)$MainDicomTags$SeriesInstanceUID, "")
  study_uids <- vapply(stored, function(s) o$get_studies_id(s$ParentStudy)$MainDicomTags$StudyInstanceUID, "")
  dirs <- file.path(dir, paste0("series-", seq_along(series)))
  for (d in dirs) dir.create(d)
  reqs <- lapply(seq_along(series), function(i) {
    orthanc_request("GET", c("dicom-web", "studies", study_uids[i], "series", series_uids[i]),
      headers = accept, parts_dir = dirs[i]
    )
  })
  res <- o$batch(reqs, concurrency = 3)
  for (i in seq_along(series)) {
    ids <- vapply(o$get_series_id_instances(series[i]), function(x) x$ID, "")
    expect_setequal(md5(res[[i]]$files), vapply(ids, function(id) md5_of(o$get_instances_id_file(id)), ""))
  }

  # A failure is the usual condition, and writes nothing.
  empty <- withr::local_tempdir()
  expect_error(
    request("GET", c("dicom-web", "studies", "1.2.3.4.5.6"), headers = accept, parts_dir = empty),
    class = "orthanc_http_error"
  )
  expect_length(list.files(empty, all.files = TRUE, no.. = TRUE), 0L)
  # A folder that does not exist: a classed error, not a crash.
  expect_error(
    request("GET", c("dicom-web", "studies", study_uid), headers = accept, parts_dir = file.path(empty, "no", "such")),
    class = "orthanc_error"
  )
})

test_that("frames and metadata split in memory with parts = TRUE", {
  dw <- local_dicomweb_orthanc()
  o <- dw$client
  request <- private_request(o)
  stored <- o$post_instances(file = fixture("Brainix-Flair-1.dcm"))
  tags <- o$get_instances_id_simplified_tags(stored$ID)
  route <- c(
    "dicom-web", "studies", tags$StudyInstanceUID, "series", tags$SeriesInstanceUID,
    "instances", tags$SOPInstanceUID
  )
  frames <- request("GET", c(route, "frames", "1"),
    headers = list(Accept = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'),
    parts = TRUE
  )
  expect_length(frames$parts, 1L)
  expect_type(frames$parts[[1]], "raw")
  expect_match(frames$part_types, "^application/octet-stream")
  expect_length(frames$files, 0L)
  # The same bytes as Orthanc's own raw frame (an uncompressed image).
  expect_identical(frames$parts[[1]], o$get_instances_id_frames_frame_raw(stored$ID, 0))
  expect_length(frames$parts[[1]], as.numeric(tags$Rows) * as.numeric(tags$Columns) * 2)

  # A non-multipart answer (DICOM JSON metadata) is one part.
  meta <- request("GET", c(route, "metadata"), parts = TRUE)
  expect_length(meta$parts, 1L)
  expect_match(meta$part_types, "application/dicom\\+json")
  parsed <- rs_from_json(meta$parts[[1]])
  expect_identical(parsed[[1]][["00080018"]]$Value[[1]], tags$SOPInstanceUID)

  # The batch engine splits too.
  res <- o$batch(list(orthanc_request("GET", c(route, "frames", "1"),
    headers = list(Accept = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'),
    parts = TRUE
  )))
  expect_identical(res[[1]]$parts, frames$parts)
})

test_that("an answer cut in the middle of a part: a classed error, only complete parts kept", {
  srv <- local_fault_server()
  o <- fault_client(srv, retries = 0)
  request <- private_request(o)
  whole <- request("GET", "/multipart", encode = FALSE, parts_dir = withr::local_tempdir())
  expect_length(whole$files, 3L)
  expect_identical(readBin(whole$files[2], "raw", 2000), rep(charToRaw("1"), 1000))
  # Part 2 of 3 is arriving when the connection breaks.
  dir <- withr::local_tempdir()
  expect_error(
    request("GET", "/multipart", params = list(cut = 1500), encode = FALSE, parts_dir = dir),
    "broke while the answer", class = "orthanc_connection_error"
  )
  expect_identical(list.files(dir, all.files = TRUE, no.. = TRUE), "part-000001.dcm")
  # A complete HTTP answer without the closing boundary: Orthanc's answer is wrong.
  dir <- withr::local_tempdir()
  expect_error(
    request("GET", "/multipart", params = list(cut = 1500, framed = 1), encode = FALSE, parts_dir = dir),
    "middle of part 2", class = "orthanc_response_error"
  )
  expect_identical(list.files(dir, all.files = TRUE, no.. = TRUE), "part-000001.dcm")
  expect_error(
    request("GET", "/multipart", params = list(cut = 1500, framed = 1), encode = FALSE, parts = TRUE),
    class = "orthanc_response_error"
  )
})
