# The names of the files and folders written by the retrieve_and_write_*()
# functions: made from main DICOM tags, safe on every operating system, unique
# within their folder.

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
