# Tags of many instances as one data frame (the `tags` argument of
# as.data.frame() of a list of instances). Orthanc's answers give no value
# representation: the DICOM data dictionary (R/sysdata.rda, from DICOM PS3.6
# through dev/dicom-dictionary.R) names the tags and types the columns.

numeric_vrs <- c("IS", "DS", "US", "UL", "SS", "SL", "FD", "FL", "SV", "UV", "xs", "up")

# The requested tags: the name sent to Orthanc, the column name (keyword,
# else "GGGG,EEEE") and the value representation (NA when unknown).
resolve_tags <- function(tags, call) {
  if (!is.character(tags) || !length(tags) || anyNA(tags) || !all(nzchar(tags))) {
    orthanc_abort("argument", c(
      "{.arg tags} must be a character vector of tags, e.g. {.code c(\"SliceLocation\", \"0018,0050\")}.",
      x = "It is {.obj_type_friendly {tags}}."
    ), call = call)
  }
  dict <- dicom_dictionary
  hex_re <- "^\\(?([0-9A-Fa-f]{4})[,-]?([0-9A-Fa-f]{4})\\)?$"
  is_hex <- grepl(hex_re, tags)
  hex <- ifelse(is_hex, toupper(sub(hex_re, "\\1,\\2", tags)), NA_character_)
  keyword <- ifelse(is_hex, dict$keyword[match(hex, dict$tag)], tags)
  hex <- ifelse(is_hex, hex, dict$tag[match(tags, dict$keyword)])
  column <- ifelse(is.na(keyword), hex, keyword)
  vr <- dict$vr[match(hex, dict$tag)]
  out <- data.frame(
    send = ifelse(is_hex, hex, tags), column = column, hex = hex, vr = vr,
    stringsAsFactors = FALSE
  )
  out[!duplicated(out$column), , drop = FALSE]
}

# One value of an answer (a named list of simplified tags) for a requested tag.
pick_tag <- function(values, spec) {
  v <- values[[spec$column]]
  if (is.null(v) && !is.na(spec$hex)) v <- values[[spec$hex]] %||% values[[tolower(spec$hex)]]
  v
}

instance_tags_table <- function(x, tags, progress, call) {
  if (!length(x) || !all(vapply(x, inherits, TRUE, what = "Instance"))) {
    orthanc_abort("argument", c(
      "{.arg tags} can only be used with a list of instances.",
      x = "The list holds {paste(unique(vapply(x, function(r) class(r)[1], '')), collapse = ', ')}."
    ), call = call)
  }
  check_progress_arg(progress, call)
  spec <- resolve_tags(tags, call)
  client <- x[[1]]$client
  ids <- vapply(x, function(r) r$identifier, "")
  values <- tags_by_find(client, x, ids, spec, progress, call)
  todo <- which(vapply(values, is.null, TRUE))
  if (length(todo)) {
    uniq <- unique(ids[todo])
    reqs <- lapply(uniq, function(id) {
      orthanc_request("GET", c("instances", id, "tags"), params = list(simplify = "true"))
    })
    ans <- client$batch(reqs, progress = progress_as(progress, "Reading tags"))
    for (k in seq_along(ans)) {
      if (inherits(ans[[k]], "condition")) stop(ans[[k]])
    }
    values[todo] <- ans[match(ids[todo], uniq)]
  }
  out <- data.frame(id = ids, stringsAsFactors = FALSE)
  for (j in seq_len(nrow(spec))) {
    s <- spec[j, ]
    col <- lapply(values, pick_tag, spec = s)
    out[[s$column]] <- tag_column(col, s$vr)
  }
  out
}

# The simplified values of the requested tags of each instance, from
# /tools/find with RequestedTags (Orthanc >= 1.11): instances whose main
# information is known are found by SOPInstanceUID, 200 to a request, all in
# one batch. NULL for the instances not found this way (or when the server
# does not answer RequestedTags).
tags_by_find <- function(client, x, ids, spec, progress, call) {
  values <- vector("list", length(x))
  uids <- vapply(x, function(r) {
    info <- r$.cached_info()
    v <- info$MainDicomTags$SOPInstanceUID
    if (is.null(v) || !nzchar(v)) NA_character_ else v
  }, "")
  known <- which(!is.na(uids))
  if (!length(known)) {
    return(values)
  }
  chunks <- split(unique(uids[known]), ceiling(seq_along(unique(uids[known])) / 200))
  reqs <- lapply(chunks, function(u) {
    orthanc_request("POST", "/tools/find", json = list(
      Level = "Instance", Expand = TRUE,
      Query = list(SOPInstanceUID = paste(u, collapse = "\\")),
      RequestedTags = I(spec$send)
    ))
  })
  ans <- client$batch(unname(reqs), progress = progress_as(progress, "Finding tags"))
  found <- list()
  for (a in ans) {
    if (inherits(a, "orthanc_http_error") && grepl("Unknown DICOM tag", conditionMessage(a), fixed = TRUE)) {
      stop(a)
    }
    if (inherits(a, "condition") || !is.list(a)) next
    for (r in a) {
      # An older Orthanc ignores RequestedTags: fall back to the tags.
      if (is.null(r$RequestedTags)) next
      found[[r$ID]] <- if (length(r$RequestedTags)) r$RequestedTags else list()
    }
  }
  for (i in known) values[i] <- list(found[[ids[i]]])
  values
}

# A column from the values of one tag (NULL when absent): sequences as a list
# column, DA as Date, numeric VRs as numbers when single-valued (else text
# "a\\b"), text otherwise.
tag_column <- function(col, vr) {
  if (any(vapply(col, is.list, TRUE)) || identical(vr, "SQ")) {
    return(I(lapply(col, function(v) if (is.null(v)) NULL else v)))
  }
  chr <- vapply(col, function(v) {
    if (is.null(v) || !length(v)) NA_character_ else paste(as.character(unlist(v)), collapse = "\\")
  }, "")
  chr[!is.na(chr) & !nzchar(trimws(chr))] <- NA_character_
  if (is.na(vr)) {
    return(chr)
  }
  if (vr == "DA") {
    return(parse_dicom_date(chr))
  }
  if (vr %in% numeric_vrs) {
    if (any(grepl("\\", chr, fixed = TRUE))) {
      return(chr)
    }
    return(suppressWarnings(as.numeric(trimws(chr))))
  }
  chr
}
