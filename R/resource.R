#' Orthanc resources: patients, studies, series and instances
#'
#' @description
#' `Resource` is the base class of [Patient], [Study], [Series] and
#' [Instance]: an object standing for one resource stored in Orthanc, known by
#' its Orthanc identifier, that asks the server (through the endpoint methods of
#' its [Orthanc] client) for what it needs.
#'
#' The main information of a resource (its main DICOM tags, parent, children,
#' labels; `GET /{level}/{id}`) is asked for once, when first needed, and kept;
#' `get_main_information()` asks again and refreshes it. Resources made from a
#' listing (`$studies`, `$series`, `$instances`) or from a find
#' ([find_studies()], ...) are filled from that answer: building them costs no
#' request. State that changes on the server (`labels`, `is_stable`,
#' `last_update`, `statistics`) is read from the server each time.
#'
#' With `lock_children = TRUE` the children of a resource are listed once and
#' kept (as are their own children): the tree then stays as it was, which is
#' what [find_and_filter_patients()] gives. Otherwise each access to the
#' children asks the server.
#'
#' Lists of resources have the class `orthanc_resource_list`: see
#' [as.data.frame.orthanc_resource_list()].
#'
#' The methods and fields documented here are those of every level; the help
#' page of each class ([Patient], [Study], [Series], [Instance]) documents
#' what is its own (its main DICOM tags as fields, its parents and children,
#' ...) and lists the methods it inherits.
#'
#' @param id Orthanc identifier of the resource.
#' @param client An [Orthanc] client.
#' @param lock_children Whether the children are listed once and kept.
#' @param info Optional: the main information of the resource as Orthanc
#'   gives it (e.g. an element of the answer of an expanded listing), used
#'   instead of asking the server.
#' @param label A label (letters, digits, `_` and `-`).
#' @param remove Tags to remove (character: names such as `"StudyDescription"`
#'   or `"0008,1030"`, or paths into sequences).
#' @param replace Tags to replace or add: a named list (or named character
#'   vector) of values, e.g. `list(PatientName = "Anon")`.
#' @param keep Tags to keep unchanged (character).
#' @param force Allow changing identifiers (`PatientID`, UIDs) (`TRUE`/`FALSE`).
#' @param keep_private_tags Keep the private tags when anonymizing.
#' @param remove_private_tags Remove the private tags when modifying.
#' @param keep_source Keep the original resources (Orthanc's default: `TRUE`).
#' @param priority Priority of the job (integer).
#' @param permissive Ignore the instances that cannot be modified instead of
#'   failing.
#' @param private_creator Private creator of the private tags in `replace`.
#' @param dicom_version Version of the DICOM standard whose profile the
#'   anonymization follows (e.g. `"2023b"`). For all the arguments of
#'   `anonymize()` and `modify()`, `NULL` (the default) sends nothing: Orthanc's
#'   default applies.
#' @param path File to write (its directory must exist). The answer is
#'   streamed to a temporary file next to it, then renamed.
#' @param simplify Whether tags are named by keyword with plain values
#'   (`TRUE`, Orthanc's `simplify`) or by group/element with names, types and
#'   values (`FALSE`).
#' @family resources
#' @include resource-levels.R layer-utils.R
#' @export
#' @examplesIf nzchar(Sys.getenv("ORTHANC_URL"))
#' o <- Orthanc$new()
#' # Sample files of the package: two MR slices (Brainix) and a CT image
#' stored <- upload(o, system.file("extdata", package = "orthanc"), check_before_upload = TRUE)
#' studies <- find_studies(o, query = list(PatientName = "BRAINIX"))
#' s <- studies[[1]]
#' s$main_dicom_tags$StudyDescription
#' s$add_label("example")
#' s$labels
#' s$remove_label("example")
#' s$statistics$CountInstances
#' # Delete what this example stored (not what the server already had)
#' for (id in stored$id[stored$status == "Success"]) o$delete_instances_id(id)
Resource <- R6::R6Class("Resource",
  cloneable = FALSE,
  public = list(
    #' @description Make a resource object (no request is sent).
    initialize = function(id, client, lock_children = FALSE, info = NULL) {
      call <- quote(new())
      check_string_arg(id, "id", call = call)
      check_client(client, call = call)
      check_flag_arg(lock_children, "lock_children", call = call)
      if (is.null(private$.level)) {
        orthanc_abort("argument", c(
          "{.cls Resource} is an abstract class.",
          i = "Use {.cls Patient}, {.cls Study}, {.cls Series} or {.cls Instance}."
        ), call = call)
      }
      private$.id <- id
      private$.client <- client
      private$.lock <- lock_children
      if (!is.null(info)) private$set_info(info)
      invisible(self)
    },

    #' @description Ask Orthanc for the main information of the resource
    #'   (`GET /{level}/{id}`) and keep it.
    #' @return The main information, a named list as Orthanc gives it.
    get_main_information = function() {
      info <- private$endpoint("get_", "_id")(private$.id)
      private$set_info(info)
      info
    },

    #' @description Add a label to the resource.
    #' @return The resource, invisibly.
    add_label = function(label) {
      private$change_label(label, "put_", union, quote(add_label()))
    },

    #' @description Remove a label from the resource (nothing happens if it
    #'   does not have it).
    #' @return The resource, invisibly.
    remove_label = function(label) {
      private$change_label(label, "delete_", setdiff, quote(remove_label()))
    },

    #' @description Whether the resource has a label.
    #' @return `TRUE` or `FALSE`.
    has_label = function(label) {
      check_string_arg(label, "label", call = quote(has_label()))
      label %in% self$labels
    },

    #' @description The archive (ZIP) of a patient, study or series, as a raw
    #'   vector, in memory (`GET /{level}/{id}/archive`). For large resources
    #'   prefer `download()`. An instance has no archive: see
    #'   `get_dicom_file_content()`.
    #' @return A raw vector.
    get_zip = function() {
      private$refuse_at_instance("get_zip()", "{.code $get_dicom_file_content()} or {.code $download(path)}")
      private$endpoint("get_", "_id_archive")(private$.id)
    },

    #' @description Stream the resource to a file: the archive (ZIP) of a
    #'   patient, study or series; the DICOM file of an instance.
    #' @return `path`, invisibly.
    download = function(path) {
      what <- if (private$.level == "Instance") "file" else "archive"
      route <- paste0("/", level_prefix(private$.level), "/", private$.id, "/", what)
      stream_to_file(private$.client, route, path, call = quote(download()))
    },

    #' @description The tags whose value is the same in every instance of a
    #'   patient, study or series (`GET /{level}/{id}/shared-tags`). For an
    #'   instance, see its fields `simplified_tags` and `tags`.
    #' @return A named list.
    get_shared_tags = function(simplify = TRUE) {
      check_flag_arg(simplify, "simplify", call = quote(get_shared_tags()))
      private$refuse_at_instance("get_shared_tags()", "{.field simplified_tags} or {.field tags}")
      private$endpoint("get_", "_id_shared_tags")(private$.id, params = simplify_params(simplify))
    },

    #' @description Anonymize the resource (`POST /{level}/{id}/anonymize`).
    #'   Orthanc stores the anonymized copy; the original is kept unless
    #'   `keep_source = FALSE`. An [Instance] answers the anonymized DICOM file
    #'   instead (see [Instance]).
    #' @return The new resource (same class), or a [Job] from
    #'   `anonymize_as_job()`.
    anonymize = function(remove = NULL, replace = NULL, keep = NULL, force = NULL,
                         keep_private_tags = NULL, keep_source = NULL, priority = NULL,
                         permissive = NULL, private_creator = NULL, dicom_version = NULL) {
      body <- modification_body_of(environment(), quote(anonymize()))
      private$transform("anonymize", body, asynchronous = FALSE)
    },

    #' @description Anonymize the resource in an Orthanc job.
    #' @return A [Job].
    anonymize_as_job = function(remove = NULL, replace = NULL, keep = NULL, force = NULL,
                                keep_private_tags = NULL, keep_source = NULL, priority = NULL,
                                permissive = NULL, private_creator = NULL, dicom_version = NULL) {
      body <- modification_body_of(environment(), quote(anonymize_as_job()))
      private$transform("anonymize", body, asynchronous = TRUE)
    },

    #' @description Modify the resource (`POST /{level}/{id}/modify`). Changing
    #'   identifiers (e.g. `PatientID`, UIDs) needs `force = TRUE`.
    #' @return The new resource (same class); an [Instance] answers the
    #'   modified DICOM file instead.
    modify = function(remove = NULL, replace = NULL, keep = NULL, force = NULL,
                      remove_private_tags = NULL, keep_source = NULL, priority = NULL,
                      permissive = NULL, private_creator = NULL) {
      body <- modification_body_of(environment(), quote(modify()))
      private$transform("modify", body, asynchronous = FALSE)
    },

    #' @description Modify the resource in an Orthanc job.
    #' @return A [Job].
    modify_as_job = function(remove = NULL, replace = NULL, keep = NULL, force = NULL,
                             remove_private_tags = NULL, keep_source = NULL, priority = NULL,
                             permissive = NULL, private_creator = NULL) {
      body <- modification_body_of(environment(), quote(modify_as_job()))
      private$transform("modify", body, asynchronous = TRUE)
    },

    #' @description One line: level, identifier, main tags and counts.
    #' @param ... Unused.
    format = function(...) {
      resource_line(self, private$cached_info())
    },

    #' @description Print the resource on one line.
    #' @param ... Unused.
    print = function(...) {
      cat(self$format(), "\n", sep = "")
      invisible(self)
    },

    #' @description Internal: the main information, kept or asked for once.
    .main_info = function() {
      private$info()
    },

    #' @description Internal: the main information if it is already known
    #'   (filled from a listing or asked before), else `NULL`; no request.
    .cached_info = function() {
      private$.info
    },

    #' @description Internal: set the children kept by a resource whose
    #'   children are locked (used by [find_and_filter_patients()]).
    #' @param children An `orthanc_resource_list`.
    .set_children = function(children) {
      private$.children <- children
      private$.lock <- TRUE
      invisible(self)
    }
  ),
  active = read_only_fields(
    #' @field identifier Orthanc identifier (read-only).
    identifier = private$.id,
    #' @field client The [Orthanc] client (read-only).
    client = private$.client,
    #' @field level `"Patient"`, `"Study"`, `"Series"` or `"Instance"`
    #'   (read-only).
    level = private$.level,
    #' @field lock_children Whether the children are listed once and kept
    #'   (read-only).
    lock_children = private$.lock,
    #' @field main_dicom_tags Main DICOM tags (named list of strings).
    main_dicom_tags = private$info()$MainDicomTags,
    #' @field requested_tags The tags asked for with `requested_tags` in the
    #'   find that made the resource ([query_orthanc()]), as Orthanc gave them
    #'   (named list; empty for a resource not made by such a find; no request).
    requested_tags = private$.info$RequestedTags %||% list(),
    #' @field labels Labels of the resource (character), asked from Orthanc.
    labels = sort(as_character_vector(private$endpoint("get_", "_id_labels")(private$.id))),
    #' @field is_stable Whether Orthanc considers the resource stable (no new
    #'   instance for `StableAge` seconds), asked from Orthanc; always `TRUE`
    #'   for an instance (it does not change once stored).
    is_stable = private$.level == "Instance" || isTRUE(self$get_main_information()$IsStable),
    #' @field last_update Time of the last change (POSIXct, UTC), asked from
    #'   Orthanc; for an instance, the time it was received.
    last_update = parse_orthanc_time(if (private$.level == "Instance") {
      private$.client$get_instances_id_metadata_name(private$.id, "ReceptionDate")
    } else {
      self$get_main_information()$LastUpdate
    }),
    #' @field statistics Disk size and counts (named list), asked from Orthanc.
    statistics = private$endpoint("get_", "_id_statistics")(private$.id),
    #' @field shared_tags The tags shared by all the instances of a patient,
    #'   study or series (`get_shared_tags()`, simplified).
    shared_tags = self$get_shared_tags(),
    #' @field legacy_viewer_url The address of the resource in Orthanc
    #'   Explorer, Orthanc's legacy web interface (no request).
    legacy_viewer_url = paste0(
      private$.client$url, "/app/explorer.html#", tolower(private$.level), "?uuid=", private$.id
    )
  ),
  private = list(
    .level = NULL,
    .id = NULL,
    .client = NULL,
    .lock = FALSE,
    .info = NULL,
    .children = NULL,

    set_info = function(info) {
      if (!is.list(info) || (!is.null(info$ID) && !identical(info$ID, private$.id))) {
        orthanc_abort("argument", "{.arg info} must be the main information of resource {.val {private$.id}}.")
      }
      private$.info <- info
    },
    info = function() {
      if (is.null(private$.info)) self$get_main_information()
      private$.info
    },
    cached_info = function() private$.info,

    # The endpoint method `<verb><prefix><suffix>` of the client, e.g.
    # get_ + studies + _id_labels.
    endpoint = function(verb, suffix) {
      name <- paste0(verb, level_prefix(private$.level), suffix)
      private$.client[[name]]
    },

    # add_label() and remove_label(): `verb` the route's, `update` what the
    # kept labels become (union or setdiff).
    change_label = function(label, verb, update, call) {
      check_string_arg(label, "label", call = call)
      private$endpoint(verb, "_id_labels_label")(private$.id, label)
      if (!is.null(private$.info)) {
        private$.info$Labels <- as.list(update(as_character_vector(private$.info$Labels), label))
      }
      invisible(self)
    },

    tag = function(name) {
      v <- private$info()$MainDicomTags[[name]]
      if (is.null(v)) NA_character_ else v
    },

    # A main DICOM tag typed for a field (see main_tag_value()).
    tag_value = function(name) main_tag_value(name, private$tag(name)),

    # The resource of `level` above this one: the parent from the main
    # information (no request), a level further up from one request whose
    # answer fills it.
    parent = function(level) {
      if (identical(level, level_parent(private$.level))) {
        return(new_resource(level, private$info()[[level_parent_field(private$.level)]], private$.client))
      }
      info <- private$endpoint("get_", paste0("_id_", tolower(level)))(private$.id)
      new_resource(level, info$ID, private$.client, info = info)
    },

    # What patients, studies and series have and instances do not (an archive,
    # shared tags): refused at the instance level, with where to look instead.
    refuse_at_instance = function(what, instead) {
      if (private$.level == "Instance") {
        orthanc_abort("argument", c(
          "An {.cls Instance} has no {.code {what}}: Orthanc gives it for patients, studies and series.",
          i = paste0("For an instance, see ", instead, ".")
        ), call = str2lang(what))
      }
    },

    # Children, from one expanded listing; kept when the children are locked.
    children = function() {
      if (!is.null(private$.children)) {
        return(private$.children)
      }
      child <- level_child(private$.level)
      ans <- private$endpoint("get_", paste0("_id_", level_prefix(child)))(
        private$.id,
        params = list(expand = "true")
      )
      kids <- resources_from_answer(child, ans, private$.client, private$.lock)
      if (private$.lock) private$.children <- kids
      kids
    },

    # Drop the kept children that no longer have children of their own (after
    # a filter); only meaningful with locked children.
    remove_empty_children = function() {
      if (is.null(private$.children)) {
        return(invisible(self))
      }
      kids <- private$.children
      # A child deleted on the server (Orthanc deletes a study or series left
      # without instances) answers 404: it is empty.
      keep <- vapply(kids, function(k) {
        tryCatch(
          {
            if (inherits(k, "Series")) {
              k$remove_empty_instances()
              return(length(k$instances) > 0L)
            }
            if (inherits(k, "Study")) {
              k$remove_empty_series()
              return(length(k$series) > 0L)
            }
            TRUE
          },
          orthanc_http_404 = function(e) FALSE
        )
      }, TRUE)
      private$.children <- resource_list(kids[keep])
      invisible(self)
    },

    # anonymize()/modify(): the new resource, or a Job when asynchronous.
    transform = function(action, body, asynchronous) {
      if (asynchronous) body$Asynchronous <- TRUE
      ans <- private$endpoint("post_", paste0("_id_", action))(private$.id, json = body)
      if (asynchronous) {
        return(Job$new(ans$ID, private$.client))
      }
      new_resource(private$.level, ans$ID, private$.client, private$.lock)
    }
  )
)

# The JSON body from the arguments of the calling anonymize/modify method
# (its frame `env`).
modification_body_of <- function(env, call) {
  args <- mget(intersect(names(formals(modification_body)), ls(env)), envir = env)
  do.call(modification_body, c(args, list(call = call)), quote = TRUE)
}

# The JSON body of /anonymize and /modify. Only the arguments given are sent.
modification_body <- function(remove = NULL, replace = NULL, keep = NULL, force = NULL,
                              keep_private_tags = NULL, remove_private_tags = NULL,
                              keep_source = NULL, priority = NULL, permissive = NULL,
                              private_creator = NULL, dicom_version = NULL, call = NULL) {
  tags_arg <- function(x, arg) {
    if (is.null(x)) {
      return(NULL)
    }
    if (!is.character(x) || anyNA(x) || !all(nzchar(x))) {
      orthanc_abort("argument", c(
        "{.arg {arg}} must be a character vector of tags.",
        x = "It is {.obj_type_friendly {x}}."
      ), call = call)
    }
    I(unname(x))
  }
  flag_arg <- function(x, arg) {
    if (!is.null(x)) check_flag_arg(x, arg, call = call)
    x
  }
  string_arg <- function(x, arg) {
    if (!is.null(x)) check_string_arg(x, arg, call = call)
    x
  }
  if (!is.null(replace)) {
    ok <- (is.list(replace) || is.character(replace)) && length(replace) &&
      !is.null(names(replace)) && all(nzchar(names(replace)))
    if (!ok) {
      orthanc_abort("argument", c(
        "{.arg replace} must be a named list of tag values, e.g. {.code list(PatientName = \"Anon\")}.",
        x = "It is {.obj_type_friendly {replace}}."
      ), call = call)
    }
    replace <- as.list(replace)
  }
  if (!is.null(priority) && (!is_number(priority) || priority != round(priority))) {
    orthanc_abort("argument", "{.arg priority} must be a whole number.", call = call)
  }
  body <- list(
    Remove = tags_arg(remove, "remove"),
    Replace = replace,
    Keep = tags_arg(keep, "keep"),
    Force = flag_arg(force, "force"),
    KeepPrivateTags = flag_arg(keep_private_tags, "keep_private_tags"),
    RemovePrivateTags = flag_arg(remove_private_tags, "remove_private_tags"),
    KeepSource = flag_arg(keep_source, "keep_source"),
    Priority = if (!is.null(priority)) as.integer(priority),
    Permissive = flag_arg(permissive, "permissive"),
    PrivateCreator = string_arg(private_creator, "private_creator"),
    DicomVersion = string_arg(dicom_version, "dicom_version")
  )
  body <- body[!vapply(body, is.null, TRUE)]
  if (!length(body)) body <- empty_object
  body
}

# The query parameters of the answers with tags: `simplify` or none.
simplify_params <- function(simplify) {
  if (simplify) list(simplify = "true") else NULL
}
