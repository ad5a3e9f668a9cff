# Many DICOM files, fast: copies of one small seed file (a fixture) in which a
# few top-level elements get new values (UIDs, StudyDate, PatientID,
# StudyDescription, ...), written locally and then sent with upload().
# /tools/create-dicom makes about 4 studies a second; this writes thousands of
# files a second. bench/run.R (W7) sources this file too.
#
#   seed <- dicom_seed(fixture("Lena-1.dcm"))
#   paths <- dicom_copies(seed, dir, list(
#     StudyInstanceUID = uids, SeriesInstanceUID = ..., SOPInstanceUID = ...,
#     StudyDate = dates, PatientID = pid, StudyDescription = desc
#   ))
#
# The seed is read once: its file meta information and its data set, element
# by element (explicit VR little endian only), up to the last element to
# change; the rest (pixel data included) is copied as it is. Each changed
# element is written again with its new length (elements that the seed lacks
# are inserted in tag order), MediaStorageSOPInstanceUID follows
# SOPInstanceUID, and the meta group length is recomputed: every copy is a
# valid DICOM file that Orthanc parses like the seed.

# The elements that can be set: tag (group, element) and VR.
dicom_copy_tags <- list(
  PatientName = list(0x0010L, 0x0010L, "PN"),
  PatientID = list(0x0010L, 0x0020L, "LO"),
  StudyDate = list(0x0008L, 0x0020L, "DA"),
  StudyTime = list(0x0008L, 0x0030L, "TM"),
  AccessionNumber = list(0x0008L, 0x0050L, "SH"),
  Modality = list(0x0008L, 0x0060L, "CS"),
  StudyDescription = list(0x0008L, 0x1030L, "LO"),
  SeriesDescription = list(0x0008L, 0x103EL, "LO"),
  SOPInstanceUID = list(0x0008L, 0x0018L, "UI"),
  StudyInstanceUID = list(0x0020L, 0x000DL, "UI"),
  SeriesInstanceUID = list(0x0020L, 0x000EL, "UI"),
  SeriesNumber = list(0x0020L, 0x0011L, "IS"),
  InstanceNumber = list(0x0020L, 0x0013L, "IS")
)

# VRs with a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2).
dicom_long_vrs <- c("OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV")

dicom_u16 <- function(b, p) as.integer(b[p]) + 256L * as.integer(b[p + 1L])
dicom_u32 <- function(b, p) sum(as.numeric(b[p:(p + 3L)]) * c(1, 256, 65536, 16777216))

# The element starting at byte `p` (1-based) of `b`, explicit VR little endian:
# its tag (group * 65536 + element), VR, and where the next element starts.
dicom_element_at <- function(b, p) {
  if (p + 7L > length(b)) stop("DICOM file truncated at byte ", p)
  group <- dicom_u16(b, p)
  elem <- dicom_u16(b, p + 2L)
  tag <- group * 65536 + elem
  if (group == 0xFFFE) {
    # Item and delimiters: no VR, a 4-byte length.
    return(list(tag = tag, vr = "", len = dicom_u32(b, p + 4L), value = p + 8L))
  }
  vr <- rawToChar(b[p + 4:5])
  if (vr %in% dicom_long_vrs) {
    list(tag = tag, vr = vr, len = dicom_u32(b, p + 8L), value = p + 12L)
  } else {
    list(tag = tag, vr = vr, len = dicom_u16(b, p + 6L), value = p + 8L)
  }
}

# Where the element starting at `p` ends (the next one starts): with an
# undefined length (0xFFFFFFFF) only a sequence can be skipped, item by item.
dicom_skip <- function(b, p) {
  e <- dicom_element_at(b, p)
  if (e$len != 4294967295) return(e$value + e$len)
  if (e$vr != "SQ") stop("cannot skip an element of undefined length and VR ", e$vr, " at byte ", p)
  q <- e$value
  repeat {
    it <- dicom_element_at(b, q)
    if (it$tag == 0xFFFEE0DD) return(it$value) # sequence delimiter
    if (it$tag != 0xFFFEE000) stop("DICOM sequence without an item at byte ", q)
    if (it$len != 4294967295) {
      q <- it$value + it$len
      next
    }
    q <- it$value
    repeat {
      inner <- dicom_element_at(b, q)
      if (inner$tag == 0xFFFEE00D) {
        q <- inner$value
        break
      }
      q <- dicom_skip(b, q)
    }
  }
}

# Read a seed file: where its elements are, up to the last settable one.
dicom_seed <- function(path) {
  b <- readBin(path, "raw", file.size(path))
  if (length(b) < 132L || !identical(rawToChar(b[129:132]), "DICM")) stop(path, " is not a DICOM file (no DICM prefix)")
  meta <- list()
  p <- 133L
  while (p + 7L <= length(b) && dicom_u16(b, p) == 0x0002L) {
    e <- dicom_element_at(b, p)
    meta[[length(meta) + 1L]] <- c(e, start = p, end = e$value + e$len)
    p <- e$value + e$len
  }
  tags <- vapply(meta, function(e) e$tag, 0)
  ts <- meta[[match(0x00020010, tags)]]
  syntax <- sub("[ \001-\037]+$", "", rawToChar(b[ts$value + seq_len(ts$len) - 1L][b[ts$value + seq_len(ts$len) - 1L] != 0]))
  if (syntax %in% c("1.2.840.10008.1.2", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99")) {
    stop(path, ": transfer syntax ", syntax, " (only explicit VR little endian data sets can be copied)")
  }
  if (is.na(match(0x00020000, tags)) || is.na(match(0x00020003, tags))) stop(path, ": no meta group length or MediaStorageSOPInstanceUID")
  last <- max(vapply(dicom_copy_tags, function(t) t[[1]] * 65536 + t[[2]], 0))
  data <- list()
  while (p + 7L <= length(b)) {
    e <- dicom_element_at(b, p)
    if (e$tag > last) break
    end <- dicom_skip(b, p)
    data[[length(data) + 1L]] <- list(tag = e$tag, start = p, end = end)
    p <- end
  }
  list(path = path, bytes = b, meta = meta, data = data, data_start = meta[[length(meta)]]$end)
}

dicom_encode <- function(group, elem, vr, value) {
  v <- charToRaw(value)
  if (length(v) %% 2L) v <- c(v, if (vr == "UI") as.raw(0L) else charToRaw(" "))
  n <- length(v)
  if (n > 65534L) stop("value too long for a DICOM ", vr)
  c(
    as.raw(c(group %% 256L, group %/% 256L, elem %% 256L, elem %/% 256L)), charToRaw(vr),
    as.raw(c(n %% 256L, n %/% 256L)), v
  )
}

# Write one copy of `seed` per row of `values` (a named list of character
# vectors of one length, names from dicom_copy_tags) into `dir`; returns the
# paths, with the values as attribute "values". SOPInstanceUID must be among the values (two instances cannot share
# it), and so must the other UIDs of the levels above if the copies are to be
# new studies or series.
dicom_copies <- function(seed, dir, values, prefix = "copy") {
  stopifnot(is.list(values), length(values) > 0L, all(names(values) %in% names(dicom_copy_tags)), "SOPInstanceUID" %in% names(values))
  n <- length(values[[1L]])
  stopifnot(all(lengths(values) == n))
  dir.create(dir, showWarnings = FALSE, recursive = TRUE)
  b <- seed$bytes
  meta_tags <- vapply(seed$meta, function(e) e$tag, 0)
  gl <- seed$meta[[match(0x00020000, meta_tags)]]
  ms <- seed$meta[[match(0x00020003, meta_tags)]]
  # The meta information without its group length and MediaStorageSOPInstanceUID.
  meta_before <- b[(gl$end):(ms$start - 1L)]
  meta_after <- if (ms$end < seed$data_start) b[ms$end:(seed$data_start - 1L)] else raw()
  meta_fixed <- length(meta_before) + length(meta_after)
  # The data set: kept pieces between the elements set (replaced or inserted).
  set <- dicom_copy_tags[names(values)]
  set_tags <- vapply(set, function(t) t[[1]] * 65536 + t[[2]], 0)
  o <- order(set_tags)
  set <- set[o]
  set_tags <- set_tags[o]
  values <- values[o]
  data_tags <- vapply(seed$data, function(e) e$tag, 0)
  pieces <- list()
  p <- seed$data_start
  for (k in seq_along(set)) {
    at <- match(set_tags[k], data_tags)
    if (!is.na(at)) {
      cut <- seed$data[[at]]$start
      nxt <- seed$data[[at]]$end
    } else {
      later <- which(data_tags > set_tags[k])
      cut <- if (length(later)) seed$data[[later[1L]]]$start else (if (length(seed$data)) seed$data[[length(seed$data)]]$end else seed$data_start)
      nxt <- cut
    }
    pieces[[k]] <- if (cut > p) b[p:(cut - 1L)] else raw()
    p <- nxt
  }
  tail <- if (p <= length(b)) b[p:length(b)] else raw()
  preamble <- b[1:132]
  gl_head <- b[gl$start:(gl$value - 1L)]
  paths <- file.path(dir, sprintf("%s-%06d.dcm", prefix, seq_len(n)))
  sop <- values$SOPInstanceUID
  for (i in seq_len(n)) {
    ms_el <- dicom_encode(0x0002L, 0x0003L, "UI", sop[i])
    len <- meta_fixed + length(ms_el)
    out <- vector("list", 2L * length(set) + 1L)
    for (k in seq_along(set)) {
      out[[2L * k - 1L]] <- pieces[[k]]
      out[[2L * k]] <- dicom_encode(set[[k]][[1]], set[[k]][[2]], set[[k]][[3]], values[[k]][i])
    }
    out[[length(out)]] <- tail
    writeBin(c(
      preamble, gl_head, as.raw(c(len %% 256, (len %/% 256) %% 256, (len %/% 65536) %% 256, len %/% 16777216)),
      meta_before, ms_el, meta_after, unlist(out, use.names = FALSE)
    ), paths[i])
  }
  structure(paths, values = values[order(o)])
}

# `n` new UIDs (distinct within a run and, with overwhelming odds, across runs):
# 2.25.<random digits><kind><number>.
dicom_uids <- function(n, kind = 1L, stamp = dicom_uid_stamp()) {
  sprintf("2.25.%s%d%07d", stamp, kind, seq_len(n))
}

dicom_uid_stamp <- function() {
  paste0(sample(1:9, 1L), paste(sample(0:9, 17L, replace = TRUE), collapse = ""))
}

# Studies of one instance each, from the seed: `n` files in `dir` with new
# UIDs, the given StudyDate(s), PatientID(s) and StudyDescription(s).
dicom_study_copies <- function(seed, dir, n, dates, patient_id, description, prefix = "study") {
  stamp <- dicom_uid_stamp()
  dicom_copies(seed, dir, list(
    StudyInstanceUID = dicom_uids(n, 1L, stamp), SeriesInstanceUID = dicom_uids(n, 2L, stamp),
    SOPInstanceUID = dicom_uids(n, 3L, stamp), StudyDate = rep_len(dates, n),
    PatientID = rep_len(patient_id, n), StudyDescription = rep_len(description, n)
  ), prefix = prefix)
}

# Upload `n` one-instance studies made from a fixture (dicom_study_copies())
# under one new patient ID; the patient is deleted (bulk_delete()) when the
# calling test ends. Returns the patient ID, the StudyInstanceUIDs and dates
# in the order of the files, and upload()'s report.
local_study_copies <- function(client, n, dates, patient_id = unique_patient_id(), description = "R COPIES",
                               seed = fixture("Lena-1.dcm"), env = parent.frame()) {
  dir <- withr::local_tempdir(.local_envir = env)
  paths <- dicom_study_copies(dicom_seed(seed), dir, n, dates, patient_id, description)
  report <- upload(client, paths, progress = FALSE)
  patients <- unique(stats::na.omit(report$parent_patient))
  withr::defer(try(bulk_delete(client, patients), silent = TRUE), envir = env)
  if (!all(report$status == "Success")) {
    stop(sum(report$status != "Success"), " copies were not stored: ", report$message[report$status != "Success"][1])
  }
  list(patient_id = patient_id, study_uids = attr(paths, "values")$StudyInstanceUID, dates = rep_len(dates, n), report = report, paths = paths)
}
