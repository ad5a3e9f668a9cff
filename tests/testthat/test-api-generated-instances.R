# The /instances/... endpoint methods against a live Orthanc (server A).
# Labels, metadata and attachments: test-api-generated-levels.R.

# Helpers of this file (prefixed "inst_" so as not to clash with other files).
# Width and height of a PNG image, from its IHDR chunk.
inst_png_dim <- function(png) {
  b <- as.integer(png[17:24])
  c(sum(b[1:4] * 256^(3:0)), sum(b[5:8] * 256^(3:0)))
}

inst_is_png <- function(x) is.raw(x) && length(x) > 24 && identical(x[1:8], as.raw(c(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)))
inst_is_jpeg <- function(x) is.raw(x) && length(x) > 3 && identical(x[1:3], as.raw(c(0xff, 0xd8, 0xff)))
inst_is_dicom <- function(x) is.raw(x) && length(x) > 132 && identical(rawToChar(x[129:132]), "DICM")
inst_is_zip <- function(x) is.raw(x) && length(x) > 4 && identical(x[1:4], charToRaw("PK\003\004"))
inst_is_numpy <- function(x) is.raw(x) && length(x) > 10 && identical(x[1:6], c(as.raw(0x93), charToRaw("NUMPY")))

# An answer that is a file of this format: raw bytes, with its signature.
expect_format <- function(x, format) {
  is_format <- switch(format, png = inst_is_png, jpeg = inst_is_jpeg, dicom = inst_is_dicom, zip = inst_is_zip, numpy = inst_is_numpy)
  expect_type(x, "raw")
  expect_true(is_format(x), label = paste("a", format, "file"))
}

# The header (dict) of a .npy file, as text.
inst_numpy_header <- function(x) {
  len <- as.integer(x[9]) + 256L * as.integer(x[10])
  rawToChar(x[11:(10 + len)])
}

# A unique PatientID for synthetic instances.
inst_patient_id <- function() {
  paste0("inst-", paste(sample(c(letters, 0:9), 16, replace = TRUE), collapse = ""))
}

# Upload raw DICOM bytes (an answer of /modify or /anonymize) through a file.
inst_upload_raw <- function(o, bytes, env = parent.frame()) {
  f <- tempfile(fileext = ".dcm")
  on.exit(unlink(f))
  writeBin(bytes, f)
  res <- o$post_instances(file = f)
  withr::defer(try(o$delete_instances_id(res$ID), silent = TRUE), envir = env)
  res
}

test_that("instances are uploaded, listed with parameters, read and deleted", {
  o <- orthanc_client()
  f <- fixture("Lena-1.dcm")
  up <- o$post_instances(file = f)
  withr::defer(try(o$delete_instances_id(up$ID), silent = TRUE))
  expect_equal(up$Status, "Success")
  expect_match(up$ID, "^[0-9a-f]{8}(-[0-9a-f]{8}){4}$")
  expect_equal(up$Path, paste0("/instances/", up$ID))
  expect_named(up, c("ID", "ParentPatient", "ParentSeries", "ParentStudy", "Path", "Status"), ignore.order = TRUE)

  all <- o$get_instances()
  expect_type(all, "list")
  expect_true(up$ID %in% unlist(all))

  limited <- o$get_instances(params = list(expand = TRUE, since = 0, limit = 2))
  expect_lte(length(limited), 2L)
  expect_gte(length(limited), 1L)
  expect_true(all(vapply(limited, function(x) identical(x$Type, "Instance"), logical(1))))
  expect_true(all(vapply(limited, function(x) is.character(x$ID), logical(1))))
  # `since` skips the first ones.
  first_two <- o$get_instances(params = list(since = 0, limit = 2))
  expect_length(first_two, min(2L, length(all)))
  if (length(first_two) == 2L) {
    expect_equal(o$get_instances(params = list(since = 1, limit = 1)), first_two[2])
  }

  # Expanded with one requested tag.
  mine <- Filter(
    function(x) identical(x$ID, up$ID),
    o$get_instances(params = list(expand = TRUE, "requested-tags" = "SOPClassUID"))
  )
  expect_length(mine, 1L)
  expect_equal(mine[[1]]$RequestedTags$SOPClassUID, "1.2.840.10008.5.1.4.1.1.7")
  expect_equal(mine[[1]]$ParentSeries, up$ParentSeries)

  info <- o$get_instances_id(up$ID)
  expect_equal(info$ID, up$ID)
  expect_equal(info$Type, "Instance")
  expect_equal(info$ParentSeries, up$ParentSeries)
  expect_equal(info$FileSize, as.integer(file.size(f)))
  expect_equal(info$MainDicomTags$SOPInstanceUID, "1.2.276.0.7230010.3.1.4.8323329.6859.1549276027.188446")
  short <- o$get_instances_id(up$ID, params = list(short = TRUE, "requested-tags" = "SOPClassUID"))
  expect_equal(short$MainDicomTags[["0008,0018"]], info$MainDicomTags$SOPInstanceUID)
  expect_equal(short$RequestedTags[["0008,0016"]], "1.2.840.10008.5.1.4.1.1.7")

  gone <- expect_invisible(o$delete_instances_id(up$ID))
  # What is left above it (here nothing: the instance was alone in its patient).
  expect_named(gone, "RemainingAncestor")
  err <- expect_error(o$get_instances_id(up$ID), class = "orthanc_http_404")
  expect_equal(err$status, 404L)
  expect_false(up$ID %in% unlist(o$get_instances()))
})

test_that("several requested-tags separated by ';' reach Orthanc as they are", {
  # Orthanc does not percent-decode query strings: ';' must be sent as it is.
  o <- orthanc_client()
  up <- local_instance(o)
  res <- o$get_instances(params = list(expand = TRUE, "requested-tags" = "SOPClassUID;Rows"))
  mine <- Filter(function(x) identical(x$ID, up$ID), res)
  expect_length(mine, 1L)
  expect_equal(mine[[1]]$RequestedTags$SOPClassUID, "1.2.840.10008.5.1.4.1.1.7")
  expect_equal(mine[[1]]$RequestedTags$Rows, "128")
})

test_that("instance tags come back full, short and simplified, with header and module", {
  o <- orthanc_client()
  up <- local_instance(o)
  uid <- "1.2.276.0.7230010.3.1.4.8323329.6859.1549276027.188446"

  full <- o$get_instances_id_tags(up$ID)
  expect_equal(full[["0008,0018"]]$Name, "SOPInstanceUID")
  expect_equal(full[["0008,0018"]]$Type, "String")
  expect_equal(full[["0008,0018"]]$Value, uid)
  short <- o$get_instances_id_tags(up$ID, params = list(short = TRUE))
  expect_equal(short[["0008,0018"]], uid)
  expect_equal(short[["0028,0010"]], "128")
  simple <- o$get_instances_id_tags(up$ID, params = list(simplify = TRUE))
  expect_equal(simple$SOPInstanceUID, uid)
  expect_equal(simple$Rows, "128")

  st <- o$get_instances_id_simplified_tags(up$ID)
  expect_equal(st$SOPInstanceUID, uid)
  expect_equal(st$PhotometricInterpretation, "YBR_FULL_422")
  expect_equal(st$SOPClassUID, "1.2.840.10008.5.1.4.1.1.7")
  expect_identical(names(st), names(simple))

  header <- o$get_instances_id_header(up$ID)
  expect_equal(header[["0002,0010"]]$Name, "TransferSyntaxUID")
  expect_equal(header[["0002,0010"]]$Value, "1.2.840.10008.1.2.4.50")
  expect_true(all(startsWith(names(header), "0002,")))
  header_s <- o$get_instances_id_header(up$ID, params = list(simplify = TRUE))
  expect_equal(header_s$MediaStorageSOPInstanceUID, uid)

  module <- o$get_instances_id_module(up$ID, params = list(simplify = TRUE))
  expect_equal(module$SOPInstanceUID, uid)
  expect_equal(module$InstanceNumber, "1")
  module_short <- o$get_instances_id_module(up$ID, params = list(short = TRUE))
  expect_equal(module_short[["0008,0018"]], uid)
})

test_that("the content of an instance is browsed by tag paths, with slashes into sequences", {
  o <- orthanc_client()
  up <- local_instance(o)
  # The value of a tag: raw bytes, padded to an even length.
  v <- o$get_instances_id_content_path(up$ID, "0008-0018")
  expect_type(v, "raw")
  expect_equal(sub("\\s+$", "", rawToChar(v[v != as.raw(0)])), "1.2.276.0.7230010.3.1.4.8323329.6859.1549276027.188446")
  v <- o$get_instances_id_content_path(up$ID, "0028-0004")
  expect_equal(trimws(rawToChar(v)), "YBR_FULL_422")

  rt <- local_instance(o, fixture("RTPLAN.dcm"))
  # A sequence lists its items; an item lists its tags.
  items <- o$get_instances_id_content_path(rt$ID, "300a-00b0")
  beams <- o$get_instances_id_tags(rt$ID, params = list(simplify = TRUE))$BeamSequence
  expect_equal(unlist(items), as.character(seq_along(beams) - 1L))
  tags <- unlist(o$get_instances_id_content_path(rt$ID, "300a-00b0/0"))
  expect_true(all(c("300a-00b2", "300a-00c0") %in% tags))
  machine <- o$get_instances_id_content_path(rt$ID, "300a-00b0/0/300a-00b2")
  expect_type(machine, "raw")
  expect_equal(trimws(rawToChar(machine)), beams[[1]]$TreatmentMachineName)
  # Slashes at the ends are ignored.
  expect_identical(o$get_instances_id_content_path(rt$ID, "/300a-00b0/0/300a-00b2/"), machine)
  expect_error(o$get_instances_id_content_path(rt$ID, "300a-00b0/99"), class = "orthanc_http_404")
})

test_that("the DICOM file, statistics and parents of an instance", {
  o <- orthanc_client()
  f <- fixture("Lena-1.dcm")
  up <- local_instance(o, f)
  bytes <- o$get_instances_id_file(up$ID)
  expect_format(bytes, "dicom")
  expect_identical(bytes, readBin(f, "raw", file.size(f)))
  # Transcoded on the fly to Explicit VR Little Endian.
  little <- o$get_instances_id_file(up$ID,
    params = list(transcode = "1.2.840.10008.1.2.1"),
    headers = list(Accept = "application/dicom")
  )
  expect_format(little, "dicom")
  expect_true(length(grepRaw("1.2.840.10008.1.2.1", little[1:400], fixed = TRUE)) > 0)
  expect_gt(length(little), length(bytes))
  named <- o$get_instances_id_file(up$ID, params = list(filename = "lena.dcm"))
  expect_identical(named, bytes)
  expect_match(orthanc_last_response(o)$headers[["content-disposition"]], "lena.dcm", fixed = TRUE)

  stats <- o$get_instances_id_statistics(up$ID)
  expect_equal(stats$DicomDiskSize, as.character(file.size(f)))
  expect_equal(stats$DiskSize, as.character(file.size(f)))
  expect_equal(stats$UncompressedSize, as.character(file.size(f)))

  series <- o$get_instances_id_series(up$ID)
  expect_equal(series$ID, up$ParentSeries)
  expect_equal(series$Type, "Series")
  expect_true(up$ID %in% unlist(series$Instances))
  study <- o$get_instances_id_study(up$ID)
  expect_equal(study$ID, up$ParentStudy)
  expect_equal(study$Type, "Study")
  expect_equal(study$MainDicomTags$StudyInstanceUID, "1.2.840.113619.2.176.2025.1499492.7391.1171285944.390")
  patient <- o$get_instances_id_patient(up$ID, params = list(short = TRUE))
  expect_equal(patient$ID, up$ParentPatient)
  expect_equal(patient$Type, "Patient")
  expect_true(up$ParentStudy %in% unlist(patient$Studies))
})

test_that("frames of an instance come back in every format", {
  o <- orthanc_client()
  up <- local_instance(o, fixture("Brainix-Flair-1.dcm"))
  id <- up$ID
  # 288 x 288, MONOCHROME2, 16 bits allocated, one frame.
  expect_equal(o$get_instances_id_frames(id), list(0L))
  routes <- o$get_instances_id_frames_frame(id, 0)
  expect_type(routes, "list")
  expect_setequal(
    unlist(routes),
    c("image-int16", "image-uint16", "image-uint8", "matlab", "numpy", "preview", "raw", "raw.gz", "rendered")
  )

  png <- o$get_instances_id_frames_frame_preview(id, 0)
  expect_format(png, "png")
  expect_equal(inst_png_dim(png), c(288, 288))
  jpeg <- o$get_instances_id_frames_frame_preview(id, 0, params = list(quality = 50), headers = list(Accept = "image/jpeg"))
  expect_format(jpeg, "jpeg")

  small <- o$get_instances_id_frames_frame_rendered(id, 0, params = list(
    width = 64, "window-center" = 100, "window-width" = 200, smooth = FALSE
  ))
  expect_format(small, "png")
  expect_equal(inst_png_dim(small), c(64, 64))
  rjpeg <- o$get_instances_id_frames_frame_rendered(id, 0, params = list(height = 32, quality = 80), headers = list(Accept = "image/jpeg"))
  expect_format(rjpeg, "jpeg")

  u8 <- o$get_instances_id_frames_frame_image_uint8(id, 0)
  expect_format(u8, "png")
  expect_equal(inst_png_dim(u8), c(288, 288))
  expect_equal(as.integer(u8[25]), 8L) # PNG bit depth
  u16 <- o$get_instances_id_frames_frame_image_uint16(id, 0)
  expect_format(u16, "png")
  expect_equal(as.integer(u16[25]), 16L)
  i16 <- o$get_instances_id_frames_frame_image_int16(id, 0)
  expect_format(i16, "png")
  expect_equal(as.integer(i16[25]), 16L)
  # PAM: a text header, then the 288 * 288 16-bit pixels.
  pam <- o$get_instances_id_frames_frame_image_uint16(id, 0, headers = list(Accept = "image/x-portable-arbitrarymap"))
  expect_type(pam, "raw")
  expect_identical(rawToChar(pam[1:2]), "P7")
  head <- rawToChar(pam[1:80])
  expect_match(head, "WIDTH 288", fixed = TRUE)
  expect_match(head, "MAXVAL 65535", fixed = TRUE)
  expect_gte(length(pam), 288 * 288 * 2)

  matlab <- o$get_instances_id_frames_frame_matlab(id, 0)
  expect_type(matlab, "character")
  expect_match(matlab, "^double\\(")
  expect_match(matlab, "288")

  npy <- o$get_instances_id_frames_frame_numpy(id, 0, params = list(rescale = FALSE))
  expect_format(npy, "numpy")
  expect_match(inst_numpy_header(npy), "'shape': (288,288,1)", fixed = TRUE)
  expect_match(inst_numpy_header(npy), "'descr': '<u2'", fixed = TRUE)
  # After the header, the pixels are those of the raw frame (little endian).
  expect_identical(npy[-seq_len(length(npy) - 288 * 288 * 2)], o$get_instances_id_frames_frame_raw(id, 0))
  npz <- o$get_instances_id_frames_frame_numpy(id, 0, params = list(compress = TRUE, rescale = TRUE))
  expect_format(npz, "zip")

  raw <- o$get_instances_id_frames_frame_raw(id, 0)
  expect_type(raw, "raw")
  expect_length(raw, 288 * 288 * 2)
  gz <- o$`get_instances_id_frames_frame_raw.gz`(id, 0)
  expect_type(gz, "raw")
  expect_identical(gz[1:2], as.raw(c(0x1f, 0x8b)))
  expect_identical(memDecompress(gz, type = "gzip"), raw)
  # The raw frame is the pixel data of the file.
  file <- o$get_instances_id_file(id)
  expect_true(length(grepRaw(raw[1:64], file, fixed = TRUE)) > 0)

  expect_error(o$get_instances_id_frames_frame_raw(id, 1), class = "orthanc_http_error")
})

test_that("first-frame images of an instance: preview, rendered, image-*, matlab, numpy", {
  o <- orthanc_client()
  up <- local_instance(o, fixture("Brainix-Flair-1.dcm"))
  id <- up$ID
  png <- o$get_instances_id_preview(id)
  expect_format(png, "png")
  expect_identical(png, o$get_instances_id_frames_frame_preview(id, 0))
  jpeg <- o$get_instances_id_preview(id, params = list(quality = 30), headers = list(Accept = "image/jpeg"))
  expect_format(jpeg, "jpeg")

  r <- o$get_instances_id_rendered(id, params = list(width = 100, height = 50))
  expect_format(r, "png")
  expect_equal(inst_png_dim(r), c(50, 50)) # the aspect ratio is kept
  rj <- o$get_instances_id_rendered(id, headers = list(Accept = "image/jpeg"))
  expect_format(rj, "jpeg")

  u8 <- o$get_instances_id_image_uint8(id)
  expect_format(u8, "png")
  expect_identical(u8, o$get_instances_id_frames_frame_image_uint8(id, 0))
  u16 <- o$get_instances_id_image_uint16(id, headers = list(Accept = "image/x-portable-arbitrarymap"))
  expect_type(u16, "raw")
  expect_identical(rawToChar(u16[1:2]), "P7")
  i16 <- o$get_instances_id_image_int16(id, params = list(returnUnsupportedImage = TRUE))
  expect_format(i16, "png")
  expect_equal(inst_png_dim(i16), c(288, 288))
  expect_equal(as.integer(i16[25]), 16L)

  m <- o$get_instances_id_matlab(id)
  expect_type(m, "character")
  expect_identical(m, o$get_instances_id_frames_frame_matlab(id, 0))

  # Grayscale pixels are rescaled to float32 unless rescale=false.
  npy <- o$get_instances_id_numpy(id)
  expect_format(npy, "numpy")
  expect_match(inst_numpy_header(npy), "'shape': (1, 288,288,1)", fixed = TRUE)
  expect_match(inst_numpy_header(npy), "'descr': '<f4'", fixed = TRUE)
  unscaled <- o$get_instances_id_numpy(id, params = list(rescale = FALSE))
  expect_match(inst_numpy_header(unscaled), "'descr': '<u2'", fixed = TRUE)
  expect_length(unscaled, 128 + 288 * 288 * 2)

  # A color image cannot be decoded to grayscale.
  lena <- local_instance(o)
  err <- expect_error(o$get_instances_id_image_uint8(lena$ID), class = "orthanc_http_415")
  expect_equal(err$status, 415L)
  expect_true(inst_is_png(o$get_instances_id_image_uint8(lena$ID, params = list(returnUnsupportedImage = TRUE))))
})

test_that("an embedded PDF comes back; an instance without one is a classed 404", {
  o <- orthanc_client()
  lena <- local_instance(o)
  err <- expect_error(o$get_instances_id_pdf(lena$ID), class = "orthanc_http_404")
  expect_s3_class(err, "orthanc_http_error")
  expect_equal(err$status, 404L)

  skip_if_not_installed("jsonlite")
  pdf <- charToRaw(paste0(
    "%PDF-1.1\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n",
    "2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
  ))
  b64 <- gsub("\\s", "", jsonlite::base64_enc(pdf))
  made <- o$post_tools_create_dicom(json = list(
    Tags = list(PatientID = inst_patient_id(), PatientName = "INST^PDF"),
    Content = paste0("data:application/pdf;base64,", b64)
  ))
  withr::defer(try(o$delete_instances_id(made$ID), silent = TRUE))
  got <- o$get_instances_id_pdf(made$ID)
  expect_type(got, "raw")
  expect_identical(rawToChar(got[1:5]), "%PDF-")
  # The encapsulated document is padded to an even length.
  expect_identical(got[seq_along(pdf)], pdf)
  expect_match(orthanc_last_response(o)$headers[["content-type"]], "application/pdf", fixed = TRUE)
})

test_that("an instance is modified and anonymized into new DICOM files", {
  o <- orthanc_client()
  up <- local_instance(o, fixture("Brainix-Flair-1.dcm"))
  orig <- o$get_instances_id_simplified_tags(up$ID)
  expect_equal(orig$PatientName, "BRAINIX")

  mod <- o$post_instances_id_modify(up$ID, json = list(
    Replace = list(PatientName = "INST^MODIFIED", SeriesDescription = "modified by R"),
    Remove = I("InstitutionName")
  ))
  expect_format(mod, "dicom")
  new <- inst_upload_raw(o, mod)
  expect_false(identical(new$ID, up$ID))
  tags <- o$get_instances_id_simplified_tags(new$ID)
  expect_equal(tags$PatientName, "INST^MODIFIED")
  expect_equal(tags$SeriesDescription, "modified by R")
  expect_null(tags$InstitutionName)
  expect_false(identical(tags$SOPInstanceUID, orig$SOPInstanceUID))
  # Keep the SOPInstanceUID: the same UID in a new file.
  kept <- o$post_instances_id_modify(up$ID, json = list(Replace = list(PatientName = "X"), Keep = I("SOPInstanceUID"), Force = TRUE))
  expect_true(length(grepRaw(orig$SOPInstanceUID, kept, fixed = TRUE)) > 0)
  o$delete_instances_id(new$ID)

  anon <- o$post_instances_id_anonymize(up$ID, json = list(Replace = list(PatientName = "INST^ANON"), Keep = I("SeriesDescription")))
  expect_format(anon, "dicom")
  expect_length(grepRaw("BRAINIX", anon, fixed = TRUE), 0L)
  a <- inst_upload_raw(o, anon)
  at <- o$get_instances_id_simplified_tags(a$ID)
  expect_equal(at$PatientName, "INST^ANON")
  expect_false(identical(at$PatientID, orig$PatientID))
  expect_equal(at$SeriesDescription, orig$SeriesDescription)
  expect_equal(at$PatientIdentityRemoved, "YES")
  expect_false(identical(at$StudyInstanceUID, orig$StudyInstanceUID))
  # The default anonymization also works with an empty body ({}).
  anon2 <- o$post_instances_id_anonymize(up$ID, json = structure(list(), names = character()))
  expect_format(anon2, "dicom")
  expect_length(grepRaw("BRAINIX", anon2, fixed = TRUE), 0L)
})

test_that("an instance is exported to the server's file system and reconstructed", {
  o <- orthanc_client()
  skip_if(!nzchar(Sys.getenv("ORTHANC_TEST_STORAGE_SERVER")), "ORTHANC_TEST_STORAGE_SERVER is not set")
  up <- local_instance(o, fixture("Lena-2.dcm"))
  name <- paste0("inst-export-", inst_patient_id(), ".dcm")
  host <- file.path(Sys.getenv("ORTHANC_TEST_STORAGE"), name)
  withr::defer(unlink(host))
  res <- o$post_instances_id_export(up$ID, data = file.path(Sys.getenv("ORTHANC_TEST_STORAGE_SERVER"), name))
  expect_equal(res, structure(list(), names = character()))
  expect_true(file.exists(host))
  expect_identical(readBin(host, "raw", file.size(host)), o$get_instances_id_file(up$ID))

  before <- o$get_instances_id(up$ID)
  expect_null(o$post_instances_id_reconstruct(up$ID, json = list(ReconstructFiles = FALSE)))
  after <- o$get_instances_id(up$ID)
  expect_equal(after$MainDicomTags, before$MainDicomTags)
  expect_equal(after$ID, up$ID)
})
