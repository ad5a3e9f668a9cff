# The same endpoint methods at several resource levels, against a live Orthanc
# (server A): labels, metadata and attachments at the four levels (/patients,
# /studies, /series, /instances); listing, info, relatives, tags,
# anonymize/modify, archive/media and reconstruct/delete at /patients and
# /studies (levels_local, below). One test body per feature, run once per
# level; the methods of a level are looked up by name, e.g. get_<level>_id_labels().

levels_empty <- structure(list(), names = character())

# The levels. `metadata`: the metadata Orthanc sets by itself (name = regular
# expression of the value); `attachments`: the attachments a resource has from
# the start (name = content type).
levels_table <- list(
  list(level = "patients", what = "a patient", field = "ParentPatient",
    metadata = list(LastUpdate = "^[0-9]{8}T[0-9]{6}$"),
    attachments = levels_empty),
  list(level = "studies", what = "a study", field = "ParentStudy",
    metadata = list(LastUpdate = "^[0-9]{8}T[0-9]{6}$"),
    attachments = levels_empty),
  list(level = "series", what = "a series", field = "ParentSeries",
    metadata = list(LastUpdate = "^[0-9]{8}T[0-9]{6}$"),
    attachments = levels_empty),
  list(level = "instances", what = "an instance", field = "ID",
    metadata = list(
      TransferSyntax = "^1\\.2\\.840\\.10008\\.1\\.2\\.4\\.50$",
      SopClassUid = "^1\\.2\\.840\\.10008\\.5\\.1\\.4\\.1\\.1\\.7$",
      ReceptionDate = "^[0-9]{8}T[0-9]{6}$"
    ),
    attachments = list(dicom = 1L))
)

# Upload Lena-1.dcm; its resources at every level, by level name (`ids`), and
# the one of level `lv` (`id`). Deleting the instance when the calling test
# ends deletes its parents too, as they have no other child.
levels_resource <- function(o, lv, env = parent.frame()) {
  up <- local_instance(o, env = env)
  ids <- lapply(levels_table, function(l) up[[l$field]])
  names(ids) <- vapply(levels_table, `[[`, "", "level")
  list(id = ids[[lv$level]], ids = ids)
}

# The endpoint method <verb>_<level>_id[_<what>] of client `o`.
levels_method <- function(o, level, verb, what = NULL) {
  name <- paste0(verb, "_", level, "_id", if (!is.null(what)) paste0("_", what))
  method <- o[[name]]
  if (!is.function(method)) stop("Orthanc has no method ", name)
  method
}

for (lv in levels_table) {
  test_that(paste("labels of", lv$what, "are added, read, listed and removed; names are percent-encoded"), {
    o <- orthanc_client()
    r <- levels_resource(o, lv)
    id <- r$id
    get_labels <- levels_method(o, lv$level, "get", "labels")
    put_label <- levels_method(o, lv$level, "put", "labels_label")
    get_label <- levels_method(o, lv$level, "get", "labels_label")
    delete_label <- levels_method(o, lv$level, "delete", "labels_label")
    first <- paste0(lv$level, "-label_1")
    second <- "other"

    expect_equal(get_labels(id), list())
    expect_null(put_label(id, first))
    put_label(id, second)
    expect_setequal(unlist(get_labels(id)), c(first, second))
    expect_equal(levels_method(o, lv$level, "get")(id)$Labels, get_labels(id))
    # The labels of a resource are not those of its parents or children.
    for (other in setdiff(names(r$ids), lv$level)) {
      expect_equal(levels_method(o, other, "get", "labels")(r$ids[[other]]), list())
    }
    # An existing label: an empty 200 answer; a missing one: 404.
    expect_null(get_label(id, second))
    expect_equal(orthanc_last_response(o)$status, 200L)
    expect_error(get_label(id, "absent"), class = "orthanc_http_404")

    expect_null(expect_invisible(delete_label(id, second)))
    expect_equal(get_labels(id), list(first))
    expect_error(get_label(id, second), class = "orthanc_http_404")

    # Orthanc refuses "a b"; its error shows that it received "a b" (sent as a%20b).
    err <- expect_error(put_label(id, "a b"), class = "orthanc_http_400")
    expect_equal(err$status, 400L)
    expect_match(err$url, "/labels/a%20b", fixed = TRUE)
    expect_match(err$error_body$Details, "but got: a b", fixed = TRUE)
    expect_equal(err$error_body$Uri, paste0("/", lv$level, "/", id, "/labels/a b"))
    expect_match(conditionMessage(err), "but got: a b", fixed = TRUE)
    expect_equal(get_labels(id), list(first))
    delete_label(id, first)
    expect_equal(get_labels(id), list())
  })
}

for (lv in levels_table) {
  test_that(paste("metadata of", lv$what, "round-trip, with spaces and accents in names and values; revisions"), {
    o <- orthanc_client()
    id <- levels_resource(o, lv)$id
    get_metadata <- levels_method(o, lv$level, "get", "metadata")
    get_md <- levels_method(o, lv$level, "get", "metadata_name")
    put_md <- levels_method(o, lv$level, "put", "metadata_name")
    delete_md <- levels_method(o, lv$level, "delete", "metadata_name")
    # The names are those of UserMetadata (1024, 1025, 1026) in dev/orthanc-server.
    values <- list(
      "my-metadata" = "plain value",
      "meta with space" = "100% sure; a=b&c ?#/ with space / and slash",
      "m\u00e9ta-donn\u00e9es" = "caf\u00e9 cr\u00e8me \u00e0 l'\u00e9t\u00e9 \u2603 \u00d6rebro"
    )
    encoded <- c("my-metadata", "meta%20with%20space", "m%C3%A9ta-donn%C3%A9es")
    indices <- c("1024", "1025", "1026")

    # What Orthanc sets by itself.
    md <- unlist(get_metadata(id))
    expect_true(all(names(lv$metadata) %in% md))
    expect_false(any(names(values) %in% md))
    for (n in names(lv$metadata)) expect_match(get_md(id, n), lv$metadata[[n]])

    for (i in seq_along(values)) {
      expect_null(put_md(id, names(values)[i], data = values[[i]]))
      expect_match(orthanc_last_response(o)$headers[["etag"]], "^\"?[0-9]+-")
    }
    for (i in seq_along(values)) {
      expect_identical(get_md(id, names(values)[i]), values[[i]])
      expect_equal(orthanc_last_response(o)$url, paste0(
        Sys.getenv("ORTHANC_TEST_URL"), "/", lv$level, "/", id, "/metadata/", encoded[i]
      ))
      # A metadata can also be addressed by its index.
      expect_identical(get_md(id, indices[i]), values[[i]])
    }
    listed <- unlist(get_metadata(id))
    expect_true(all(c(names(values), names(lv$metadata)) %in% listed))
    expanded <- get_metadata(id, params = list(expand = TRUE))
    expect_identical(expanded[names(values)], values)
    for (n in names(lv$metadata)) expect_match(expanded[[n]], lv$metadata[[n]])
    numeric <- get_metadata(id, params = list(numeric = TRUE))
    expect_true(all(c(1024L, 1025L, 1026L) %in% unlist(numeric)))
    numeric <- get_metadata(id, params = list(numeric = TRUE, expand = TRUE))
    expect_identical(numeric[indices], stats::setNames(values, indices))

    # Revisions: the ETag of a GET is "revision-md5 of the value"; it goes back
    # in If-Match, and in If-None-Match.
    name <- "meta with space"
    get_md(id, name)
    etag <- orthanc_last_response(o)$headers[["etag"]]
    expect_match(etag, md5_of(charToRaw(values[[name]])), fixed = TRUE)
    # The current revision: "not modified" is an empty answer, not an error.
    expect_null(get_md(id, name, headers = list("If-None-Match" = etag)))
    expect_equal(orthanc_last_response(o)$status, 304L)
    expect_null(put_md(id, name, data = "changed", headers = list("If-Match" = etag)))
    expect_identical(get_md(id, name), "changed")
    current <- orthanc_last_response(o)$headers[["etag"]]
    expect_false(identical(etag, current))
    expect_match(current, md5_of(charToRaw("changed")), fixed = TRUE)
    # The old ETag is stale now.
    expect_error(
      put_md(id, name, data = "third", headers = list("If-Match" = etag)),
      class = "orthanc_http_409"
    )
    expect_error(
      delete_md(id, name, headers = list("If-Match" = etag)),
      class = "orthanc_http_409"
    )
    expect_identical(get_md(id, name), "changed")
    expect_null(get_md(id, name, headers = list("If-None-Match" = current)))
    expect_equal(orthanc_last_response(o)$status, 304L)

    expect_invisible(delete_md(id, name, headers = list("If-Match" = current)))
    for (n in setdiff(names(values), name)) delete_md(id, n)
    listed <- unlist(get_metadata(id))
    expect_false(any(names(values) %in% listed))
    expect_true(all(names(lv$metadata) %in% listed))
    expect_error(get_md(id, "my-metadata"), class = "orthanc_http_404")
    expect_error(get_md(id, name), class = "orthanc_http_404")
  })
}

for (lv in levels_table) {
  test_that(paste0("attachments of ", lv$what, ": data, info, md5, size, compression, revisions"), {
    o <- orthanc_client()
    id <- levels_resource(o, lv)$id
    att <- function(verb, what = NULL) {
      levels_method(o, lv$level, verb, paste0(c("attachments", what), collapse = "_"))
    }
    get_attachments <- att("get")
    put_att <- att("put", "name")
    delete_att <- att("delete", "name")
    get_data <- att("get", "name_data")
    get_info <- att("get", "name_info")
    get_md5 <- att("get", "name_md5")
    get_size <- att("get", "name_size")
    is_compressed <- att("get", "name_is_compressed")
    compressed_size <- att("get", "name_compressed_size")
    compressed_md5 <- att("get", "name_compressed_md5")
    compressed_data <- att("get", "name_compressed_data")
    # The names are those of UserContentType (1024, 1025, 1026) in dev/orthanc-server.
    names <- c("my-attachment", "attachment with space", "pi\u00e8ce-jointe")
    indices <- c("1024", "1025", "1026")
    # Compressible, with every byte value; one content per name.
    data <- as.raw(c(0:255, rep(65L, 3000), 255:0))
    contents <- lapply(seq_along(names), function(i) c(data, as.raw(i)))
    before <- as.list(names(lv$attachments))

    expect_equal(get_attachments(id), before)
    for (i in seq_along(names)) {
      expect_equal(put_att(id, names[i], data = contents[[i]]), levels_empty)
      expect_match(orthanc_last_response(o)$headers[["etag"]], md5_of(contents[[i]]), fixed = TRUE)
    }
    expect_setequal(unlist(get_attachments(id)), c(unlist(before), names))
    full <- get_attachments(id, params = list(full = TRUE))
    expect_equal(full[names], stats::setNames(as.list(1024:1026), names))
    expect_equal(full[names(lv$attachments)], lv$attachments)

    for (i in seq_along(names)) {
      nm <- names[i]
      d <- contents[[i]]
      expect_listed(att("get", "name")(id, nm), c(
        "compress", "compressed-data", "compressed-md5", "compressed-size", "data", "info",
        "is-compressed", "md5", "size", "uncompress", "verify-md5"
      ))
      expect_identical(get_data(id, nm), d)
      # Also by its index (cf. UserContentType).
      expect_identical(get_data(id, indices[i]), d)
      expect_equal(get_md5(id, nm), md5_of(d))
      expect_equal(get_size(id, nm), as.character(length(d)))
      info <- get_info(id, nm)
      expect_equal(info$ContentType, 1023L + i)
      expect_equal(info$UncompressedSize, length(d))
      expect_equal(info$UncompressedMD5, md5_of(d))
      expect_equal(info$CompressedSize, length(d))
      expect_equal(info$CompressedMD5, md5_of(d))
      # Not compressed: the compressed data are the data.
      expect_equal(is_compressed(id, nm), "0")
      expect_equal(compressed_size(id, nm), as.character(length(d)))
      expect_equal(compressed_md5(id, nm), md5_of(d))
      expect_identical(compressed_data(id, nm), d)

      expect_equal(att("post", "name_compress")(id, nm), levels_empty)
      expect_equal(is_compressed(id, nm), "1")
      info <- get_info(id, nm)
      expect_lt(info$CompressedSize, length(d))
      csize <- as.integer(compressed_size(id, nm))
      expect_equal(csize, as.integer(info$CompressedSize))
      cdata <- compressed_data(id, nm)
      expect_type(cdata, "raw")
      expect_length(cdata, csize)
      expect_equal(compressed_md5(id, nm), md5_of(cdata))
      # Orthanc's zlib format: the uncompressed size (8 bytes), then a zlib stream.
      expect_identical(cdata[9], as.raw(0x78))
      expect_identical(memDecompress(cdata[-(1:8)], type = "gzip"), d)
      # The decompressed content is unchanged.
      expect_identical(get_data(id, nm), d)
      expect_equal(get_md5(id, nm), md5_of(d))
      expect_equal(att("post", "name_verify_md5")(id, nm), levels_empty)
      expect_equal(att("post", "name_uncompress")(id, nm), levels_empty)
      expect_equal(is_compressed(id, nm), "0")
      expect_equal(compressed_size(id, nm), as.character(length(d)))
      expect_identical(compressed_data(id, nm), d)
      expect_identical(get_data(id, nm), d)
    }
    expect_identical(get_data(id, names[3], params = list(filename = "piece.bin")), contents[[3]])
    expect_match(orthanc_last_response(o)$headers[["content-disposition"]], "piece.bin", fixed = TRUE)

    # Revisions: If-None-Match with the current ETag is 304; If-Match with a
    # stale one is refused with 409.
    nm <- names[3]
    get_md5(id, nm)
    etag <- orthanc_last_response(o)$headers[["etag"]]
    expect_match(etag, md5_of(contents[[3]]), fixed = TRUE)
    get_info(id, nm)
    expect_equal(orthanc_last_response(o)$headers[["etag"]], etag)
    expect_equal(study_status_of(o, get_info(id, nm, headers = list("If-None-Match" = etag))), 304L)
    new_data <- charToRaw("second version")
    put_att(id, nm, data = new_data, headers = list("If-Match" = etag))
    expect_identical(get_data(id, nm), new_data)
    current <- orthanc_last_response(o)$headers[["etag"]]
    expect_match(current, md5_of(new_data), fixed = TRUE)
    expect_false(identical(etag, current))
    err <- expect_error(
      put_att(id, nm, data = contents[[3]], headers = list("If-Match" = etag)),
      class = "orthanc_http_409"
    )
    expect_equal(err$status, 409L)
    expect_error(
      delete_att(id, nm, headers = list("If-Match" = etag)),
      class = "orthanc_http_409"
    )
    # A stale If-None-Match gets the content; the current one an empty answer.
    expect_identical(get_data(id, nm, headers = list("If-None-Match" = etag)), new_data)
    expect_invisible(get_data(id, nm, headers = list("If-None-Match" = current)))
    expect_equal(orthanc_last_response(o)$status, 304L)
    expect_invisible(delete_att(id, nm, headers = list("If-Match" = current)))

    # An empty attachment.
    put_att(id, names[1], data = raw(0))
    expect_length(get_data(id, names[1]) %||% raw(0), 0L)
    expect_equal(get_size(id, names[1]), "0")
    expect_equal(get_md5(id, names[1]), md5_of(raw(0)))

    # Deleted by name and by index.
    delete_att(id, names[2])
    delete_att(id, indices[1])
    expect_equal(get_attachments(id), before)
    expect_error(get_info(id, nm), class = "orthanc_http_404")
    expect_error(get_data(id, names[1]), class = "orthanc_http_404")
  })
}

# Listing, reading, anonymizing/modifying, archiving and reconstructing/deleting
# a patient or a study made by study_local_patient() (helper-uncovered-study.R).
# The shared part runs once per level (levels_local_table: those entries of
# levels_table, with what levels_local has for them); what differs between
# the levels is in levels_local, by level name: `element`, the element of
# study_local_patient() that holds the resource of the level (not `field`, a
# name levels_table uses); `type`, its Type; the rest are the
# values and checks of that level only (functions of the client `o`, the
# resources `x` of study_local_patient() and the answer at hand).
levels_local <- list(
  patients = list(
    element = "patient", type = "Patient",
    # get_patients(expand = TRUE): the entry of x.
    listed = function(mine, x) {
      expect_equal(mine$MainDicomTags$PatientID, x$patient_id)
      expect_equal(mine$MainDicomTags$PatientName, "STUDY^GROUP")
      expect_equal(mine$Studies, list(x$study))
    },
    # One requested tag (name = value), then two in the documented list syntax.
    requested_one = list(PatientSex = "O"),
    requested_two = "0010,0040;PatientName",
    requested_two_values = function(y) list(PatientSex = "O", PatientName = "STUDY^GROUP"),
    # get_patients_id().
    info = function(o, x, info) {
      expect_equal(info$Studies, list(x$study))
      expect_equal(info$MainDicomTags$PatientID, x$patient_id)
      expect_equal(info$MainDicomTags$PatientName, "STUDY^GROUP")
      expect_equal(info$Labels, list())
      req <- o$get_patients_id(x$patient, params = list("requested-tags" = "PatientSex;PatientID"))
      expect_equal(req$RequestedTags$PatientSex, "O")
      expect_equal(req$RequestedTags$PatientID, x$patient_id)
    },
    short = function(x) list("0010,0020" = x$patient_id),
    # The other levels: the study below, the series.
    relatives = function(o, x, series) {
      studies <- o$get_patients_id_studies(x$patient)
      expect_length(studies, 1L)
      expect_equal(studies[[1]]$ID, x$study)
      expect_equal(studies[[1]]$Type, "Study")
      expect_equal(studies[[1]]$ParentPatient, x$patient)
      expect_equal(studies[[1]]$MainDicomTags$StudyInstanceUID, x$study_uid)
      expect_equal(o$get_patients_id_studies(x$patient, params = list(expand = FALSE)), list(x$study))
      expect_setequal(
        vapply(series, function(s) s$MainDicomTags$SeriesDescription, ""),
        c("series 1", "series 2")
      )
    },
    # get_patients_id_instances_tags() (simplified: `tags`), _shared_tags()
    # (simplified: `shared`), _module().
    tags = function(o, x, tags, shared) {
      expect_equal(unname(vapply(tags, `[[`, "", "PatientName")), rep("STUDY^GROUP", 2))
      expect_setequal(unname(vapply(tags, `[[`, "", "SeriesDescription")), c("series 1", "series 2"))
      full <- o$get_patients_id_instances_tags(x$patient)
      expect_equal(full[[x$instances[[1]]]][["0010,0020"]]$Value, x$patient_id)
      short <- o$get_patients_id_shared_tags(x$patient, params = list(short = TRUE))
      expect_equal(short[["0010,0010"]], "STUDY^GROUP")
      expect_null(short[["0020,000e"]])
      module <- o$get_patients_id_module(x$patient)
      expect_equal(module[["0010,0020"]]$Name, "PatientID")
      expect_equal(module[["0010,0020"]]$Value, x$patient_id)
      module <- o$get_patients_id_module(x$patient, params = list(simplify = TRUE))
      expect_equal(module$PatientSex, "O")
      expect_null(module$StudyInstanceUID)
    },
    statistics = function(o, x, stats) {
      expect_equal(stats$CountStudies, 1L)
      expect_equal(stats$DiskSize, o$get_studies_id_statistics(x$study)$DiskSize)
    },
    # Anonymization replaces `tag` (`original`) with `anonymized`.
    tag = "PatientName", original = "STUDY^GROUP", anonymized = "ANON^PATIENT",
    anonymized_check = function(o, x, anon, new) {
      expect_equal(anon$PatientID, anon$ID)
      expect_false(identical(new$MainDicomTags$PatientID, x$patient_id))
      expect_length(new$Studies, 1L)
      new_study <- o$get_studies_id(new$Studies[[1]])
      expect_false(identical(new_study$MainDicomTags$StudyInstanceUID, x$study_uid))
    },
    anonymize_job = list(KeepSource = TRUE),
    anonymize_job_check = function(o, x, content) {
      expect_false(identical(o$get_patients_id(content$ID)$MainDicomTags$PatientID, x$patient_id))
    },
    modify = function(x) list(
      Replace = list(PatientID = paste0(x$patient_id, ".9"), PatientName = "MODIFIED^NAME"),
      Force = TRUE
    ),
    modified_check = function(o, x, mod) {
      expect_false(mod$ID == x$patient)
      modified <- o$get_patients_id(mod$ID)
      expect_equal(modified$MainDicomTags$PatientID, paste0(x$patient_id, ".9"))
      expect_equal(modified$MainDicomTags$PatientName, "MODIFIED^NAME")
      tags <- o$get_patients_id_shared_tags(mod$ID, params = list(simplify = TRUE))
      expect_equal(tags$PatientName, "MODIFIED^NAME")
    },
    modify_job = function(x) list(
      Replace = list(PatientID = paste0(x$patient_id, ".8"), PatientSex = "F"),
      Force = TRUE
    ),
    modify_job_check = function(o, x, content) {
      modified <- o$get_patients_id(content$ID, params = list("requested-tags" = "PatientSex"))
      expect_equal(modified$MainDicomTags$PatientID, paste0(x$patient_id, ".8"))
      expect_equal(modified$RequestedTags$PatientSex, "F")
    },
    # get_patients_id_archive(): its parameters, and the entries it has.
    archive_params = list(filename = "patient.zip"),
    archive_check = function(o, x, entries) {
      expect_match(orthanc_last_response(o)$headers[["content-disposition"]], "patient.zip", fixed = TRUE)
      expect_true(all(startsWith(entries, gsub("[^A-Za-z0-9]", "", x$patient_id))))
    },
    # The bodies of post_patients_id_media(), synchronous and as a job.
    media_sync = list(Synchronous = TRUE),
    media_job = list(Asynchronous = TRUE, Extended = TRUE),
    reconstructed = function(x, after) expect_equal(after$Studies, list(x$study)),
    # What is gone with the deleted patient.
    deleted = function(o, x) {
      expect_error(o$get_studies_id(x$study), class = "orthanc_http_404")
      for (i in x$instances) {
        expect_error(o$get_instances_id(i), class = "orthanc_http_404")
      }
    }
  ),
  studies = list(
    element = "study", type = "Study",
    listed = function(mine, x) {
      expect_equal(mine$ParentPatient, x$patient)
      expect_equal(mine$MainDicomTags$StudyInstanceUID, x$study_uid)
      expect_equal(mine$MainDicomTags$StudyDescription, "study group test")
      expect_equal(mine$PatientMainDicomTags$PatientID, x$patient_id)
      expect_equal(mine$Series, list(x$series[[1]]))
    },
    requested_one = list(AccessionNumber = "STUDYACC"),
    requested_two = "0010,0020;StudyDescription",
    requested_two_values = function(y) list(PatientID = y$patient_id, StudyDescription = "study group test"),
    info = function(o, x, info) {
      expect_equal(info$ParentPatient, x$patient)
      expect_setequal(unlist(info$Series), x$series)
      expect_equal(info$MainDicomTags$StudyInstanceUID, x$study_uid)
      expect_equal(info$MainDicomTags$AccessionNumber, "STUDYACC")
      expect_equal(info$PatientMainDicomTags$PatientName, "STUDY^GROUP")
      expect_type(info$IsStable, "logical")
      req <- o$get_studies_id(x$study, params = list("requested-tags" = "PatientSex"))
      expect_equal(req$RequestedTags, list(PatientSex = "O"))
    },
    short = function(x) list("0020,000d" = x$study_uid),
    # The other levels: the patient above, the series.
    relatives = function(o, x, series) {
      for (s in series) {
        expect_equal(s$Type, "Series")
        expect_equal(s$MainDicomTags$Modality, "OT")
      }
      expect_setequal(
        vapply(series, function(s) s$MainDicomTags$SeriesInstanceUID, ""),
        x$series_uids
      )
      patient <- o$get_studies_id_patient(x$study)
      expect_equal(patient$ID, x$patient)
      expect_equal(patient$Type, "Patient")
      expect_equal(patient$MainDicomTags$PatientID, x$patient_id)
      expect_equal(patient$Studies, list(x$study))
    },
    tags = function(o, x, tags, shared) {
      expect_equal(unname(vapply(tags, `[[`, "", "PatientID")), rep(x$patient_id, 2))
      expect_setequal(unname(vapply(tags, `[[`, "", "SeriesInstanceUID")), x$series_uids)
      hex <- o$get_studies_id_instances_tags(x$study, params = list(short = TRUE))
      expect_equal(hex[[x$instances[[1]]]][["0020,000d"]], x$study_uid)
      expect_null(shared$SeriesDescription)
      full <- o$get_studies_id_shared_tags(x$study)
      expect_equal(full[["0020,000d"]]$Name, "StudyInstanceUID")
      expect_equal(full[["0020,000d"]]$Value, x$study_uid)

      module <- o$get_studies_id_module(x$study)
      expect_equal(module[["0020,000d"]]$Value, x$study_uid)
      expect_equal(module[["0008,1030"]]$Name, "StudyDescription")
      module <- o$get_studies_id_module(x$study, params = list(simplify = TRUE))
      expect_equal(module$StudyDescription, "study group test")
      expect_equal(module$AccessionNumber, "STUDYACC")
      expect_null(module$PatientID)

      pmodule <- o$get_studies_id_module_patient(x$study, params = list(simplify = TRUE))
      expect_equal(pmodule$PatientID, x$patient_id)
      expect_equal(pmodule$PatientName, "STUDY^GROUP")
      expect_equal(pmodule$PatientSex, "O")
      pmodule <- o$get_studies_id_module_patient(x$study, params = list(short = TRUE))
      expect_equal(pmodule[["0010,0020"]], x$patient_id)
    },
    statistics = function(o, x, stats) {
      expect_equal(as.numeric(stats$DicomDiskSize), sum(vapply(x$instances, function(i) {
        as.numeric(o$get_instances_id(i)$FileSize)
      }, 0)))
    },
    tag = "StudyDescription", original = "study group test", anonymized = "ANON STUDY",
    anonymized_check = function(o, x, anon, new) {
      expect_false(identical(new$MainDicomTags$StudyInstanceUID, x$study_uid))
      expect_false(identical(new$PatientMainDicomTags$PatientID, x$patient_id))
      expect_false(identical(new$PatientMainDicomTags$PatientName, "STUDY^GROUP"))
    },
    anonymize_job = list(Keep = list("StudyDescription")),
    anonymize_job_check = function(o, x, content) {
      anon2 <- o$get_studies_id(content$ID)
      expect_equal(anon2$MainDicomTags$StudyDescription, "study group test")
      expect_false(identical(anon2$PatientMainDicomTags$PatientID, x$patient_id))
    },
    modify = function(x) list(Replace = list(StudyDescription = "MODIFIED", AccessionNumber = "NEWACC")),
    modified_check = function(o, x, mod) {
      # Same patient: cleaned up with it.
      expect_equal(mod$PatientID, x$patient)
      modified <- o$get_studies_id(mod$ID)
      expect_equal(modified$MainDicomTags$StudyDescription, "MODIFIED")
      expect_equal(modified$MainDicomTags$AccessionNumber, "NEWACC")
      expect_equal(modified$PatientMainDicomTags$PatientID, x$patient_id)
    },
    modify_job = function(x) list(Replace = list(StudyDescription = "MODIFIED AS JOB")),
    modify_job_check = function(o, x, content) {
      expect_equal(o$get_studies_id(content$ID)$MainDicomTags$StudyDescription, "MODIFIED AS JOB")
      expect_length(o$get_patients_id(x$patient)$Studies, 3L)
    },
    archive_params = NULL,
    archive_check = function(o, x, entries) {
      expect_true(all(grepl("\\.dcm$", entries)))
      expect_true(all(grepl("study group test", entries, fixed = TRUE)))
      expect_identical(orthanc_last_response(o)$headers[["content-type"]], "application/zip")
    },
    media_sync = list(Extended = TRUE),
    media_job = list(Asynchronous = TRUE),
    reconstructed = function(x, after) expect_setequal(unlist(after$Series), x$series),
    # The study was the patient's only one: the patient went with it.
    deleted = function(o, x) expect_error(o$get_patients_id(x$patient), class = "orthanc_http_404")
  )
)
levels_local_table <- lapply(
  Filter(function(l) l$level %in% names(levels_local), levels_table),
  function(l) c(l, levels_local[[l$level]])
)

# Endpoint methods of client `o` at level `level`, named as the arguments in
# `...`, each "<verb>" or "<verb> <what>" (see levels_method()).
levels_methods <- function(o, level, ...) {
  lapply(list(...), function(m) {
    parts <- strsplit(m, " ", fixed = TRUE)[[1]]
    levels_method(o, level, parts[1], if (length(parts) > 1) parts[2])
  })
}

# study_local_patient(), with `id`: the resource of level `lv` in it.
levels_local_patient <- function(o, lv, series = 2, env = parent.frame()) {
  x <- study_local_patient(o, series = series, env = env)
  x$id <- x[[lv$element]]
  x
}

for (lv in levels_local_table) {
  test_that(paste0("get_", lv$level, " lists ", lv$level, ", with expand, since/limit and requested-tags"), {
    o <- orthanc_client()
    x <- study_local_patient(o, series = 1)
    y <- study_local_patient(o, series = 1)
    list_all <- o[[paste0("get_", lv$level)]]

    ids <- list_all()
    expect_type(ids, "list")
    ids <- unlist(ids)
    expect_type(ids, "character")
    expect_true(all(c(x[[lv$element]], y[[lv$element]]) %in% ids))

    # since/limit page through the same list.
    expect_equal(list_all(params = list(since = 0, limit = 1)), list(ids[[1]]))
    expect_equal(list_all(params = list(since = 1, limit = 1)), list(ids[[2]]))
    expect_length(list_all(params = list(since = 0, limit = 2)), 2L)

    find_mine <- function(resources, id) Filter(function(r) identical(r$ID, id), resources)[[1]]
    expanded <- list_all(params = list(expand = TRUE))
    expect_length(expanded, length(ids))
    mine <- find_mine(expanded, x[[lv$element]])
    expect_equal(mine$Type, lv$type)
    lv$listed(mine, x)

    one <- find_mine(
      list_all(params = list(expand = TRUE, "requested-tags" = names(lv$requested_one))),
      y[[lv$element]]
    )
    expect_equal(one$RequestedTags, lv$requested_one)

    # The documented list syntax: tags separated by ";", as names or "gggg,eeee".
    # Orthanc 1.12.7 does not percent-decode query values, so "," and ";" must
    # reach it as they are.
    two <- find_mine(
      list_all(params = list(expand = TRUE, "requested-tags" = lv$requested_two)),
      y[[lv$element]]
    )
    values <- lv$requested_two_values(y)
    for (tag in names(values)) expect_equal(two$RequestedTags[[tag]], values[[tag]])
  })
}

for (lv in levels_local_table) {
  test_that(paste0(lv$what, "'s info, relatives, modules, tags and statistics"), {
    o <- orthanc_client()
    x <- levels_local_patient(o, lv)
    id <- x$id
    get_id <- levels_method(o, lv$level, "get")

    info <- get_id(id)
    expect_equal(info$ID, id)
    expect_equal(info$Type, lv$type)
    lv$info(o, x, info)
    short <- get_id(id, params = list(short = TRUE))
    values <- lv$short(x)
    for (tag in names(values)) expect_equal(short$MainDicomTags[[tag]], values[[tag]])

    get_series <- levels_method(o, lv$level, "get", "series")
    series <- get_series(id)
    expect_length(series, 2L)
    expect_setequal(vapply(series, `[[`, "", "ID"), x$series)
    expect_true(all(vapply(series, `[[`, "", "ParentStudy") == x$study))
    expect_setequal(unlist(get_series(id, params = list(expand = FALSE))), x$series)
    lv$relatives(o, x, series)

    get_instances <- levels_method(o, lv$level, "get", "instances")
    instances <- get_instances(id)
    expect_length(instances, 2L)
    expect_setequal(vapply(instances, `[[`, "", "ID"), x$instances)
    expect_true(all(vapply(instances, `[[`, "", "Type") == "Instance"))
    expect_setequal(unlist(get_instances(id, params = list(expand = FALSE))), x$instances)

    tags <- levels_method(o, lv$level, "get", "instances_tags")(id, params = list(simplify = TRUE))
    expect_setequal(names(tags), x$instances)
    shared <- levels_method(o, lv$level, "get", "shared_tags")(id, params = list(simplify = TRUE))
    expect_equal(shared$PatientID, x$patient_id)
    expect_equal(shared$StudyInstanceUID, x$study_uid)
    # The series differ, so their UID is not shared.
    expect_null(shared$SeriesInstanceUID)
    lv$tags(o, x, tags, shared)

    stats <- levels_method(o, lv$level, "get", "statistics")(id)
    expect_equal(stats$CountSeries, 2L)
    expect_equal(stats$CountInstances, 2L)
    expect_gt(as.numeric(stats$DiskSize), 0)
    lv$statistics(o, x, stats)
  })
}

for (lv in levels_local_table) {
  test_that(paste(lv$level, "are anonymized and modified, synchronously and as jobs"), {
    o <- orthanc_client()
    x <- levels_local_patient(o, lv)
    m <- levels_methods(o, lv$level, get = "get", anonymize = "post anonymize", modify = "post modify")

    anon <- m$anonymize(x$id, json = list(Replace = stats::setNames(list(lv$anonymized), lv$tag)))
    study_defer_delete_patient(o, anon$PatientID)
    expect_equal(anon$Type, lv$type)
    expect_true(anon$IsAnonymization)
    expect_equal(anon$InstancesCount, 2L)
    expect_equal(anon$FailedInstancesCount, 0L)
    expect_equal(anon$ParentResources, list(x$id))
    expect_false(anon$ID == x$id)
    new <- m$get(anon$ID)
    expect_equal(new$MainDicomTags[[lv$tag]], lv$anonymized)
    lv$anonymized_check(o, x, anon, new)
    # The source is kept.
    expect_equal(m$get(x$id)$MainDicomTags[[lv$tag]], lv$original)

    job <- m$anonymize(x$id, json = c(list(Asynchronous = TRUE), lv$anonymize_job))
    expect_named(job, c("ID", "Path"), ignore.order = TRUE)
    done <- wait_for_job(o, job$ID)
    study_defer_delete_patient(o, done$Content$PatientID)
    expect_equal(done$Type, "ResourceModification")
    expect_equal(done$Content$Type, lv$type)
    expect_true(done$Content$IsAnonymization)
    lv$anonymize_job_check(o, x, done$Content)

    mod <- m$modify(x$id, json = lv$modify(x))
    study_defer_delete_patient(o, mod$PatientID)
    expect_equal(mod$Type, lv$type)
    expect_false(mod$IsAnonymization)
    lv$modified_check(o, x, mod)

    job <- m$modify(x$id, json = c(lv$modify_job(x), list(Asynchronous = TRUE)))
    done <- wait_for_job(o, job$ID)
    study_defer_delete_patient(o, done$Content$PatientID)
    expect_equal(done$Content$Type, lv$type)
    expect_false(done$Content$IsAnonymization)
    lv$modify_job_check(o, x, done$Content)
  })
}

for (lv in levels_local_table) {
  test_that(paste("archive and media of", lv$what, "are ZIP files, also made by jobs"), {
    o <- orthanc_client()
    x <- levels_local_patient(o, lv)
    id <- x$id
    post_archive <- levels_method(o, lv$level, "post", "archive")
    post_media <- levels_method(o, lv$level, "post", "media")

    zip <- levels_method(o, lv$level, "get", "archive")(id, params = lv$archive_params)
    expect_type(zip, "raw")
    expect_zip(zip)
    entries <- zip_entries(zip)$Name
    expect_length(entries, 2L)
    lv$archive_check(o, x, entries)

    zip <- post_archive(id, json = list(Synchronous = TRUE))
    expect_zip(zip)
    expect_length(zip_entries(zip)$Name, 2L)

    media <- levels_method(o, lv$level, "get", "media")(id)
    expect_zip(media)
    entries <- zip_entries(media)$Name
    expect_true("DICOMDIR" %in% entries)
    expect_equal(sum(grepl("^IMAGES/", entries)), 2L)

    media <- post_media(id, json = lv$media_sync)
    expect_zip(media)
    expect_true("DICOMDIR" %in% zip_entries(media)$Name)

    job <- post_archive(id, json = list(Asynchronous = TRUE))
    done <- wait_for_job(o, job$ID)
    expect_equal(done$Type, "Archive")
    expect_equal(done$Content$InstancesCount, 2L)
    zip <- o$get_jobs_id_key(job$ID, "archive")
    expect_zip(zip)
    expect_length(zip_entries(zip)$Name, 2L)

    job <- post_media(id, json = lv$media_job)
    done <- wait_for_job(o, job$ID)
    expect_equal(done$Type, "Media")
    expect_true("DICOMDIR" %in% zip_entries(o$get_jobs_id_key(job$ID, "archive"))$Name)
  })
}

for (lv in levels_local_table) {
  test_that(paste(lv$what, "is reconstructed, then deleted with everything in it"), {
    o <- orthanc_client()
    x <- levels_local_patient(o, lv)
    m <- levels_methods(o, lv$level, get = "get", reconstruct = "post reconstruct", delete = "delete")
    before <- m$get(x$id)

    # Not ReconstructFiles = TRUE: after a plain reconstruct of the same study,
    # it never answers and Orthanc 1.12.7 stops answering any request.
    expect_null(m$reconstruct(x$id))
    expect_null(m$reconstruct(x$id, json = list(LimitToThisLevelMainDicomTags = TRUE)))
    after <- m$get(x$id)
    expect_equal(after$MainDicomTags, before$MainDicomTags)
    lv$reconstructed(x, after)

    res <- withVisible(m$delete(x$id))
    expect_false(res$visible)
    expect_true(is.null(res$value$RemainingAncestor))
    expect_false(x$id %in% unlist(o[[paste0("get_", lv$level)]]()))
    expect_error(m$get(x$id), class = "orthanc_http_404")
    lv$deleted(o, x)
    expect_error(m$delete(x$id), class = "orthanc_http_404")
  })
}
