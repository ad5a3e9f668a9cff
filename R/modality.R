#' A remote node known to Orthanc by name (base class)
#'
#' @description
#' What [Modality] and [Peer] share: a remote node declared by name in the
#' configuration of an Orthanc server (`GET /modalities`, `GET /peers`), the
#' client that reaches it, its `name` and `configuration` fields and its
#' `print()` method. Not used directly: make a [Modality] or a [Peer].
#'
#' @keywords internal
#' @include layer-utils.R
RemoteNode <- R6::R6Class("RemoteNode",
  cloneable = FALSE,
  public = list(
    #' @description Print the node on one line: its class and name.
    #' @param ... Unused.
    print = function(...) {
      cat("<", class(self)[[1]], "> ", private$.name, "\n", sep = "")
      invisible(self)
    }
  ),
  active = read_only_fields(
    #' @field name Name of the node in Orthanc's configuration.
    name = private$.name,
    #' @field client The [Orthanc] client that reaches the node.
    client = private$.client,
    #' @field configuration The node's configuration in Orthanc (for a
    #'   modality: AET, host, port, ...; for a peer: URL, user name, ...).
    configuration = private$.client[[private$configuration_endpoint]](private$.name)
  ),
  private = list(
    .client = NULL,
    .name = NULL,
    # The endpoint method that gives the configuration of the node, by name.
    configuration_endpoint = NULL,
    # What the subclasses' initialize() does: check and keep the client and
    # the name (`arg` and `call` name them in argument errors).
    setup = function(client, name, arg, call) {
      check_client(client, call = call)
      check_string_arg(name, arg, call = call)
      private$.client <- client
      private$.name <- name
      invisible(self)
    },
    # echo() and is_alive(): whether `ask` (a request to the node through
    # Orthanc) succeeds; an HTTP error of status `fatal` (an unknown node) is
    # raised instead.
    reachable = function(ask, fatal) {
      tryCatch(
        {
          ask
          TRUE
        },
        orthanc_http_error = function(e) {
          if (isTRUE(e$status %in% fatal)) stop(e)
          FALSE
        }
      )
    },
    # Orthanc's answer to a transfer, or its Job when it was asynchronous.
    answer_or_job = function(ans, asynchronous) {
      if (asynchronous) Job$new(ans$ID, private$.client) else invisible(ans)
    }
  )
)

#' A remote DICOM modality known to Orthanc
#'
#' @description
#' A DICOM node declared in Orthanc's configuration (`GET /modalities`), used
#' through Orthanc: C-ECHO, C-FIND, C-MOVE, C-GET and C-STORE.
#' `RemoteModality` is the same class.
#'
#' The fields `name` (the modality's name in Orthanc's configuration),
#' `client` and `configuration` (its AET, host, port, ...) and `print()` come
#' from the base class [RemoteNode], shared with [Peer]; `modality` is the
#' same as `name` (pyorthanc's name for it).
#'
#' @param client An [Orthanc] client.
#' @param modality Name of the modality in Orthanc's configuration.
#' @param level `"Patient"`, `"Study"`, `"Series"` or `"Instance"`.
#' @param resources For `move()` and `get()`: what to retrieve, a named list
#'   of identifying tags (e.g. `list(StudyInstanceUID = "1.2.3")`) or a list
#'   of them. For `store()`: resources of this Orthanc ([Resource] objects, a
#'   list of them, or Orthanc identifiers).
#' @param asynchronous Whether to run the transfer as an Orthanc job and
#'   return a [Job] at once (`TRUE`), or wait for its end (`FALSE`).
#' @param timeout Timeout of the DICOM association in seconds (`NULL`:
#'   Orthanc's setting).
#'
#' @aliases RemoteModality
#' @export
#' @rawNamespace export(RemoteModality)
#' @examplesIf nzchar(Sys.getenv("ORTHANC_URL"))
#' o <- Orthanc$new()
#' modalities <- unlist(o$get_modalities())
#' modalities
#' if (length(modalities)) {
#'   m <- Modality$new(o, modalities[[1]])
#'   m
#'   m$configuration$AET
#'   m$echo()
#'   found <- m$find(list(Level = "Study", Query = list(PatientID = "*")))
#'   found$answers
#' }
Modality <- R6::R6Class("Modality",
  inherit = RemoteNode,
  cloneable = FALSE,
  public = list(
    #' @description Make a modality object (no request is sent).
    initialize = function(client, modality) {
      private$setup(client, modality, "modality", quote(Modality$new()))
    },

    #' @description C-ECHO: whether the modality answers.
    #' @return `TRUE` or `FALSE`. An unknown modality is an error.
    echo = function(timeout = NULL) {
      body <- if (is.null(timeout)) empty_object else list(Timeout = as.integer(timeout))
      private$reachable(private$.client$post_modalities_id_echo(private$.name, json = body), c(400L, 404L))
    },

    #' @description C-FIND: query the modality (`POST /modalities/{id}/query`).
    #' @param data The query: a named list with `Level` and `Query` (and
    #'   optionally `Normalize`, `Timeout`), as Orthanc expects it, e.g.
    #'   `list(Level = "Study", Query = list(PatientID = "123"))`.
    #' @return A list with `ID` (the identifier of the query in Orthanc, for
    #'   `get_query_answers()` and `retrieve()`), `answers` (a data frame, one
    #'   row per answer) and `id` (the same as `ID`, under the name earlier
    #'   versions of this package gave it). pyorthanc's `find()` answers `ID`
    #'   and `answers` too.
    find = function(data) {
      if (!is.list(data) || is.null(names(data)) || is.null(data$Level)) {
        orthanc_abort("argument", c(
          "{.arg data} must be a named list with {.field Level} and {.field Query}.",
          i = "E.g. {.code list(Level = \"Study\", Query = list(PatientID = \"*\"))}."
        ), call = quote(find()))
      }
      if (is.null(data$Query) || !length(data$Query)) data$Query <- empty_object
      ans <- private$.client$post_modalities_id_query(private$.name, json = data)
      list(ID = ans$ID, answers = self$get_query_answers(ans$ID), id = ans$ID)
    },

    #' @description The same as `find()` (pyorthanc's other name for it).
    #' @param data The query, as for `find()`.
    #' @return As `find()`.
    query = function(data) {
      self$find(data)
    },

    #' @description The answers of a query made by `find()`, as a data frame
    #'   (one row per answer, one column per tag, named by keyword; DA tags as
    #'   `Date`, IS/DS as numbers).
    #' @param query_id Identifier of the query (`find()$ID`).
    #' @return A data frame.
    get_query_answers = function(query_id) {
      check_string_arg(query_id, "query_id", call = quote(get_query_answers()))
      ans <- private$.client$get_queries_id_answers(query_id,
        params = list(expand = "true", simplify = "true")
      )
      answers_data_frame(ans)
    },

    #' @description Retrieve (C-MOVE) what a query made by `find()` found.
    #' @param query_id Identifier of the query (`find()$ID`).
    #' @param target_aet AET to send to (`NULL`: this Orthanc).
    #' @return The answer of Orthanc, or a [Job] when `asynchronous`.
    retrieve = function(query_id, target_aet = NULL, asynchronous = FALSE) {
      check_string_arg(query_id, "query_id", call = quote(retrieve()))
      body <- list(TargetAet = target_aet, Asynchronous = if (asynchronous) TRUE)
      body <- body[!vapply(body, is.null, TRUE)]
      if (!length(body)) body <- empty_object
      ans <- private$.client$post_queries_id_retrieve(query_id, json = body)
      private$answer_or_job(ans, asynchronous)
    },

    #' @description C-MOVE: ask the modality to send resources to an AET.
    #' @param target_aet AET to send to (`NULL`: this Orthanc).
    #' @return The answer of Orthanc, or a [Job] when `asynchronous`.
    move = function(level, resources, target_aet = NULL, asynchronous = FALSE, timeout = NULL) {
      call <- quote(move())
      body <- list(
        Level = match_level(level, call = call),
        Resources = dicom_identifiers(resources, call),
        TargetAet = if (!is.null(target_aet)) check_string_arg(target_aet, "target_aet", call = call),
        Timeout = if (!is.null(timeout)) as.integer(timeout),
        Asynchronous = if (asynchronous) TRUE
      )
      private$transfer("post_modalities_id_move", body, asynchronous)
    },

    #' @description C-GET: retrieve resources from the modality into this
    #'   Orthanc.
    #' @return The answer of Orthanc, or a [Job] when `asynchronous`.
    get = function(level, resources, asynchronous = FALSE, timeout = NULL) {
      call <- quote(get())
      body <- list(
        Level = match_level(level, call = call),
        Resources = dicom_identifiers(resources, call),
        Timeout = if (!is.null(timeout)) as.integer(timeout),
        Asynchronous = if (asynchronous) TRUE
      )
      private$transfer("post_modalities_id_get", body, asynchronous)
    },

    #' @description C-STORE: send resources of this Orthanc to the modality.
    #' @return The answer of Orthanc (a list with counts of instances sent and
    #'   failed), or a [Job] when `asynchronous`.
    store = function(resources, asynchronous = FALSE, timeout = NULL) {
      body <- list(
        Resources = I(resource_ids(resources, call = quote(store()))),
        Timeout = if (!is.null(timeout)) as.integer(timeout),
        Synchronous = !asynchronous
      )
      private$transfer("post_modalities_id_store", body, asynchronous)
    }
  ),
  active = read_only_fields(
    #' @field modality The same as `name`: the modality's name in Orthanc's
    #'   configuration.
    modality = private$.name
  ),
  private = list(
    configuration_endpoint = "get_modalities_id_configuration",
    transfer = function(endpoint, body, asynchronous) {
      body <- body[!vapply(body, is.null, TRUE)]
      ans <- private$.client[[endpoint]](private$.name, json = body)
      private$answer_or_job(ans, asynchronous)
    }
  )
)

# The same class under pyorthanc's name (exported and documented with Modality).
RemoteModality <- Modality

# list(StudyInstanceUID = "1.2") or a list of such lists -> a JSON array of objects.
dicom_identifiers <- function(resources, call = NULL) {
  named <- function(x) is.list(x) && length(x) && !is.null(names(x)) && all(nzchar(names(x)))
  if (named(resources)) resources <- list(resources)
  if (!is.list(resources) || !length(resources) || !all(vapply(resources, named, TRUE))) {
    orthanc_abort("argument", c(
      "{.arg resources} must be a named list of identifying tags, or a list of them.",
      i = "E.g. {.code list(StudyInstanceUID = \"1.2.3\")}."
    ), call = call)
  }
  unname(resources)
}

# The expanded, simplified answers of a query -> a data frame.
answers_data_frame <- function(answers) {
  if (!length(answers)) {
    return(data.frame())
  }
  flat <- lapply(answers, function(a) a[vapply(a, function(v) is.character(v) || is.numeric(v), TRUE)])
  cols <- unique(unlist(lapply(flat, names)))
  out <- data.frame(row.names = seq_along(flat))
  for (nm in cols) {
    vals <- vapply(flat, function(a) {
      v <- a[[nm]]
      if (is.null(v) || !length(v)) NA_character_ else as.character(v)[1]
    }, "")
    out[[nm]] <- convert_tag_column(nm, vals)
  }
  out
}

#' An Orthanc peer
#'
#' @description
#' Another Orthanc server declared as a peer in Orthanc's configuration
#' (`GET /peers`), to which resources can be sent over HTTP.
#'
#' The fields `name` (the peer's name in Orthanc's configuration), `client`
#' and `configuration` (its URL, user name, ...) and `print()` come from the
#' base class [RemoteNode], shared with [Modality].
#'
#' @param client An [Orthanc] client.
#' @param peer Name of the peer in Orthanc's configuration.
#' @param resources Resources of this Orthanc to send ([Resource] objects, a
#'   list of them, or Orthanc identifiers).
#' @param asynchronous Whether to send in an Orthanc job and return a [Job]
#'   at once.
#'
#' @export
#' @examplesIf nzchar(Sys.getenv("ORTHANC_URL"))
#' o <- Orthanc$new()
#' peers <- unlist(o$get_peers())
#' peers
#' if (length(peers)) {
#'   p <- Peer$new(o, peers[[1]])
#'   p
#'   p$configuration$Url
#'   p$is_alive()
#' }
Peer <- R6::R6Class("Peer",
  inherit = RemoteNode,
  cloneable = FALSE,
  public = list(
    #' @description Make a peer object (no request is sent).
    initialize = function(client, peer) {
      private$setup(client, peer, "peer", quote(Peer$new()))
    },

    #' @description Send resources to the peer (`POST /peers/{id}/store`).
    #' @return Orthanc's answer (counts of instances sent and failed), or a
    #'   [Job] when `asynchronous`.
    send = function(resources, asynchronous = FALSE) {
      body <- list(
        Resources = I(resource_ids(resources, call = quote(send()))),
        Synchronous = !asynchronous
      )
      ans <- private$.client$post_peers_id_store(private$.name, json = body)
      private$answer_or_job(ans, asynchronous)
    },

    #' @description Whether the peer answers (`GET /peers/{id}/system`).
    #' @return `TRUE` or `FALSE`. An unknown peer is an error.
    is_alive = function() {
      private$reachable(private$.client$get_peers_id_system(private$.name), 404L)
    }
  ),
  private = list(
    configuration_endpoint = "get_peers_id_configuration"
  )
)
