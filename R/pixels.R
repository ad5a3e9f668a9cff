# Pixel data as R arrays, images as rasters, volumes as NIfTI files. These
# functions take a client and identifiers; the resource classes (Instance,
# Series) call them. They use the client's public methods only.

#' Pixel data of an instance or a series as an R array
#'
#' `pixel_array()` decodes the pixels of one DICOM instance, through Orthanc's
#' `GET /instances/{id}/numpy` (or `/instances/{id}/frames/{n}/numpy`), into an
#' R array whose element `[r, c]` is the pixel at row `r`, column `c`, as
#' displayed. `series_pixel_array()` does the same for a whole series
#' (`GET /series/{id}/numpy`), one slice per frame, in Orthanc's slice order
#' (`/series/{id}/ordered-slices`).
#'
#' Orthanc's `/numpy` routes use only its built-in decoder. When it cannot
#' decode a transfer syntax (e.g. JPEG 2000 on Orthanc 1.12 with the GDCM
#' plugin: it answers 500), the frames are fetched instead from
#' `/instances/{id}/frames/{n}/image-uint16` (`image-int16` when the pixels
#' are signed, `image-uint8` for colour images) as PAM images, which decoder
#' plugins do serve, and `RescaleSlope`/`RescaleIntercept` are applied here.
#' Both routes give the same values for images that both can decode.
#'
#' @param client An [Orthanc] client.
#' @param instance_id,series_id Orthanc identifier of the instance or series.
#' @param frame `NULL` for all the frames, or the number of one frame
#'   (starting at 1).
#' @param rescale Whether to apply the modality rescaling (`RescaleSlope`,
#'   `RescaleIntercept`) to greyscale images, giving doubles (Orthanc's
#'   `rescale`). With `FALSE`, the stored values (integers for integer pixel
#'   data).
#' @param via `"auto"` (the default): `/numpy`, or the image routes when
#'   Orthanc cannot decode the instance for `/numpy`; `"numpy"` or `"image"`
#'   to use only one of them.
#' @param progress Show a progress bar while the frames are fetched from the
#'   image routes (one request per frame): `TRUE`, `FALSE`, or `NULL` (the
#'   default: the option `orthanc.progress`, else only in interactive
#'   sessions); see [orthanc_options]. The `/numpy` routes answer in one
#'   request, without a bar.
#' @return A numeric array (integer or double): rows x columns for one frame
#'   of a greyscale instance, rows x columns x frames for several frames,
#'   with a last dimension of 3 (or 4) samples for colour images.
#'   `series_pixel_array()` always gives rows x columns x slices
#'   (x samples for colour).
#' @family pixels
#' @export
#' @examplesIf nzchar(Sys.getenv("ORTHANC_URL"))
#' o <- Orthanc$new()
#' # Sample files of the package: two MR slices (Brainix) and a CT image
#' stored <- upload(o, system.file("extdata", package = "orthanc"), check_before_upload = TRUE)
#' a <- pixel_array(o, stored$id[[1]], frame = 1)
#' dim(a)
#' range(a)
#' volume <- series_pixel_array(o, stored$parent_series[[1]])
#' dim(volume)
#' # Delete what this example stored (not what the server already had)
#' for (id in stored$id[stored$status == "Success"]) o$delete_instances_id(id)
pixel_array <- function(client, instance_id, frame = NULL, rescale = TRUE,
                        via = c("auto", "numpy", "image"), progress = NULL) {
  call <- quote(pixel_array())
  check_pixel_args(client, instance_id, rescale, call)
  check_progress_arg(progress, call)
  via <- match.arg(via)
  if (!is.null(frame)) check_frame(frame, call)
  if (via != "image") {
    res <- tryCatch(numpy_instance(client, instance_id, frame, rescale),
      orthanc_http_error = function(e) e
    )
    if (!inherits(res, "orthanc_http_error")) {
      return(res)
    }
    if (via == "numpy" || !res$status %in% c(415L, 500L)) stop(res)
    numpy_error <- res
  }
  tags <- client$get_instances_id_simplified_tags(instance_id)
  if (via == "auto") refuse_colour_jpeg2000(list(tags), numpy_error, call)
  frames <- if (is.null(frame)) seq_len(tag_number(tags$NumberOfFrames, 1)) else frame
  slices <- data.frame(id = instance_id, frame = frames - 1L)
  a <- tryCatch(image_frames(client, slices, list(tags), rescale, progress),
    orthanc_error = function(e) if (via == "auto") stop(numpy_error) else stop(e)
  )
  drop_frames(a, keep_frames = length(frames) > 1L)
}

#' @rdname pixel_array
#' @export
series_pixel_array <- function(client, series_id, rescale = TRUE,
                               via = c("auto", "numpy", "image"), progress = NULL) {
  call <- quote(series_pixel_array())
  check_pixel_args(client, series_id, rescale, call)
  check_progress_arg(progress, call)
  via <- match.arg(via)
  if (via != "image") {
    res <- tryCatch(
      {
        bytes <- client$get_series_id_numpy(series_id, params = list(rescale = rescale))
        # (slices, rows, columns, samples) -> (rows, columns, slices, samples)
        drop_samples(decode_pixels(bytes, "npy", c(2L, 3L, 1L, 4L)))
      },
      orthanc_http_error = function(e) e
    )
    if (!inherits(res, "orthanc_http_error")) {
      return(res)
    }
    if (via == "numpy" || !res$status %in% c(415L, 500L)) stop(res)
    numpy_error <- res
  }
  ordered <- client$GET(paste0("/series/", series_id, "/ordered-slices"))
  short <- ordered$SlicesShort
  slices <- do.call(rbind, lapply(short, function(s) {
    data.frame(id = s[[1]], frame = s[[2]] + seq_len(s[[3]]) - 1L)
  }))
  all_tags <- client$get_series_id_instances_tags(series_id, params = list(simplify = TRUE))
  if (via == "auto") refuse_colour_jpeg2000(all_tags, numpy_error, call)
  a <- tryCatch(image_frames(client, slices, all_tags[slices$id], rescale, progress),
    orthanc_error = function(e) if (via == "auto") stop(numpy_error) else stop(e)
  )
  a
}

check_pixel_args <- function(client, id, rescale, call) {
  if (!inherits(client, "Orthanc")) {
    orthanc_abort("argument", "{.arg client} must be an {.cls Orthanc} client, not {.obj_type_friendly {client}}.", call = call)
  }
  if (!is_string(id) || !nzchar(id)) {
    orthanc_abort("argument", "The identifier must be a single string, not {.obj_type_friendly {id}}.", call = call)
  }
  if (!is_flag(rescale)) {
    orthanc_abort("argument", "{.arg rescale} must be TRUE or FALSE.", call = call)
  }
}

# YBR_ICT and YBR_RCT exist only in JPEG 2000. Orthanc's GDCM plugin (seen
# with Orthanc 1.12.7 and Debian 13's orthanc-gdcm) stops the whole server
# when one of its image routes decodes such a frame, so the automatic
# fallback does not try them; `via = "image"` still does, on request.
refuse_colour_jpeg2000 <- function(tags, numpy_error, call) {
  photometric <- vapply(tags, function(t) as.character(t$PhotometricInterpretation %||% "")[1], "")
  bad <- photometric %in% c("YBR_ICT", "YBR_RCT")
  if (!any(bad)) return(invisible())
  orthanc_abort("decode", c(
    "Orthanc cannot decode these pixels for {.code /numpy} (HTTP {numpy_error$status}).",
    x = "They are colour JPEG 2000 ({photometric[bad][1]}): the image routes are not tried, because Orthanc's GDCM plugin can stop the server on such frames.",
    i = "To try them anyway (on a server whose decoder handles them), use {.code via = \"image\"}."
  ), call = call)
}

check_frame <- function(frame, call) {
  if (!is_number(frame) || frame < 1 || frame != round(frame)) {
    orthanc_abort("argument", c(
      "{.arg frame} must be a frame number (1 for the first frame), or NULL for all frames.",
      x = "It is {.obj_type_friendly {frame}}{if (is_number(frame)) paste0(' (', frame, ')') else ''}."
    ), call = call)
  }
}

# Decode bytes answered by Orthanc; raise an orthanc_response_error when they
# cannot be decoded.
decode_pixels <- function(bytes, format, axes = NULL) {
  res <- rs_decode_pixels(bytes, format, if (!is.null(axes)) as.integer(axes))
  if (is.list(res) && !is.null(res$error)) {
    if (identical(res$error, "internal")) stop(internal_condition(res, call = NULL))
    detail <- res$message
    what <- if (format == "npy") ".npy file" else "PAM image"
    orthanc_abort("decode", c("Cannot decode the {what} answered by Orthanc.", x = "{detail}"))
  }
  res
}

numpy_instance <- function(client, id, frame, rescale) {
  params <- list(rescale = rescale)
  if (is.null(frame)) {
    bytes <- client$get_instances_id_numpy(id, params = params)
    # (frames, rows, columns, samples) -> (rows, columns, frames, samples)
    a <- decode_pixels(bytes, "npy", c(2L, 3L, 1L, 4L))
    drop_frames(drop_samples(a), keep_frames = dim(a)[3] > 1L)
  } else {
    bytes <- client$get_instances_id_frames_frame_numpy(id, frame - 1L, params = params)
    # (rows, columns, samples)
    drop_samples(decode_pixels(bytes, "npy"))
  }
}

# Drop the last dimension when it is 1 (one sample per pixel).
drop_samples <- function(a) {
  d <- dim(a)
  if (length(d) > 2L && d[length(d)] == 1L) dim(a) <- d[-length(d)]
  a
}

# Drop the frames dimension (the third) of a single frame.
drop_frames <- function(a, keep_frames) {
  d <- dim(a)
  if (!keep_frames && length(d) >= 3L && d[3] == 1L) dim(a) <- d[-3]
  a
}

tag_number <- function(x, default) {
  if (is.null(x) || !nzchar(x)) return(default)
  v <- suppressWarnings(as.numeric(strsplit(as.character(x), "\\", fixed = TRUE)[[1]][1]))
  if (is.na(v)) default else v
}

# The frames `slices` (a data frame of instance `id` and 0-based `frame`)
# decoded from the PAM images of the image routes, fetched in one batch;
# `tags` holds the simplified tags of each row's instance. Returns rows x
# columns x frames (x samples).
image_frames <- function(client, slices, tags, rescale, progress = NULL) {
  kinds <- vapply(tags, function(t) {
    if (tag_number(t$SamplesPerPixel, 1) > 1) "image-uint8"
    else if (identical(tag_number(t$PixelRepresentation, 0), 1)) "image-int16"
    else "image-uint16"
  }, "")
  reqs <- lapply(seq_len(nrow(slices)), function(i) {
    orthanc_request("GET", c("instances", slices$id[i], "frames", slices$frame[i], kinds[i]),
      headers = list(Accept = "image/x-portable-arbitrarymap")
    )
  })
  answers <- client$batch(reqs, progress = progress_as(progress, "Reading frames"))
  frames <- lapply(seq_along(answers), function(i) {
    ans <- answers[[i]]
    if (inherits(ans, "condition")) stop(ans)
    a <- decode_pixels(ans, if (kinds[i] == "image-int16") "pam-signed" else "pam")
    t <- tags[[i]]
    if (rescale && dim(a)[3] == 1L) {
      slope <- tag_number(t$RescaleSlope, 1)
      intercept <- tag_number(t$RescaleIntercept, 0)
      a <- a * slope + intercept
    }
    a
  })
  d <- dim(frames[[1]])
  same <- vapply(frames, function(f) identical(dim(f), d), TRUE)
  if (!all(same)) {
    orthanc_abort("decode", "The frames do not all have the same size ({d[1]} x {d[2]}).")
  }
  out <- unlist(frames, use.names = FALSE)
  # Frames stacked: rows x columns x samples x frames -> rows x columns x frames x samples.
  dim(out) <- c(d, length(frames))
  drop_samples(aperm(out, c(1L, 2L, 4L, 3L)))
}

#' Images as rasters, and plots
#'
#' `pixel_raster()` turns a pixel array (rows x columns, greyscale; or rows x
#' columns x 3, colour) into a [grDevices::as.raster()] raster: greyscale
#' values are scaled to grey levels through a window (centre and width, as
#' DICOM's `WindowCenter`/`WindowWidth`), colours by their maximum.
#' `instance_raster()` does it for a frame of an instance, with the window
#' stored in the instance (else the range of its values), inverted for
#' `MONOCHROME1` images. `plot_instance()` draws it (`plot()` of a raster:
#' aspect ratio kept, no axes), in RStudio's plot pane or an R Markdown
#' report alike.
#'
#' @param x A numeric matrix or a rows x columns x 3 array.
#' @param window `NULL`, or the window `c(center, width)`. `NULL`: for
#'   `pixel_raster()` the range of the values; for `instance_raster()` the
#'   instance's first `WindowCenter`/`WindowWidth`, else the range.
#' @param invert Whether high values are dark (`MONOCHROME1`).
#' @inheritParams pixel_array
#' @param instance_id Orthanc identifier of the instance.
#' @param frame The number of the frame (starting at 1).
#' @param ... Passed to [graphics::plot()] of the raster (e.g.
#'   `interpolate = FALSE`).
#' @return `pixel_raster()`, `instance_raster()`: a `raster` object.
#'   `plot_instance()`: the raster, invisibly.
#' @family pixels
#' @export
#' @examples
#' x <- outer(1:64, 1:64)
#' plot(pixel_raster(x, window = c(2000, 3000)))
#' @examplesIf nzchar(Sys.getenv("ORTHANC_URL"))
#' o <- Orthanc$new()
#' # A sample file of the package: an MR slice (Brainix)
#' file <- system.file("extdata", "Brainix-Flair-1.dcm", package = "orthanc")
#' stored <- upload(o, file, check_before_upload = TRUE)
#' r <- instance_raster(o, stored$id)
#' dim(r)
#' plot_instance(o, stored$id, window = c(300, 600))
#' # Delete what this example stored (not what the server already had)
#' if (stored$status == "Success") o$delete_instances_id(stored$id)
pixel_raster <- function(x, window = NULL, invert = FALSE) {
  call <- quote(pixel_raster())
  d <- dim(x)
  if (!is.numeric(x) || !(length(d) == 2L || (length(d) == 3L && d[3] %in% c(3L, 4L)))) {
    orthanc_abort("argument", "{.arg x} must be a numeric matrix or a rows x columns x 3 array, not {.obj_type_friendly {x}}.", call = call)
  }
  if (!is.null(window) && (!is.numeric(window) || length(window) != 2L || anyNA(window) || window[2] <= 0)) {
    orthanc_abort("argument", "{.arg window} must be NULL or {.code c(center, width)} with a positive width.", call = call)
  }
  if (length(d) == 3L) {
    top <- max(x, na.rm = TRUE)
    top <- if (top <= 255) 255 else if (top <= 65535) 65535 else top
    v <- x[, , 1:3] / top
    v[is.na(v)] <- 0
    v <- pmin(pmax(v, 0), 1)
    if (invert) v <- 1 - v
    dim(v) <- c(d[1:2], 3L)
    return(grDevices::as.raster(v, max = 1))
  }
  if (is.null(window)) {
    r <- range(x[is.finite(x)])
    if (!length(r) || !all(is.finite(r))) r <- c(0, 1)
    window <- c(mean(r), max(r[2] - r[1], 1))
  }
  low <- window[1] - window[2] / 2
  v <- (x - low) / window[2]
  v[is.na(v)] <- 0
  v <- pmin(pmax(v, 0), 1)
  if (invert) v <- 1 - v
  grDevices::as.raster(matrix(v, d[1], d[2]), max = 1)
}

#' @rdname pixel_raster
#' @export
instance_raster <- function(client, instance_id, frame = 1, window = NULL) {
  call <- quote(instance_raster())
  check_pixel_args(client, instance_id, TRUE, call)
  check_frame(frame, call)
  tags <- client$get_instances_id_simplified_tags(instance_id)
  a <- pixel_array(client, instance_id, frame = frame)
  if (is.null(window)) {
    center <- tag_number(tags$WindowCenter, NA)
    width <- tag_number(tags$WindowWidth, NA)
    if (!is.na(center) && !is.na(width) && width > 0) window <- c(center, width)
  }
  pixel_raster(a, window = window, invert = identical(tags$PhotometricInterpretation, "MONOCHROME1"))
}

#' @rdname pixel_raster
#' @export
plot_instance <- function(client, instance_id, frame = 1, window = NULL, ...) {
  r <- instance_raster(client, instance_id, frame = frame, window = window)
  graphics::plot(r, ...)
  invisible(r)
}

#' Rasters and plots of an instance
#'
#' `as.raster()` and `plot()` of an `Instance` (a resource object): see [instance_raster()].
#'
#' @param x An `Instance` object (with fields `client` and `identifier`).
#' @inheritParams pixel_raster
#' @return `as.raster()`: a raster; `plot()`: the raster, invisibly.
#' @family pixels
#' @examplesIf nzchar(Sys.getenv("ORTHANC_URL"))
#' o <- Orthanc$new()
#' # A sample file of the package: an MR slice (Brainix)
#' file <- system.file("extdata", "Brainix-Flair-1.dcm", package = "orthanc")
#' stored <- upload(o, file, check_before_upload = TRUE)
#' i <- Instance$new(stored$id, o)
#' r <- grDevices::as.raster(i)
#' dim(r)
#' plot(i)
#' # Delete what this example stored (not what the server already had)
#' if (stored$status == "Success") o$delete_instances_id(stored$id)
#' @rawNamespace S3method(grDevices::as.raster, Instance)
as.raster.Instance <- function(x, frame = 1, window = NULL, ...) {
  instance_raster(x$client, instance_identifier(x), frame = frame, window = window)
}

#' @rdname as.raster.Instance
#' @rawNamespace S3method(plot, Instance)
plot.Instance <- function(x, frame = 1, window = NULL, ...) {
  r <- as.raster.Instance(x, frame = frame, window = window)
  graphics::plot(r, ...)
  invisible(r)
}

instance_identifier <- function(x) x$identifier %||% x$id

#' Write NIfTI files through Orthanc's neuroimaging plugin
#'
#' Asks Orthanc's neuroimaging plugin (`orthanc-neuro`) for the NIfTI-1
#' volume of each series (`GET /series/{id}/nifti`) or instance
#' (`GET /instances/{id}/nifti`), and writes one file per identifier into the
#' folder `path`, named `<id>.nii` (or `<id>.nii.gz` when compressed), all
#' through one [batch][orthanc_request] (files appear complete or not at all).
#'
#' @inheritParams pixel_array
#' @param ids Orthanc identifiers of series (or instances, see `level`).
#' @param path An existing folder.
#' @param compress Whether to ask for gzip-compressed files (`.nii.gz`).
#' @param level `"series"` or `"instances"`.
#' @param progress Show a progress bar: `TRUE`, `FALSE`, or `NULL` (the
#'   default: the option `orthanc.progress`, else only in interactive
#'   sessions); see [orthanc_options].
#' @return The paths of the files written, named by identifier, invisibly.
#'   When a request fails the error of the first failure is raised (files
#'   written for the other identifiers stay); when the server has no
#'   neuroimaging plugin, an error of class `orthanc_plugin_error`.
#' @family pixels
#' @export
#' @examplesIf nzchar(Sys.getenv("ORTHANC_URL"))
#' o <- Orthanc$new()
#' # Sample files of the package: two MR slices (Brainix) and a CT image
#' stored <- upload(o, system.file("extdata", package = "orthanc"), check_before_upload = TRUE)
#' # Needs the neuroimaging plugin of Orthanc
#' if ("neuro" %in% unlist(o$get_plugins())) {
#'   files <- write_nifti(o, stored$parent_series[[1]], tempdir())
#'   file.size(files)
#'   unlink(files)
#' }
#' # Delete what this example stored (not what the server already had)
#' for (id in stored$id[stored$status == "Success"]) o$delete_instances_id(id)
write_nifti <- function(client, ids, path, compress = TRUE, level = c("series", "instances"),
                        progress = NULL) {
  call <- quote(write_nifti())
  if (!inherits(client, "Orthanc")) {
    orthanc_abort("argument", "{.arg client} must be an {.cls Orthanc} client, not {.obj_type_friendly {client}}.", call = call)
  }
  if (!is.character(ids) || !length(ids) || anyNA(ids) || !all(nzchar(ids))) {
    orthanc_abort("argument", "{.arg ids} must be a character vector of identifiers.", call = call)
  }
  if (!is_string(path) || !dir.exists(path)) {
    orthanc_abort("argument", "{.arg path} must be an existing folder.", call = call)
  }
  if (!is_flag(compress)) {
    orthanc_abort("argument", "{.arg compress} must be TRUE or FALSE.", call = call)
  }
  level <- match.arg(level)
  check_progress_arg(progress, call)
  files <- file.path(path, paste0(ids, if (compress) ".nii.gz" else ".nii"))
  # The plugin compresses whenever `compress` is present, whatever its value.
  params <- if (compress) list(compress = TRUE)
  reqs <- lapply(seq_along(ids), function(i) {
    orthanc_request("GET", c(level, ids[i], "nifti"), params = params, dest = files[i])
  })
  res <- client$batch(reqs, progress = progress_as(progress, "Writing NIfTI files"))
  failed <- vapply(res, inherits, TRUE, what = "condition")
  if (any(failed)) {
    first <- res[[which(failed)[1]]]
    if (inherits(first, "orthanc_http_404") && !"neuro" %in% unlist(client$get_plugins())) {
      url <- client$url
      orthanc_abort("plugin", c(
        "The Orthanc server at {.url {url}} has no neuroimaging plugin: it cannot write NIfTI files.",
        i = "Install and enable the {.val neuro} plugin (Debian/Ubuntu package {.code orthanc-neuro}); see {.url https://orthanc.uclouvain.be/book/plugins/neuro.html}."
      ), plugin = "neuro", call = call)
    }
    stop(first)
  }
  names(files) <- ids
  invisible(files)
}
