# Download resources to disk: DICOM files in a patient/study/series tree,
# archives, PNG previews, NIfTI volumes. The instances are listed with a few
# expanded listings (one batch), then every file is downloaded in ONE batch of
# requests with `dest` (concurrent, streamed to a temporary name in the target
# folder and renamed when complete). Only public methods of the client are used.

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
#' truncated `.dcm`. Existing files of the same names are replaced.
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
#' @return A data frame of what was written, one row per file: `id` (Orthanc
#'   identifier), `level`, `path` (the file; for a failed download, the file
#'   that was not written; `NA` for a resource that could not be listed),
#'   `size` (bytes, `NA` on failure), `status` (`"Written"` or `"Failed"`) and
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
retrieve_and_write_patients <- function(patients, path, concurrency = NULL, progress = NULL) {
  retrieve_tree(patients, path, "Patient", "patients", quote(retrieve_and_write_patients()),
    concurrency, progress
  )
}

#' @rdname retrieve_and_write_patients
#' @export
retrieve_and_write_studies <- function(studies, path, concurrency = NULL, progress = NULL) {
  retrieve_tree(studies, path, "Study", "studies", quote(retrieve_and_write_studies()),
    concurrency, progress
  )
}

#' @rdname retrieve_and_write_patients
#' @export
retrieve_and_write_series <- function(series, path, concurrency = NULL, progress = NULL) {
  retrieve_tree(series, path, "Series", "series", quote(retrieve_and_write_series()),
    concurrency, progress
  )
}

#' @rdname retrieve_and_write_patients
#' @export
retrieve_and_write_instances <- function(instances, path, concurrency = NULL, progress = NULL) {
  retrieve_tree(instances, path, "Instance", "instances", quote(retrieve_and_write_instances()),
    concurrency, progress
  )
}

#' @rdname retrieve_and_write_patients
#' @export
retrieve_and_write_images <- function(instances, path, concurrency = NULL, progress = NULL) {
  call <- quote(retrieve_and_write_images())
  check_progress_arg(progress, call)
  res <- as_resource_objects(instances, "instances", orthanc_levels, call)
  path <- prepare_out_dir(path, call)
  tree <- collect_instance_tree(res, call)
  download_tree(tree, path, "png", function(id) {
    orthanc_request("GET", c("instances", id, "preview"), headers = list(Accept = "image/png"))
  }, concurrency, progress, call)
}

#' @rdname retrieve_and_write_patients
#' @export
retrieve_and_write_archives <- function(resources, path, concurrency = NULL, progress = NULL) {
  call <- quote(retrieve_and_write_archives())
  check_progress_arg(progress, call)
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
  answers <- vector("list", length(res))
  answers[!ok] <- infos[!ok]
  if (length(reqs)) {
    answers[ok] <- client$batch(reqs,
      concurrency = concurrency,
      progress = progress_as(progress, "Downloading archives")
    )
  }
  written_rows(ids, levels, files, answers, call)
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
  if (!is_string(path) || !nzchar(path)) {
    orthanc_abort("argument", c(
      "{.arg path} must be the path of a folder.",
      x = "It is {.obj_type_friendly {path}}."
    ), call = call)
  }
  if (file.exists(path) && !dir.exists(path)) {
    orthanc_abort("io", c(
      "Cannot write into {.path {path}}.",
      x = "It is a file, not a folder."
    ), call = call)
  }
  if (!dir.exists(path) && !suppressWarnings(dir.create(path, recursive = TRUE))) {
    orthanc_abort("io", c(
      "Cannot write into {.path {path}}.",
      x = "The folder could not be created."
    ), call = call)
  }
  normalizePath(path, mustWork = TRUE)
}

# Listing --------------------------------------------------------------------

# The main information of resources: what they hold, else asked in one batch.
# A failure is a condition in place of the information.
resource_infos <- function(res, call) {
  infos <- lapply(res, function(r) r$.cached_info())
  missing <- which(vapply(infos, is.null, TRUE))
  if (length(missing)) {
    client <- res[[1]]$client
    reqs <- lapply(res[missing], function(r) {
      orthanc_request("GET", c(level_prefix(r$level), r$identifier))
    })
    infos[missing] <- client$batch(reqs, progress = FALSE)
  }
  infos
}

# Every instance under `res`, with its series, study and patient, from
# expanded listings. Returns list(instances = data frame (id, series, study,
# patient), series, studies (named lists of main information, by id),
# failures = data frame (id, level, message) of resources that could not be
# listed).
collect_instance_tree <- function(res, call) {
  client <- res[[1]]$client
  series <- list()
  studies <- list()
  inst <- list()
  failures <- list()
  fail <- function(r, e) {
    failures[[length(failures) + 1L]] <<- list(id = r$identifier, level = r$level, error = e)
  }
  add_instances <- function(answer) {
    for (i in answer) inst[[i$ID]] <<- i
  }
  add <- function(what, info) {
    if (what == "series") series[[info$ID]] <<- info else studies[[info$ID]] <<- info
  }
  listing <- function(level, id, child) {
    orthanc_request("GET", c(level_prefix(level), id, child), params = list(expand = "true"))
  }
  # Stage 1: one batch of listings.
  reqs <- list()
  owner <- integer()
  kind <- character()
  push <- function(i, k, req) {
    reqs[[length(reqs) + 1L]] <<- req
    owner[length(owner) + 1L] <<- i
    kind[length(kind) + 1L] <<- k
  }
  for (i in seq_along(res)) {
    r <- res[[i]]
    id <- r$identifier
    switch(r$level,
      Patient = {
        push(i, "studies", listing("Patient", id, "studies"))
        push(i, "series", listing("Patient", id, "series"))
        push(i, "instances", listing("Patient", id, "instances"))
      },
      Study = {
        push(i, "study", orthanc_request("GET", c("studies", id)))
        push(i, "series", listing("Study", id, "series"))
        push(i, "instances", listing("Study", id, "instances"))
      },
      Series = {
        push(i, "study", orthanc_request("GET", c("series", id, "study")))
        push(i, "one-series", orthanc_request("GET", c("series", id)))
        push(i, "instances", listing("Series", id, "instances"))
      },
      Instance = {
        info <- r$.cached_info()
        if (is.null(info)) {
          push(i, "instance", orthanc_request("GET", c("instances", id)))
        } else {
          inst[[id]] <- info
        }
      }
    )
  }
  answers <- if (length(reqs)) client$batch(reqs, progress = FALSE) else list()
  failed <- integer()
  for (j in seq_along(answers)) {
    a <- answers[[j]]
    i <- owner[j]
    if (inherits(a, "condition")) {
      if (!i %in% failed) fail(res[[i]], a)
      failed <- c(failed, i)
    }
  }
  for (j in seq_along(answers)) {
    a <- answers[[j]]
    if (owner[j] %in% failed) next
    switch(kind[j],
      studies = for (s in a) add("study", s),
      series = for (s in a) add("series", s),
      study = add("study", a),
      "one-series" = add("series", a),
      instances = add_instances(a),
      instance = add_instances(list(a))
    )
  }
  # Stage 2 (instances given as such): their series and studies.
  parents <- unique(vapply(inst, function(i) i$ParentSeries %||% NA_character_, ""))
  parents <- setdiff(parents[!is.na(parents)], names(series))
  if (length(parents)) {
    reqs <- c(
      lapply(parents, function(s) orthanc_request("GET", c("series", s))),
      lapply(parents, function(s) orthanc_request("GET", c("series", s, "study")))
    )
    ans <- client$batch(reqs, progress = FALSE)
    n <- length(parents)
    for (k in seq_len(n)) {
      if (!inherits(ans[[k]], "condition")) add("series", ans[[k]])
      if (!inherits(ans[[n + k]], "condition")) add("study", ans[[n + k]])
    }
  }
  ids <- names(inst)
  ser <- vapply(inst, function(i) i$ParentSeries %||% NA_character_, "", USE.NAMES = FALSE)
  stu <- vapply(ser, function(s) series[[s]]$ParentStudy %||% NA_character_, "", USE.NAMES = FALSE)
  pat <- vapply(stu, function(s) if (is.na(s)) NA_character_ else studies[[s]]$ParentPatient %||% NA_character_, "", USE.NAMES = FALSE)
  list(
    instances = data.frame(id = ids %||% character(), series = ser, study = stu, patient = pat,
      stringsAsFactors = FALSE),
    instance_info = unname(inst),
    series = series, studies = studies, failures = failures, client = client
  )
}

# Naming ---------------------------------------------------------------------

windows_reserved_names <- c("CON", "PRN", "AUX", "NUL", paste0("COM", 1:9), paste0("LPT", 1:9))

# Make strings safe as a file or folder name on Windows, macOS and Linux; empty
# results become `fallback` (recycled). Not exported.
sanitize_file_name <- function(x, fallback = "unnamed", max_bytes = 64L) {
  x <- as.character(x)
  x[is.na(x)] <- ""
  # Bytes of invalid UTF-8 strings outside ASCII become "_".
  bad <- !validUTF8(x) & Encoding(x) != "latin1"
  x[bad] <- gsub("[\x80-\xff]", "_", x[bad], useBytes = TRUE)
  x <- enc2utf8(x)
  # Tabs and line breaks are spaces; other control characters (C0, DEL, C1)
  # go; forbidden characters become "_".
  x <- gsub("[\t\r\n]", " ", x, perl = TRUE)
  x <- gsub("[\\x{00}-\\x{1F}\\x{7F}-\\x{9F}]", "", x, perl = TRUE)
  x <- gsub("[<>:\"/\\\\|?*]", "_", x, perl = TRUE)
  x <- gsub("\\s+", " ", x, perl = TRUE)
  x <- gsub("^[. ]+|[. ]+$", "", x, perl = TRUE)
  x <- vapply(x, cut_bytes, "", max_bytes = max_bytes, USE.NAMES = FALSE)
  x <- gsub("[. ]+$", "", x, perl = TRUE)
  stem <- toupper(sub("[ .].*$", "", x))
  reserved <- stem %in% windows_reserved_names
  x[reserved] <- paste0("_", x[reserved])
  fallback <- rep_len(sanitize_fallback(fallback), length(x))
  x[!nzchar(x)] <- fallback[!nzchar(x)]
  x
}

sanitize_fallback <- function(x) {
  x <- gsub("[^A-Za-z0-9._-]", "_", as.character(x))
  x[!nzchar(x)] <- "unnamed"
  x
}

# Cut a string to at most `max_bytes` bytes of UTF-8, at a character boundary.
cut_bytes <- function(s, max_bytes) {
  if (nchar(s, "bytes") <= max_bytes) {
    return(s)
  }
  chars <- strsplit(s, "", fixed = TRUE)[[1]]
  keep <- cumsum(nchar(chars, "bytes")) <= max_bytes
  paste(chars[keep], collapse = "")
}

# Names made unique (ignoring case): duplicates get "_" and the start of their
# Orthanc identifier, or the whole identifier.
unique_names <- function(names, ids) {
  dup <- function(n) {
    key <- tolower(n)
    key %in% key[duplicated(key)]
  }
  d <- dup(names)
  names[d] <- paste0(names[d], "_", substr(ids[d], 1L, 8L))
  d <- dup(names)
  names[d] <- paste0(sub("_[^_]*$", "", names[d]), "_", ids[d])
  names
}

tag_of <- function(info, field, name) {
  v <- info[[field]][[name]]
  if (is.null(v) || !length(v)) "" else trimws(as.character(v[[1]]))
}

first_nonempty <- function(...) {
  for (v in list(...)) if (nzchar(v)) return(v)
  ""
}

# The (sanitised) name of each resource of one level, from its main
# information; ids for the fallbacks.
folder_name <- function(level, infos, ids) {
  raw <- vapply(seq_along(infos), function(i) {
    info <- infos[[i]]
    switch(level,
      Patient = first_nonempty(
        tag_of(info, "MainDicomTags", "PatientID"), tag_of(info, "PatientMainDicomTags", "PatientID"),
        tag_of(info, "MainDicomTags", "PatientName"), tag_of(info, "PatientMainDicomTags", "PatientName")
      ),
      Study = trimws(paste(
        tag_of(info, "MainDicomTags", "StudyDate"),
        first_nonempty(
          tag_of(info, "MainDicomTags", "StudyDescription"), tag_of(info, "MainDicomTags", "StudyID"),
          tag_of(info, "MainDicomTags", "StudyInstanceUID")
        )
      )),
      Series = trimws(paste(
        tag_of(info, "MainDicomTags", "SeriesNumber"),
        first_nonempty(
          tag_of(info, "MainDicomTags", "SeriesDescription"), tag_of(info, "MainDicomTags", "Modality")
        )
      )),
      Instance = {
        n <- suppressWarnings(as.numeric(tag_of(info, "MainDicomTags", "InstanceNumber")))
        if (length(n) && !is.na(n) && n >= 0 && n == round(n) && n < 1e9) {
          formatC(n, width = 4L, flag = "0", format = "d")
        } else {
          tag_of(info, "MainDicomTags", "SOPInstanceUID")
        }
      }
    )
  }, "")
  sanitize_file_name(raw, fallback = paste0(tolower(level), "-", substr(ids, 1L, 8L)))
}

# The relative path (patient/study/series/instance.<ext>) of each instance of
# a tree.
tree_paths <- function(tree, ext) {
  df <- tree$instances
  if (!nrow(df)) {
    return(character())
  }
  # Patient information comes from the studies (PatientMainDicomTags).
  pat_ids <- unique(df$patient)
  pat_info <- lapply(pat_ids, function(p) {
    s <- Find(function(st) identical(st$ParentPatient, p), tree$studies)
    s %||% list()
  })
  pat_name <- stats::setNames(
    unique_names(folder_name("Patient", pat_info, pat_ids %|NA|% "unknown"), pat_ids %|NA|% "unknown"),
    pat_ids %|NA|% "unknown"
  )
  key <- function(x) x %|NA|% "unknown"
  out <- character(nrow(df))
  study_name <- character()
  series_name <- character()
  for (p in unique(key(df$patient))) {
    st <- unique(key(df$study[key(df$patient) == p]))
    nm <- unique_names(folder_name("Study", lapply(st, function(s) tree$studies[[s]] %||% list()), st), st)
    study_name[st] <- nm
  }
  for (s in unique(key(df$study))) {
    se <- unique(key(df$series[key(df$study) == s]))
    nm <- unique_names(folder_name("Series", lapply(se, function(x) tree$series[[x]] %||% list()), se), se)
    series_name[se] <- nm
  }
  for (x in unique(key(df$series))) {
    k <- which(key(df$series) == x)
    nm <- unique_names(folder_name("Instance", tree$instance_info[k], df$id[k]), df$id[k])
    out[k] <- file.path(
      pat_name[key(df$patient[k])], study_name[key(df$study[k])], series_name[x],
      paste0(nm, ".", ext)
    )
  }
  out
}

`%|NA|%` <- function(x, y) ifelse(is.na(x), y, x)

# Downloading ----------------------------------------------------------------

retrieve_tree <- function(x, path, level, arg, call, concurrency, progress) {
  check_progress_arg(progress, call)
  res <- as_resource_objects(x, arg, level, call)
  path <- prepare_out_dir(path, call)
  tree <- collect_instance_tree(res, call)
  download_tree(tree, path, "dcm", function(id) {
    orthanc_request("GET", c("instances", id, "file"))
  }, concurrency, progress, call)
}

# Download every instance of `tree` with `request(id)` (a request without
# dest) to path/<tree path>.<ext>, in one batch; the data frame of rows.
download_tree <- function(tree, path, ext, request, concurrency, progress, call) {
  df <- tree$instances
  rel <- tree_paths(tree, ext)
  files <- if (length(rel)) file.path(path, rel) else character()
  for (d in unique(dirname(files))) {
    if (!dir.exists(d) && !suppressWarnings(dir.create(d, recursive = TRUE))) {
      orthanc_abort("io", c("Cannot write into {.path {path}}.", x = "The folder {.path {d}} could not be created."), call = call)
    }
  }
  reqs <- lapply(seq_along(files), function(i) {
    r <- request(df$id[i])
    orthanc_request(r$method, r$path, headers = r$headers, dest = files[i])
  })
  answers <- list()
  if (length(reqs)) {
    answers <- tree$client$batch(reqs,
      concurrency = concurrency,
      progress = progress_as(progress, "Downloading")
    )
  }
  fl <- tree$failures
  ids <- c(df$id, vapply(fl, function(f) f$id, ""))
  levels <- c(rep("Instance", nrow(df)), vapply(fl, function(f) f$level, ""))
  files <- c(files, rep(NA_character_, length(fl)))
  answers <- c(answers, lapply(fl, function(f) f$error))
  written_rows(ids, levels, files, answers, call)
}

# The data frame of rows; raises the first error when nothing was written.
written_rows <- function(ids, levels, files, answers, call) {
  failed <- vapply(answers, inherits, TRUE, what = "condition")
  msg <- vapply(answers, function(a) {
    if (inherits(a, "condition")) gsub("\\s*\n\\s*", " ", conditionMessage(a)) else NA_character_
  }, "")
  size <- rep(NA_real_, length(ids))
  size[!failed] <- file.size(files[!failed])
  out <- data.frame(
    id = as.character(ids), level = as.character(levels), path = as.character(files),
    size = size, status = ifelse(failed, "Failed", "Written"), message = msg,
    stringsAsFactors = FALSE
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
