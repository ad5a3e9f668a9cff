# Pixel arrays, rasters and NIfTI files (R/pixels.R).

# A .npy answer decoded independently of the package: `<u2` in C order with
# shape (1, rows, columns, 1), as Orthanc answers /numpy?rescale=false for a
# 16-bit greyscale single-frame instance.
read_npy_u2 <- function(bytes) {
  expect_identical(bytes[1:6], c(as.raw(0x93), charToRaw("NUMPY")))
  expect_identical(bytes[7], as.raw(1))
  hlen <- readBin(bytes[9:10], "integer", size = 2, signed = FALSE, endian = "little")
  header <- rawToChar(bytes[11:(10 + hlen)])
  expect_match(header, "'descr': '<u2'", fixed = TRUE)
  expect_match(header, "'fortran_order': False", fixed = TRUE)
  shape <- as.integer(strsplit(sub(".*'shape': \\(([0-9, ]+)\\).*", "\\1", header), ",")[[1]])
  n <- prod(shape)
  v <- readBin(bytes[-seq_len(10 + hlen)], "integer", n = n, size = 2, signed = FALSE, endian = "little")
  # C order: the last index (column) varies fastest.
  matrix(v, nrow = shape[2], ncol = shape[3], byrow = TRUE)
}

test_that("a Brainix slice gives rows x columns, equal to Orthanc's numpy answer", {
  o <- orthanc_client("a")
  inst <- local_instance(o, fixture("Brainix-Flair-1.dcm"))
  tags <- o$get_instances_id_simplified_tags(inst$ID)
  a <- pixel_array(o, inst$ID, rescale = FALSE)
  expect_type(a, "integer")
  expect_identical(dim(a), as.integer(c(tags$Rows, tags$Columns)))
  expected <- read_npy_u2(o$get_instances_id_numpy(inst$ID, params = list(rescale = FALSE)))
  expect_identical(a, expected)
  expect_gt(max(a), 0)
  # Rescaled (no RescaleSlope here): the same values, as doubles.
  r <- pixel_array(o, inst$ID)
  expect_type(r, "double")
  expect_identical(r, a + 0)
  # One frame, numbered from 1.
  expect_identical(pixel_array(o, inst$ID, frame = 1, rescale = FALSE), a)
  # The image route (PAM) gives the same values as /numpy.
  expect_identical(pixel_array(o, inst$ID, rescale = FALSE, via = "image"), a)
  expect_identical(pixel_array(o, inst$ID, via = "image"), r)
  expect_identical(pixel_array(o, inst$ID, frame = 1, via = "image"), r)
})

test_that("signed pixels and rescaling agree between /numpy and the image route", {
  o <- orthanc_client("a")
  inst <- local_instance(o, fixture("CT-JpegLossless.dcm"))
  raw_numpy <- pixel_array(o, inst$ID, rescale = FALSE, via = "numpy")
  expect_lt(min(raw_numpy), 0)
  expect_identical(pixel_array(o, inst$ID, rescale = FALSE, via = "image"), raw_numpy)
  expect_equal(pixel_array(o, inst$ID, via = "image"), pixel_array(o, inst$ID, via = "numpy"))
})

test_that("a series volume has one slice per instance", {
  o <- orthanc_client("a")
  i1 <- local_instance(o, fixture("Brainix-Flair-1.dcm"))
  i2 <- local_instance(o, fixture("Brainix-Flair-2.dcm"))
  expect_identical(i1$ParentSeries, i2$ParentSeries)
  v <- series_pixel_array(o, i1$ParentSeries)
  expect_identical(dim(v), c(288L, 288L, 2L))
  a1 <- pixel_array(o, i1$ID)
  a2 <- pixel_array(o, i2$ID)
  slices <- list(v[, , 1], v[, , 2])
  expect_true(list(a1) %in% slices)
  expect_true(list(a2) %in% slices)
  expect_identical(series_pixel_array(o, i1$ParentSeries, via = "image"), v)
  expect_identical(
    series_pixel_array(o, i1$ParentSeries, rescale = FALSE, via = "image"),
    series_pixel_array(o, i1$ParentSeries, rescale = FALSE, via = "numpy")
  )
})

test_that("JPEG 2000 (Knee) decodes through the image route when /numpy cannot", {
  o <- orthanc_client("a")
  inst <- local_instance(o, fixture("Knee-T1-1.dcm"))
  tags <- o$get_instances_id_simplified_tags(inst$ID)
  expect_identical(tags$PhotometricInterpretation, "MONOCHROME2")
  expect_error(pixel_array(o, inst$ID, via = "numpy"), class = "orthanc_http_500")
  a <- pixel_array(o, inst$ID)
  expect_identical(dim(a), as.integer(c(tags$Rows, tags$Columns)))
  expect_gt(sum(a != 0), length(a) / 4)
  expect_gte(min(a), 0)
  expect_lte(max(a), 2^as.integer(tags$BitsStored) - 1)
  expect_type(pixel_array(o, inst$ID, rescale = FALSE), "integer")
  v <- series_pixel_array(o, inst$ParentSeries)
  expect_identical(dim(v), c(dim(a), 1L))
  expect_identical(v[, , 1], a)
})

test_that("colour JPEG 2000 is refused, not sent to the image routes that stop the server", {
  o <- orthanc_client("a")
  inst <- local_instance(o, fixture("jp2k91YBR-ICT.dcm"))
  tags <- o$get_instances_id_simplified_tags(inst$ID)
  expect_identical(tags$PhotometricInterpretation, "YBR_ICT")
  err <- expect_error(pixel_array(o, inst$ID), class = "orthanc_response_error")
  expect_match(conditionMessage(err), "YBR_ICT", fixed = TRUE)
  expect_match(conditionMessage(err), 'via = "image"', fixed = TRUE)
  expect_error(pixel_array(o, inst$ID, frame = 1), class = "orthanc_response_error")
  expect_error(series_pixel_array(o, inst$ParentSeries), class = "orthanc_response_error")
  # The server is still up: no image route was asked for.
  expect_type(o$get_system()$Version, "character")
})

test_that("a signed JPEG 2000 CT gets RescaleIntercept applied in R", {
  o <- orthanc_client("a")
  inst <- local_instance(o, fixture("CT-Jpeg2000.dcm"))
  tags <- o$get_instances_id_simplified_tags(inst$ID)
  stored <- pixel_array(o, inst$ID, rescale = FALSE)
  hu <- pixel_array(o, inst$ID)
  expect_identical(dim(hu), c(512L, 512L))
  expect_equal(hu, stored * as.numeric(tags$RescaleSlope) + as.numeric(tags$RescaleIntercept))
  expect_lt(min(hu), -1000) # air
  expect_gt(max(hu), 100) # bone
})

test_that("a colour image gives rows x columns x 3 and a colour raster", {
  o <- orthanc_client("a")
  inst <- local_instance(o, fixture("ExplicitLittle.dcm"))
  a <- pixel_array(o, inst$ID)
  expect_identical(dim(a), c(120L, 256L, 3L))
  r <- instance_raster(o, inst$ID)
  expect_s3_class(r, "raster")
  expect_identical(dim(r), c(120L, 256L))
  cols <- grDevices::col2rgb(as.vector(r))
  expect_true(any(cols[1, ] != cols[2, ] | cols[2, ] != cols[3, ]))
})

test_that("bad frames, unknown ids and bad arguments are classed errors", {
  o <- orthanc_client("a")
  inst <- local_instance(o, fixture("Brainix-Flair-1.dcm"))
  expect_error(pixel_array(o, inst$ID, frame = 0), class = "orthanc_argument_error")
  expect_error(pixel_array(o, inst$ID, frame = 1.5), class = "orthanc_argument_error")
  expect_error(pixel_array(o, inst$ID, frame = "1"), class = "orthanc_argument_error")
  expect_error(pixel_array(o, inst$ID, rescale = NA), class = "orthanc_argument_error")
  expect_error(pixel_array("http://x", inst$ID), class = "orthanc_argument_error")
  expect_error(pixel_array(o, c(inst$ID, inst$ID)), class = "orthanc_argument_error")
  expect_error(pixel_array(o, inst$ID, frame = 2), class = "orthanc_http_400")
  expect_error(pixel_array(o, inst$ID, frame = 2, via = "image"), class = "orthanc_http_error")
  expect_error(pixel_array(o, "no-such-instance"), class = "orthanc_http_404")
  expect_error(series_pixel_array(o, "no-such-series"), class = "orthanc_http_404")
  expect_error(instance_raster(o, inst$ID, frame = 0), class = "orthanc_argument_error")
})

test_that("an answer that is not a .npy file is an orthanc_response_error", {
  local_orthanc_mock(function(req) orthanc_mock_response(body = charToRaw("PK\003\004 not npy")))
  o <- Orthanc$new("http://orthanc.invalid:8042")
  expect_error(pixel_array(o, "x", via = "numpy"), class = "orthanc_response_error")
  expect_error(pixel_array(o, "x", via = "numpy"), "npz")
})

test_that("pixel_raster() maps a window to grey levels", {
  x <- matrix(c(0, 50, 100, NA), 2, 2)
  r <- pixel_raster(x, window = c(50, 100))
  expect_s3_class(r, "raster")
  expect_identical(dim(r), c(2L, 2L))
  expect_identical(as.vector(as.matrix(r)), c("#000000", "#808080", "#FFFFFF", "#000000"))
  expect_identical(as.matrix(pixel_raster(x, window = c(50, 100), invert = TRUE))[1, 1], "#FFFFFF")
  # Default window: the range.
  expect_identical(as.matrix(pixel_raster(x))[1, 2], "#FFFFFF")
  expect_identical(as.matrix(pixel_raster(matrix(7, 2, 2)))[1, 1], "#808080")
  # Row r of the matrix is row r of the raster.
  expect_identical(as.matrix(pixel_raster(rbind(c(0, 0), c(1, 1))))[2, ], c("#FFFFFF", "#FFFFFF"))
  rgb <- array(0, c(2, 2, 3))
  rgb[1, 1, 1] <- 255
  expect_identical(as.matrix(pixel_raster(rgb))[1, 1], "#FF0000")
  expect_error(pixel_raster("a"), class = "orthanc_argument_error")
  expect_error(pixel_raster(array(0, c(2, 2, 2))), class = "orthanc_argument_error")
  expect_error(pixel_raster(x, window = c(1, 0)), class = "orthanc_argument_error")
})

test_that("plot_instance() and the Instance methods draw an image", {
  o <- orthanc_client("a")
  inst <- local_instance(o, fixture("Brainix-Flair-1.dcm"))
  r <- instance_raster(o, inst$ID)
  expect_identical(dim(r), c(288L, 288L))
  expect_gt(length(unique(as.vector(r))), 50)
  png_file <- withr::local_tempfile(fileext = ".png")
  grDevices::png(png_file, width = 200, height = 200)
  plot_instance(o, inst$ID)
  grDevices::dev.off()
  expect_gt(file.size(png_file), 1000)

  # A stand-in for the Instance class (R/instance.R): a client and an identifier.
  stand_in <- R6::R6Class("Instance", public = list(
    client = NULL, identifier = NULL,
    initialize = function(client, id) {
      self$client <- client
      self$identifier <- id
    }
  ))
  x <- stand_in$new(o, inst$ID)
  expect_identical(grDevices::as.raster(x), r)
  png2 <- withr::local_tempfile(fileext = ".png")
  grDevices::png(png2, width = 200, height = 200)
  expect_identical(plot(x, window = c(200, 400)), pixel_raster(pixel_array(o, inst$ID), c(200, 400)))
  grDevices::dev.off()
  expect_gt(file.size(png2), 1000)
})

# The header of a NIfTI-1 file (uncompressed or gzipped).
read_nifti_header <- function(path) {
  con <- if (grepl("\\.gz$", path)) gzfile(path, "rb") else file(path, "rb")
  on.exit(close(con))
  bytes <- readBin(con, "raw", 352L)
  list(
    sizeof_hdr = readBin(bytes[1:4], "integer", size = 4, endian = "little"),
    dim = readBin(bytes[41:56], "integer", n = 8, size = 2, endian = "little"),
    magic = rawToChar(bytes[345:347])
  )
}

test_that("write_nifti() writes one NIfTI file per series through the neuro plugin", {
  o <- orthanc_client("a")
  i1 <- local_instance(o, fixture("Brainix-Flair-1.dcm"))
  i2 <- local_instance(o, fixture("Brainix-Flair-2.dcm"))
  tags <- o$get_instances_id_simplified_tags(i1$ID)
  dir <- withr::local_tempdir()
  files <- write_nifti(o, i1$ParentSeries, dir)
  expect_identical(names(files), i1$ParentSeries)
  expect_identical(basename(files), paste0(i1$ParentSeries, ".nii.gz"))
  expect_true(file.exists(files))
  expect_identical(readBin(files, "raw", 2L), as.raw(c(0x1f, 0x8b)))
  h <- read_nifti_header(files)
  expect_identical(h$sizeof_hdr, 348L)
  expect_identical(h$magic, "n+1")
  expect_identical(h$dim[1:4], c(3L, as.integer(tags$Columns), as.integer(tags$Rows), 2L))

  plain <- write_nifti(o, c(i1$ID, i2$ID), dir, compress = FALSE, level = "instances")
  expect_identical(basename(plain), paste0(c(i1$ID, i2$ID), ".nii"))
  h <- read_nifti_header(plain[[1]])
  expect_identical(h$sizeof_hdr, 348L)
  expect_identical(h$magic, "n+1")
  expect_identical(h$dim[2:3], as.integer(c(tags$Columns, tags$Rows)))
  # 16-bit voxels after the 352 bytes of header and extension.
  expect_identical(file.size(plain[[1]]), 352 + 2 * 288 * 288)

  # An unknown series: Orthanc's 404, not a plugin error; no file left.
  expect_error(write_nifti(o, "no-such-series", dir), class = "orthanc_http_404")
  expect_false(file.exists(file.path(dir, "no-such-series.nii.gz")))
  expect_error(write_nifti(o, i1$ParentSeries, file.path(dir, "missing")), class = "orthanc_argument_error")
  expect_error(write_nifti(o, character(), dir), class = "orthanc_argument_error")
  expect_error(write_nifti(o, "x", dir, compress = NA), class = "orthanc_argument_error")
})

test_that("write_nifti() on a server without the neuro plugin is an orthanc_plugin_error", {
  local_orthanc_mock(function(req) {
    if (req$path == "/plugins") {
      return(orthanc_mock_response(body = list("explorer.js", "gdcm")))
    }
    orthanc_mock_response(404L, body = list(
      HttpStatus = 404L, Message = "Unknown resource", OrthancError = "Unknown resource",
      OrthancStatus = 17L
    ))
  })
  o <- Orthanc$new("http://orthanc.invalid:8042")
  dir <- withr::local_tempdir()
  err <- expect_error(write_nifti(o, "abc", dir), class = "orthanc_plugin_error")
  expect_s3_class(err, "orthanc_error")
  expect_identical(err$plugin, "neuro")
  expect_match(conditionMessage(err), "neuroimaging plugin")
  expect_length(list.files(dir), 0L)
})
