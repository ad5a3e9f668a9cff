#' Act on many resources in one request
#'
#' Orthanc's bulk routes take a list of resources (patients, studies, series
#' or instances, mixed) and act on all of them in one request:
#' `bulk_delete()` deletes them (`POST /tools/bulk-delete`), `bulk_modify()`
#' and `bulk_anonymize()` modify or anonymize them (`POST
#' /tools/bulk-modify`, `/tools/bulk-anonymize`; in one job), and
#' `bulk_content()` gives the main information of each, or of the resources
#' of `level` that they hold or belong to (`POST /tools/bulk-content`).
#'
#' @param client An [Orthanc] client.
#' @param resources The resources: [Resource] objects (a [Patient], [Study],
#'   ...), a list of them (such as a find's answer), or Orthanc identifiers
#'   (character).
#' @param level For `bulk_modify()` and `bulk_anonymize()`: the level of the
#'   modification (`"Patient"`, `"Study"`, `"Series"` or `"Instance"`;
#'   `NULL`: Orthanc's choice from what is replaced). For `bulk_content()`:
#'   the level of the resources to describe (`NULL`: the resources given).
#' @param asynchronous `FALSE`: wait for the work and return Orthanc's answer;
#'   `TRUE`: return the [Job] at once.
#' @param metadata For `bulk_content()`: whether to give the metadata of each
#'   resource too.
#' @param replace Tags to replace or add: a named list (or named character
#'   vector) of values, e.g. `list(InstitutionName = "X")`.
#' @param remove,keep Tags to remove, or to keep unchanged (character: names
#'   such as `"StudyDescription"` or `"0008,1030"`).
#' @param force Allow changing identifying tags (`PatientID`, UIDs).
#' @param remove_private_tags,keep_private_tags Whether to remove (modify) or
#'   keep (anonymize) the private tags.
#' @param keep_source `FALSE` to delete the original resources afterwards.
#' @param priority Priority of the job (a whole number).
#' @param permissive Whether to go on past instances that fail.
#' @param private_creator The private creator of private tags in `replace`.
#' @param dicom_version The DICOM version whose anonymization profile to use.
#' @return `bulk_delete()`: the identifiers given, invisibly.
#'   `bulk_modify()`, `bulk_anonymize()`: Orthanc's answer (a list whose
#'   `Resources` are the new resources), or a [Job]. `bulk_content()`: a list
#'   with the main information of each resource, as Orthanc gives it.
#' @family bulk
#' @export
#' @examplesIf nzchar(Sys.getenv("ORTHANC_URL"))
#' o <- Orthanc$new()
#' stored <- upload(o, system.file("extdata", package = "orthanc"), check_before_upload = TRUE)
#' studies <- find_studies(o, query = list(PatientName = "BRAINIX"))
#' str(bulk_content(o, studies, level = "Series")[[1]]$MainDicomTags)
#' anon <- bulk_anonymize(o, studies)
#' bulk_delete(o, vapply(anon$Resources, function(r) r$ID, ""))
#' for (id in stored$id[stored$status == "Success"]) o$delete_instances_id(id)
bulk_delete <- function(client, resources) {
  call <- sys.call()
  check_client(client, call = call)
  ids <- unique(resource_ids(resources, call = call, empty_ok = TRUE))
  if (length(ids)) client$post_tools_bulk_delete(json = list(Resources = I(ids)))
  invisible(ids)
}

#' @rdname bulk_delete
#' @export
bulk_modify <- function(client, resources, replace = NULL, remove = NULL, keep = NULL,
                        force = NULL, remove_private_tags = NULL, keep_source = NULL,
                        priority = NULL, permissive = NULL, private_creator = NULL,
                        level = NULL, asynchronous = FALSE) {
  call <- sys.call()
  body <- modification_body(
    remove = remove, replace = replace, keep = keep, force = force,
    remove_private_tags = remove_private_tags, keep_source = keep_source, priority = priority,
    permissive = permissive, private_creator = private_creator, call = call
  )
  bulk_transform(client, "modify", resources, body, level, asynchronous, call)
}

#' @rdname bulk_delete
#' @export
bulk_anonymize <- function(client, resources, replace = NULL, remove = NULL, keep = NULL,
                           force = NULL, keep_private_tags = NULL, keep_source = NULL,
                           priority = NULL, permissive = NULL, private_creator = NULL,
                           dicom_version = NULL, level = NULL, asynchronous = FALSE) {
  call <- sys.call()
  body <- modification_body(
    remove = remove, replace = replace, keep = keep, force = force,
    keep_private_tags = keep_private_tags, keep_source = keep_source, priority = priority,
    permissive = permissive, private_creator = private_creator, dicom_version = dicom_version,
    call = call
  )
  bulk_transform(client, "anonymize", resources, body, level, asynchronous, call)
}

#' @rdname bulk_delete
#' @export
bulk_content <- function(client, resources, level = NULL, metadata = FALSE) {
  call <- sys.call()
  check_client(client, call = call)
  ids <- unique(resource_ids(resources, call = call, empty_ok = TRUE))
  check_flag_arg(metadata, "metadata", call = call)
  body <- list(Resources = I(ids), Metadata = metadata)
  if (!is.null(level)) body$Level <- match_level(level, call = call)
  if (!length(ids)) return(list())
  client$post_tools_bulk_content(json = body)
}

bulk_transform <- function(client, action, resources, body, level, asynchronous, call) {
  check_client(client, call = call)
  check_flag_arg(asynchronous, "asynchronous", call = call)
  ids <- unique(resource_ids(resources, call = call, empty_ok = TRUE))
  if (!length(ids)) {
    orthanc_abort("argument", "{.arg resources} is empty: there is nothing to {action}.", call = call)
  }
  if (identical(body, empty_object)) body <- list()
  body$Resources <- I(ids)
  if (!is.null(level)) body$Level <- match_level(level, call = call)
  if (asynchronous) body$Asynchronous <- TRUE
  ans <- if (action == "modify") {
    client$post_tools_bulk_modify(json = body)
  } else {
    client$post_tools_bulk_anonymize(json = body)
  }
  if (asynchronous) Job$new(ans$ID, client) else ans
}
