# upload(): argument checks and answers without a server (the mock), then the
# Brainix and Knee sets against a live server.

offline_client <- function() Orthanc$new("http://orthanc.invalid:8042")

# A mock that fails the test on any request.
no_request <- function(req) stop("unexpected request: ", req$method, " ", req$url)

# A temporary folder, removed when the calling test ends.
local_dir <- function(env = parent.frame()) {
  dir <- tempfile("upload-")
  dir.create(dir)
  withr::defer(unlink(dir, recursive = TRUE), envir = env)
  dir
}

# A file with the DICOM marker and garbage after it: Orthanc rejects it.
write_corrupt_dicom <- function(path) {
  writeBin(c(raw(128), charToRaw("DICM"), as.raw(rep(c(0x02, 0x00, 0xff, 0x7f, 0x41), 40))), path)
  path
}

test_that("upload() checks its arguments before any request", {
  local_orthanc_mock(no_request)
  o <- offline_client()
  lena <- fixture("Lena-1.dcm")
  expect_error(upload("http://x", lena), class = "orthanc_argument_error")
  expect_error(upload(o, 1), class = "orthanc_argument_error")
  expect_error(upload(o, character()), class = "orthanc_argument_error")
  expect_error(upload(o, NA_character_), class = "orthanc_argument_error")
  expect_error(upload(o, ""), class = "orthanc_argument_error")
  expect_error(upload(o, lena, recursive = NA), class = "orthanc_argument_error")
  expect_error(upload(o, lena, check_before_upload = "yes"), class = "orthanc_argument_error")
  expect_error(upload(o, lena, concurrency = 0), class = "orthanc_argument_error")
  expect_error(upload(o, lena, concurrency = "4"), class = "orthanc_argument_error")
  expect_error(upload(o, lena, progress = NA), class = "orthanc_argument_error")
})

test_that("upload() refuses paths that do not exist and folders without files", {
  local_orthanc_mock(no_request)
  o <- offline_client()
  dir <- local_dir()
  missing <- file.path(dir, "nope.dcm")
  err <- expect_error(upload(o, c(fixture("Lena-1.dcm"), missing)), class = "orthanc_argument_error")
  expect_match(conditionMessage(err), "nope.dcm", fixed = TRUE)
  expect_equal(conditionCall(err), quote(upload()))
  err <- expect_error(upload(o, dir), class = "orthanc_argument_error")
  expect_match(conditionMessage(err), "no file to upload")
  # Files only in a sub-folder: a hint to recurse.
  dir.create(file.path(dir, "sub"))
  file.copy(fixture("Lena-1.dcm"), file.path(dir, "sub"))
  err <- expect_error(upload(o, dir), class = "orthanc_argument_error")
  expect_match(conditionMessage(err), "recursive = TRUE", fixed = TRUE)
})

test_that("upload() skips files that are neither DICOM nor ZIP, without sending them", {
  local_orthanc_mock(no_request)
  dir <- local_dir()
  writeLines("notes", file.path(dir, "notes.txt"))
  file.create(file.path(dir, "empty.dcm"))
  writeBin(as.raw(1:200), file.path(dir, "short.bin"))
  report <- upload(offline_client(), dir)
  expect_s3_class(report, "orthanc_upload_report")
  expect_s3_class(report, "data.frame")
  expect_named(report, c("path", "status", "id", "parent_patient", "parent_study", "parent_series", "message"))
  expect_equal(nrow(report), 3L)
  expect_true(all(report$status == "Skipped"))
  expect_equal(report$message[basename(report$path) == "empty.dcm"], "empty file")
  expect_match(report$message[basename(report$path) == "notes.txt"], "not a DICOM file")
  expect_output(print(report), "<orthanc_upload_report> 3 files: 3 Skipped", fixed = TRUE)
})

test_that("upload() reads Orthanc's answers: stored, already stored, failed, ZIP", {
  dir <- local_dir()
  files <- file.path(dir, c("a.dcm", "b.dcm", "c.dcm", "d.zip", "e.zip"))
  for (f in files[1:3]) file.copy(fixture("Lena-1.dcm"), f)
  for (f in files[4:5]) writeBin(c(charToRaw("PK"), as.raw(c(3, 4)), raw(20)), f)
  instance <- function(id, status) {
    list(ID = id, ParentPatient = "p", ParentStudy = "s", ParentSeries = "r", Path = "/x", Status = status)
  }
  answers <- list(
    a.dcm = orthanc_mock_response(body = instance("i1", "Success")),
    b.dcm = orthanc_mock_response(body = instance("i2", "AlreadyStored")),
    c.dcm = orthanc_mock_response(400L, body = list(
      HttpStatus = 400L, Message = "Bad file format", Details = "Cannot parse an invalid DICOM file"
    )),
    d.zip = orthanc_mock_response(body = list(instance("z1", "Success"), instance("z2", "AlreadyStored"))),
    e.zip = orthanc_mock_response(body = list())
  )
  seen <- character()
  local_orthanc_mock(function(req) {
    expect_equal(req$method, "POST")
    expect_equal(req$path, "/instances")
    expect_equal(req$body_kind, "file")
    seen <<- c(seen, basename(req$body))
    answers[[basename(req$body)]]
  })
  report <- upload(offline_client(), dir, concurrency = 2)
  expect_setequal(seen, basename(files))
  expect_equal(basename(report$path), c("a.dcm", "b.dcm", "c.dcm", "d.zip", "d.zip", "e.zip"))
  expect_equal(report$status, c("Success", "AlreadyStored", "Failed", "Success", "AlreadyStored", "Skipped"))
  expect_equal(report$id, c("i1", "i2", NA, "z1", "z2", NA))
  expect_equal(report$parent_patient, c("p", "p", NA, "p", "p", NA))
  expect_equal(report$message[3], "Bad file format: Cannot parse an invalid DICOM file (HTTP 400)")
  expect_match(report$message[6], "holds no DICOM file")
  out <- capture.output(print(report))
  expect_equal(out[1], "<orthanc_upload_report> 6 rows from 5 files: 2 Success, 2 AlreadyStored, 1 Skipped, 1 Failed")
  expect_match(out, "c.dcm: Bad file format", all = FALSE, fixed = TRUE)
})

test_that("a transfer error fails its file only", {
  dir <- local_dir()
  file.copy(fixture("Lena-1.dcm"), file.path(dir, "a.dcm"))
  file.copy(fixture("Lena-2.dcm"), file.path(dir, "b.dcm"))
  local_orthanc_mock(function(req) {
    if (basename(req$body) == "a.dcm") {
      return(orthanc_mock_error("connection", "connection reset"))
    }
    orthanc_mock_response(body = list(ID = "i", ParentPatient = "p", ParentStudy = "s", ParentSeries = "r", Status = "Success"))
  })
  report <- upload(offline_client(), dir, progress = FALSE)
  expect_equal(report$status, c("Failed", "Success"))
  expect_match(report$message[1], "connection reset")
})

test_that("check_before_upload asks once, by SOPInstanceUID, and sends only what is missing", {
  dir <- local_dir()
  lena <- file.path(dir, c("lena1.dcm", "lena2.dcm"))
  file.copy(fixture("Lena-1.dcm"), lena[1])
  file.copy(fixture("Lena-2.dcm"), lena[2])
  write_corrupt_dicom(file.path(dir, "corrupt.dcm"))
  ids <- rs_dicom_ids(normalizePath(lena))
  expect_false(anyNA(ids$instance))
  requests <- list()
  local_orthanc_mock(function(req) {
    requests[[length(requests) + 1L]] <<- req
    if (req$path == "/tools/find") {
      # The server has the first one (and an unrelated instance with the same UID).
      return(orthanc_mock_response(body = list(ids$instance[1], "other-instance-id")))
    }
    if (req$path == "/instances" && basename(req$body) == "corrupt.dcm") {
      return(orthanc_mock_response(400L, body = list(Message = "Bad file format")))
    }
    orthanc_mock_response(body = list(ID = ids$instance[2], ParentPatient = ids$patient[2], Status = "Success"))
  })
  report <- upload(offline_client(), dir, check_before_upload = TRUE)
  paths <- vapply(requests, `[[`, "", "path")
  expect_equal(paths, c("/tools/find", "/instances", "/instances"))
  find <- jsonlite::fromJSON(requests[[1]]$body, simplifyVector = FALSE)
  expect_equal(find$Level, "Instance")
  expect_setequal(strsplit(find$Query$SOPInstanceUID, "\\", fixed = TRUE)[[1]], ids$sop_instance_uid)
  sent <- vapply(requests[-1], function(r) basename(r$body), "")
  expect_setequal(sent, c("corrupt.dcm", "lena2.dcm"))
  expect_equal(basename(report$path), c("corrupt.dcm", "lena1.dcm", "lena2.dcm"))
  expect_equal(report$status, c("Failed", "AlreadyStored", "Success"))
  expect_equal(report$id[2:3], ids$instance)
  expect_equal(report$parent_patient[2], ids$patient[1])
  expect_equal(report$parent_series[2], ids$series[1])
})

test_that("local ids: NA with a reason for what cannot be read", {
  dir <- local_dir()
  writeLines("x", file.path(dir, "a.txt"))
  write_corrupt_dicom(file.path(dir, "b.dcm"))
  ids <- rs_dicom_ids(c(file.path(dir, c("a.txt", "b.dcm", "missing.dcm")), NA))
  expect_named(ids, c("patient", "study", "series", "instance", "sop_instance_uid", "message"))
  expect_true(all(is.na(ids$instance)))
  expect_false(anyNA(ids$message))
})

# Against a live server --------------------------------------------------------

# A folder tree of the DICOM fixtures (tests/testthat/fixtures: Brainix, Knee,
# Lena, transfer syntaxes, an RT plan): several patients, studies and series,
# in nested folders.
fixture_tree <- function(dir) {
  layout <- list(
    "Brainix/Flair" = c("Brainix-Flair-1.dcm", "Brainix-Flair-2.dcm"),
    "Knee/T1" = "Knee-T1-1.dcm",
    "Lena" = c("Lena-1.dcm", "Lena-2.dcm", "Lena-3.dcm"),
    "Formats/deeper/still" = c("CT-Jpeg2000.dcm", "CT-JpegLossless.dcm", "ExplicitLittle.dcm", "JpegLossless.dcm", "jp2k91YBR-ICT.dcm"),
    "RT" = "RTPLAN.dcm"
  )
  for (sub in names(layout)) {
    dir.create(file.path(dir, sub), recursive = TRUE)
    stopifnot(all(file.copy(fixture(layout[[sub]]), file.path(dir, sub))))
  }
  invisible(dir)
}

test_that("a folder tree of DICOM files uploads recursively; a second run sends nothing", {
  o <- orthanc_client("a")
  dir <- fixture_tree(local_dir())
  other <- file.path(dir, "other")
  dir.create(other)
  write_corrupt_dicom(file.path(other, "corrupt.dcm"))
  writeLines("not DICOM", file.path(other, "notes.txt"))
  all_files <- list.files(dir, recursive = TRUE, full.names = TRUE)
  dicom <- setdiff(all_files, file.path(other, c("corrupt.dcm", "notes.txt")))
  expect_length(dicom, 12L)
  # Distinct instances, in several patients, studies and series.
  ids <- rs_dicom_ids(normalizePath(dicom))
  expect_false(anyNA(ids$instance))
  expect_equal(anyDuplicated(ids$instance), 0L)
  expect_gt(length(unique(ids$patient)), 3L)
  expect_gt(length(unique(ids$series)), 5L)

  before <- o$get_statistics()$CountInstances
  report <- upload(o, dir, recursive = TRUE, progress = FALSE)
  withr::defer(for (p in unique(stats::na.omit(report$parent_patient))) {
    try(o$delete_patients_id(p), silent = TRUE)
  })
  # Every file accounted for, once.
  expect_setequal(report$path, all_files)
  expect_equal(nrow(report), length(all_files))
  expect_true(all(report$status[report$path %in% dicom] == "Success"))
  row <- function(name) report[basename(report$path) == name, ]
  expect_equal(row("corrupt.dcm")$status, "Failed")
  expect_match(row("corrupt.dcm")$message, "HTTP 400")
  expect_equal(row("notes.txt")$status, "Skipped")
  expect_equal(o$get_statistics()$CountInstances - before, length(dicom))
  expect_output(print(report), paste0(length(dicom), " Success, 1 Skipped, 1 Failed"))

  # The ids computed locally are the server's, at every level.
  local <- rs_dicom_ids(normalizePath(dicom))
  mine <- report[match(dicom, report$path), ]
  expect_equal(local$instance, mine$id)
  expect_equal(local$series, mine$parent_series)
  expect_equal(local$study, mine$parent_study)
  expect_equal(local$patient, mine$parent_patient)

  # Again, checking first: no instance is sent (the server logs no NewInstance;
  # this server has OverwriteInstances, so a re-sent instance would log one).
  last <- o$get_changes(params = list(last = TRUE))$Last
  again <- upload(o, dir, recursive = TRUE, check_before_upload = TRUE, progress = FALSE)
  changes <- o$get_changes(params = list(since = last, limit = 1000))$Changes
  expect_false("NewInstance" %in% vapply(changes, `[[`, "", "ChangeType"))
  expect_equal(again$path, report$path)
  expect_true(all(again$status[again$path %in% dicom] == "AlreadyStored"))
  expect_equal(again$id, report$id)
  expect_equal(again$parent_study, report$parent_study)
  expect_equal(again[basename(again$path) == "corrupt.dcm", "status"], "Failed")
  expect_equal(again[basename(again$path) == "notes.txt", "status"], "Skipped")
  expect_equal(o$get_statistics()$CountInstances - before, length(dicom))

  # Control: without the check a stored file is sent again, and the server
  # either stores it again, logging a NewInstance (OverwriteInstances), or
  # answers AlreadyStored.
  last <- o$get_changes(params = list(last = TRUE))$Last
  one <- upload(o, dicom[1], progress = FALSE)
  changes <- o$get_changes(params = list(since = last, limit = 1000))$Changes
  expect_equal(one$id, report$id[report$path == dicom[1]])
  if (isTRUE(o$get_system()$OverwriteInstances)) {
    expect_equal(one$status, "Success")
    expect_true("NewInstance" %in% vapply(changes, `[[`, "", "ChangeType"))
  } else {
    expect_equal(one$status, "AlreadyStored")
  }
})

test_that("a ZIP archive is sent as it is: one row per instance inside", {
  skip_if(!nzchar(Sys.which("zip")), "no zip program")
  o <- orthanc_client("a")
  dir <- local_dir()
  file.copy(fixture(c("Lena-1.dcm", "Lena-2.dcm")), dir)
  writeLines("readme", file.path(dir, "README.txt"))
  archive <- file.path(dir, "lena.zip")
  withr::with_dir(dir, utils::zip("lena.zip", c("Lena-1.dcm", "Lena-2.dcm", "README.txt"), flags = "-q"))
  report <- upload(o, archive, progress = FALSE)
  withr::defer(for (p in unique(stats::na.omit(report$parent_patient))) {
    try(o$delete_patients_id(p), silent = TRUE)
  })
  expect_equal(report$path, c(archive, archive))
  expect_equal(report$status, c("Success", "Success"))
  expect_setequal(report$id, rs_dicom_ids(file.path(dir, c("Lena-1.dcm", "Lena-2.dcm")))$instance)
})
