# Download resources to disk: DICOM files in a patient/study/series tree,
# archives, PNG previews, NIfTI volumes. The instances are listed with a few
# expanded listings (one batch), then every file is downloaded in ONE batch of
# requests with `dest` (concurrent, streamed to a temporary name in the target
# folder and renamed when complete). Only public methods of the client are used.
# The instances are listed by collect_instance_tree() (retrieve-tree.R) and
# their files named by tree_paths() (retrieve-names.R).

#' Download resources and write them to disk
#'
#' @description
#' `retrieve_and_write_patients()`, `retrieve_and_write_studies()`,
#' `retrieve_and_write_series()` and `retrieve_and_write_instances()` write
#' the DICOM files of resources (all their instances) under `path`, one folder
#' per patient, study and series:
#'
#' ```
#' path/<patient>/<study>/<series>/<instance>.dcm
#' ```
#'
#' * `<patient>`: `PatientID` (else `PatientName`);
#' * `<study>`: `StudyDate` and `StudyDescription` (else `StudyID`, else
#'   `StudyInstanceUID`);
#' * `<series>`: `SeriesNumber` and `SeriesDescription` (else `Modality`);
#' * `<instance>`: `InstanceNumber` (zero-padded to 4 digits), else
#'   `SOPInstanceUID`.
#'
#' Names are made safe on every operating system: the characters
#' `< > : " / \ | ? *` become `_`, control characters are removed, leading
#' dots and spaces and trailing ones are removed, names reserved by Windows
#' (`CON`, `PRN`, `AUX`, `NUL`, `COM1`...`COM9`, `LPT1`...`LPT9`, with any
#' extension) get a leading `_`, and names are cut at 64 bytes of UTF-8. A name
#' that ends up empty becomes the level and the start of the Orthanc
#' identifier. Two resources whose names would be equal (ignoring case, as on
#' Windows and macOS) get `_` and the first 8 characters of their Orthanc
#' identifier appended (the whole identifier if that is not enough).
#'
#' The instances are listed with expanded listings (three requests per
#' patient, study or series given, all in one batch; for instances, their
#' information and that of their series), then all the files are downloaded
#' in one [batch][orthanc_request] of `GET /instances/{id}/file` requests, at
#' most `concurrency` at once, with a progress bar. Each file is streamed to a
#' hidden temporary file in its folder (`.<name>.part-<pid>-<n>`) and renamed
#' when complete: a file under its final name is always complete. An
#' interrupt (Ctrl-C, `SIGINT`) removes the temporary files; a process killed
#' without warning (`SIGKILL`, a crash) can leave hidden `.part` files, never a
#' truncated `.dcm`. Existing files of the same names are replaced, unless
#' `resume = TRUE`: then files already under their final names (complete, as
#' said above) are not fetched again, and a message says how many were
#' skipped. An export cut short (an interrupt, a lost connection, a killed
#' process) and run again with `resume = TRUE` fetches only what is missing.
#'
#' `retrieve_and_write_archives()` writes one ZIP archive per patient, study
#' or series (`GET /{level}/{id}/archive`), named like the folders above,
#' under `path`. `retrieve_and_write_images()` writes a PNG preview of each
#' instance (`GET /instances/{id}/preview`; its first frame) in the same tree
#' as the DICOM files, with the extension `.png`.
#' `retrieve_and_write_nifti()` writes one NIfTI volume per series or
#' instance through Orthanc's neuroimaging plugin, named by Orthanc
#' identifier (see [write_nifti()]).
#'
#' @param patients,studies,series,instances,resources The resources: one
#'   resource object ([Patient], [Study], [Series], [Instance]), a list of
#'   them, or an `orthanc_resource_list` (e.g. from [find_studies()] or
#'   `$instances`). For `retrieve_and_write_archives()`: patients, studies or
#'   series; for `retrieve_and_write_nifti()`: series or instances; for
#'   `retrieve_and_write_images()`: resources of any level (all their
#'   instances). All must belong to the same client.
#' @param path The folder to write to (created when missing).
#' @param concurrency At most how many downloads at once (`NULL`:
#'   `getOption("orthanc.concurrency", 4)`).
#' @param progress Whether to show a progress bar: `TRUE`, `FALSE`, or `NULL`
#'   (the default: the option `orthanc.progress`, else only in interactive
#'   sessions); see [orthanc_options].
#' @param compress Whether to write gzip-compressed NIfTI files (`.nii.gz`).
#' @param resume Whether to keep the files already written under `path` (see
#'   Details) instead of fetching them again.
#' @param async `TRUE`: list the instances (as above: a few requests, R waits
#'   for them), then download the files in the background, as an
#'   [OrthancAsync] client does (the client's `batch(async = TRUE)`), and
#'   answer at once a [promise][promises::promise] of the data frame (rejected
#'   with the error that would be raised; no progress bar). R is free
#'   meanwhile (Shiny, plumber, the console); collect it with [orthanc_await()]
#'   or [promises::then()]. Needs the packages promises and later.
#' @return A data frame of what was written, one row per file: `id` (Orthanc
#'   identifier), `level`, `path` (the file; for a failed download, the file
#'   that was not written; `NA` for a resource that could not be listed),
#'   `size` (bytes, `NA` on failure), `status` (`"Written"`, `"Skipped"` (with
#'   `resume = TRUE`, already there) or `"Failed"`) and
#'   `message` (why it failed, else `NA`). A failure is a row, not an error,
#'   unless nothing at all could be written: then the error of the first
#'   failure is raised. A resource whose instances could not be listed is one
#'   `"Failed"` row at its own level.
#' @family retrieve
#' @export
#' @examplesIf nzchar(Sys.getenv("ORTHANC_URL"))
#' o <- Orthanc$new()
#' # Sample files of the package: two MR slices (Brainix) and a CT image
#' stored <- upload(o, system.file("extdata", package = "orthanc"), check_before_upload = TRUE)
#' out_dir <- file.path(tempdir(), "dicom")
#' patients <- find_patients(o, query = list(PatientName = "BRAINIX"))
#' written <- retrieve_and_write_patients(patients, out_dir)
#' written[, c("level", "path", "size", "status")]
#' list.files(out_dir, recursive = TRUE)
#' unlink(out_dir, recursive = TRUE)
#' # Delete what this example stored (not what the server already had)
#' for (id in stored$id[stored$status == "Success"]) o$delete_instances_id(id)
retrieve_and_write_patients <- function(patients, path, concurrency = NULL, progress = NULL,
                                resume = FALSE, async = FALSE) {
  retrieve_tree(patients, path, "Patient", "patients", quote(retrieve_and_write_patients()),
    concurrency, progress, resume, async
  )
}

#' @rdname retrieve_and_write_patients
#' @export
retrieve_and_write_studies <- function(studies, path, concurrency = NULL, progress = NULL,
                                resume = FALSE, async = FALSE) {
  retrieve_tree(studies, path, "Study", "studies", quote(retrieve_and_write_studies()),
    concurrency, progress, resume, async
  )
}

#' @rdname retrieve_and_write_patients
#' @export
retrieve_and_write_series <- function(series, path, concurrency = NULL, progress = NULL,
                                resume = FALSE, async = FALSE) {
  retrieve_tree(series, path, "Series", "series", quote(retrieve_and_write_series()),
    concurrency, progress, resume, async
  )
}

#' @rdname retrieve_and_write_patients
#' @export
retrieve_and_write_instances <- function(instances, path, concurrency = NULL, progress = NULL,
                                resume = FALSE, async = FALSE) {
  retrieve_tree(instances, path, "Instance", "instances", quote(retrieve_and_write_instances()),
    concurrency, progress, resume, async
  )
}

#' @rdname retrieve_and_write_patients
#' @export
retrieve_and_write_images <- function(instances, path, concurrency = NULL, progress = NULL,
                                      resume = FALSE, async = FALSE) {
  call <- quote(retrieve_and_write_images())
  check_progress_arg(progress, call)
  check_flag_arg(resume, "resume", call = call)
  check_async_arg(async, call)
  res <- as_resource_objects(instances, "instances", orthanc_levels, call)
  path <- prepare_out_dir(path, call)
  tree <- collect_instance_tree(res)
  download_tree(tree, path, "png", function(id) {
    orthanc_request("GET", c("instances", id, "preview"), headers = list(Accept = "image/png"))
  }, concurrency, progress, call, resume, async)
}

#' @rdname retrieve_and_write_patients
#' @export
retrieve_and_write_archives <- function(resources, path, concurrency = NULL, progress = NULL,
                                        async = FALSE) {
  call <- quote(retrieve_and_write_archives())
  check_progress_arg(progress, call)
  check_async_arg(async, call)
  res <- as_resource_objects(resources, "resources", c("Patient", "Study", "Series"), call)
  path <- prepare_out_dir(path, call)
  client <- res[[1]]$client
  infos <- resource_infos(res, call)
  levels <- vapply(res, function(r) r$level, "")
  ids <- vapply(res, function(r) r$identifier, "")
  ok <- !vapply(infos, inherits, TRUE, what = "condition")
  names <- rep(NA_character_, length(res))
  for (lv in unique(levels[ok])) {
    k <- which(ok & levels == lv)
    names[k] <- unique_names(
      folder_name(lv, infos[k], ids[k]),
      ids[k]
    )
  }
  # The same name at two levels (a patient and a series) cannot collide:
  # prefix the level when more than one level is written.
  if (length(unique(levels[ok])) > 1L) names[ok] <- paste0(tolower(levels[ok]), "-", names[ok])
  files <- ifelse(ok, file.path(path, paste0(names, ".zip")), NA_character_)
  reqs <- lapply(which(ok), function(i) {
    orthanc_request("GET", c(level_prefix(levels[i]), ids[i], "archive"), dest = files[i])
  })
  batch_then(client, reqs, concurrency, progress_as(progress, "Downloading archives"), async, function(got) {
    answers <- vector("list", length(res))
    answers[!ok] <- infos[!ok]
    answers[ok] <- got
    written_rows(ids, levels, files, answers, call)
  })
}

#' @rdname retrieve_and_write_patients
#' @export
retrieve_and_write_nifti <- function(resources, path, compress = TRUE, concurrency = NULL,
                                     progress = NULL) {
  call <- quote(retrieve_and_write_nifti())
  check_progress_arg(progress, call)
  res <- as_resource_objects(resources, "resources", c("Series", "Instance"), call)
  path <- prepare_out_dir(path, call)
  if (!is_flag(compress)) {
    orthanc_abort("argument", "{.arg compress} must be TRUE or FALSE.", call = call)
  }
  client <- res[[1]]$client
  levels <- vapply(res, function(r) r$level, "")
  ids <- vapply(res, function(r) r$identifier, "")
  keep <- !duplicated(ids)
  levels <- levels[keep]
  ids <- ids[keep]
  files <- file.path(path, paste0(ids, if (compress) ".nii.gz" else ".nii"))
  answers <- vector("list", length(ids))
  for (lv in unique(levels)) {
    k <- which(levels == lv)
    lvl <- if (lv == "Series") "series" else "instances"
    started <- Sys.time()
    err <- tryCatch(
      {
        write_nifti(client, ids[k], path, compress = compress, level = lvl, progress = progress)
        NULL
      },
      orthanc_plugin_error = function(e) stop(e),
      orthanc_error = function(e) e
    )
    if (is.null(err)) {
      answers[k] <- as.list(files[k])
      next
    }
    # write_nifti() stops at the first failure (the other files are written):
    # files written by this call are done; ask again for the others one by one
    # for their own error.
    fresh <- file.exists(files[k]) & file.mtime(files[k]) >= started - 1
    answers[k[fresh]] <- as.list(files[k[fresh]])
    for (i in k[!fresh]) {
      answers[[i]] <- tryCatch(
        {
          write_nifti(client, ids[i], path, compress = compress, level = lvl, progress = FALSE)
          files[i]
        },
        orthanc_error = function(e) e
      )
    }
  }
  written_rows(ids, levels, files, answers, call)
}

# Arguments ------------------------------------------------------------------

# A list of resource objects (one client), from a resource, a list or an
# orthanc_resource_list; `levels`: those accepted.
as_resource_objects <- function(x, arg, levels, call) {
  if (inherits(x, "Resource")) x <- list(x)
  ok <- is.list(x) && length(x) > 0L && all(vapply(x, inherits, TRUE, what = "Resource"))
  what <- paste(vapply(levels, function(l) level_noun(l, 2L), ""), collapse = ", ")
  if (!ok) {
    orthanc_abort("argument", c(
      "{.arg {arg}} must be a resource object or a list of them ({what}).",
      x = "It is {.obj_type_friendly {x}}."
    ), call = call)
  }
  have <- vapply(x, function(r) r$level, "")
  bad <- setdiff(unique(have), levels)
  if (length(bad)) {
    orthanc_abort("argument", c(
      "{.arg {arg}} must be {what}.",
      x = "It holds {paste(vapply(bad, function(l) level_noun(l, 2L), ''), collapse = ', ')}."
    ), call = call)
  }
  client <- x[[1]]$client
  same <- vapply(x, function(r) identical(r$client, client), TRUE)
  if (!all(same)) {
    orthanc_abort("argument", "All the resources in {.arg {arg}} must belong to the same client.", call = call)
  }
  unname(unclass(x))
}

prepare_out_dir <- function(path, call) {
  check_arg(is_string(path) && nzchar(path), path, "path", "the path of a folder", call)
  if (file.exists(path) && !dir.exists(path)) {
    orthanc_abort("io", c(
      "Cannot write into {.path {path}}.",
      x = "It is a file, not a folder."
    ), call = call)
  }
  if (!dir.exists(path) && !suppressWarnings(dir.create(path, recursive = TRUE)) && !dir.exists(path)) {
    orthanc_abort("io", c(
      "Cannot write into {.path {path}}.",
      x = "The folder could not be created."
    ), call = call)
  }
  normalizePath(path, mustWork = TRUE)
}

# Downloading ----------------------------------------------------------------

retrieve_tree <- function(x, path, level, arg, call, concurrency, progress, resume = FALSE,
                          async = FALSE) {
  check_progress_arg(progress, call)
  check_flag_arg(resume, "resume", call = call)
  check_async_arg(async, call)
  res <- as_resource_objects(x, arg, level, call)
  path <- prepare_out_dir(path, call)
  tree <- collect_instance_tree(res)
  download_tree(tree, path, "dcm", function(id) {
    orthanc_request("GET", c("instances", id, "file"))
  }, concurrency, progress, call, resume, async)
}

# Download every instance of `tree` with `request(id)` (a request without
# dest) to path/<tree path>.<ext>, in one batch; the data frame of rows. With
# `resume`, files already there under their final names are complete (they
# are written under a temporary name and renamed): they are not fetched again.
download_tree <- function(tree, path, ext, request, concurrency, progress, call, resume = FALSE,
                          async = FALSE) {
  df <- tree$instances
  rel <- tree_paths(tree, ext)
  files <- if (length(rel)) file.path(path, rel) else character()
  skipped <- if (resume) file.exists(files) & !dir.exists(files) else rep(FALSE, length(files))
  if (any(skipped)) {
    cli::cli_inform(c(i = "{sum(skipped)} of {length(files)} file{?s} already written under {.path {path}}: not fetched again."))
  }
  for (d in unique(dirname(files))) {
    # Created, or there already (another process writing into the same tree
    # may have made it since dir.exists() was asked).
    if (!dir.exists(d) && !suppressWarnings(dir.create(d, recursive = TRUE)) && !dir.exists(d)) {
      orthanc_abort("io", c("Cannot write into {.path {path}}.", x = "The folder {.path {d}} could not be created."), call = call)
    }
  }
  reqs <- lapply(which(!skipped), function(i) {
    r <- request(df$id[i])
    orthanc_request(r$method, r$path, headers = r$headers, dest = files[i])
  })
  batch_then(tree$client, reqs, concurrency, progress_as(progress, "Downloading"), async, function(got) {
    answers <- rep(list(NULL), length(files))
    answers[!skipped] <- got
    fl <- tree$failures
    ids <- c(df$id, vapply(fl, function(f) f$id, ""))
    levels <- c(rep("Instance", nrow(df)), vapply(fl, function(f) f$level, ""))
    files <- c(files, rep(NA_character_, length(fl)))
    answers <- c(answers, lapply(fl, function(f) f$error))
    written_rows(ids, levels, files, answers, call, skipped = c(skipped, rep(FALSE, length(fl))))
  })
}

# The downloads of a layer function: `finish(answers)` of the client's batch()
# of `reqs` (one answer per request); with `async`, the batch runs in the
# background (batch(async = TRUE)) and a promise of finish()'s value is
# answered, rejected with the error finish() raises.
batch_then <- function(client, reqs, concurrency, progress, async, finish) {
  if (!async) {
    return(finish(if (length(reqs)) client$batch(reqs, concurrency = concurrency, progress = progress) else list()))
  }
  got <- if (length(reqs)) client$batch(reqs, concurrency = concurrency, async = TRUE) else promises::promise_resolve(list())
  promises::then(got, finish)
}

# The data frame of rows; raises the first error when nothing was written.
written_rows <- function(ids, levels, files, answers, call, skipped = rep(FALSE, length(ids))) {
  failed <- vapply(answers, inherits, TRUE, what = "condition")
  msg <- vapply(answers, function(a) {
    if (inherits(a, "condition")) gsub("\\s*\n\\s*", " ", conditionMessage(a)) else NA_character_
  }, "")
  size <- rep(NA_real_, length(ids))
  size[!failed] <- file.size(files[!failed])
  out <- data.frame(
    id = as.character(ids), level = as.character(levels), path = as.character(files),
    size = size, status = ifelse(failed, "Failed", ifelse(skipped, "Skipped", "Written")),
    message = msg, stringsAsFactors = FALSE
  )
  if (length(failed) && all(failed)) {
    first <- answers[[1]]
    if (length(failed) > 1L) {
      first$message <- paste0(
        "Nothing was written: all ", length(failed), " downloads failed. The first failure:\n",
        conditionMessage(first)
      )
    }
    stop(first)
  }
  out
}
