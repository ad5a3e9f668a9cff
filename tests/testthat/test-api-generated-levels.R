# Labels, metadata and attachments: the same endpoint methods at the four
# resource levels (/patients, /studies, /series, /instances), against a live
# Orthanc (server A). One test body per feature, run once per level; the methods
# of a level are looked up by name, e.g. get_<level>_id_labels().

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

    expect_invisible(delete_label(id, second))
    expect_equal(get_labels(id), list(first))
    expect_error(get_label(id, second), class = "orthanc_http_404")

    # Orthanc refuses "a b"; its error shows that it received "a b" (sent as a%20b).
    err <- expect_error(put_label(id, "a b"), class = "orthanc_http_400")
    expect_equal(err$status, 400L)
    expect_match(err$url, "/labels/a%20b", fixed = TRUE)
    expect_match(err$body$Details, "but got: a b", fixed = TRUE)
    expect_equal(err$body$Uri, paste0("/", lv$level, "/", id, "/labels/a b"))
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
      expect_true(all(c(
        "compress", "compressed-data", "compressed-md5", "compressed-size", "data", "info",
        "is-compressed", "md5", "size", "uncompress", "verify-md5"
      ) %in% unlist(att("get", "name")(id, nm))))
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
