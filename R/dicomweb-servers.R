# Orthanc as a DICOMweb client: the routes /dicom-web/servers/... of Orthanc's
# DICOMweb plugin, which the OpenAPI description of Orthanc does not list
# (plugins' routes are not in it), written here with the client's public verbs
# (GET(), PUT(), POST(), DELETE()) only.

#' Orthanc as a client of other DICOMweb servers
#'
#' Orthanc's DICOMweb plugin knows remote DICOMweb servers (its
#' `"DicomWeb"."Servers"` option, or servers registered through its API) and
#' can search them, send them instances and retrieve instances from them
#' into Orthanc. These functions wrap its routes `/dicom-web/servers/...`:
#'
#' * `dicomweb_servers()`: the known servers (`GET /dicom-web/servers`);
#' * `register_dicomweb_server()`: add or replace one (`PUT`);
#' * `remove_dicomweb_server()`: forget one (`DELETE`);
#' * `dicomweb_server_search()`: QIDO-RS through Orthanc (`POST .../qido`),
#'   answered as [DicomWeb]'s `search_for_*()` answer;
#' * `dicomweb_server_store()`: STOW-RS of Orthanc's resources to the remote
#'   server (`POST .../stow`);
#' * `dicomweb_server_retrieve()`: WADO-RS from the remote server into Orthanc
#'   (`POST .../retrieve`);
#' * `dicomweb_server_get()`: any `GET` of the remote server, through Orthanc
#'   (`POST .../get`).
#'
#' @param client An [Orthanc] client of a server with the DICOMweb plugin.
#' @param server The name of a remote DICOMweb server known to Orthanc.
#' @param expand `FALSE`: the names; `TRUE`: a data frame with `name`,
#'   `url`, `username` and `timeout` of each (never a password).
#' @param url The remote server's DICOMweb base URL.
#' @param username,password Credentials Orthanc sends to the remote server
#'   (sent to Orthanc in the request body; Orthanc never shows the password
#'   again).
#' @param headers Named list of HTTP headers Orthanc sends to the remote
#'   server (e.g. a bearer token).
#' @param timeout Timeout in seconds of Orthanc's requests to the remote
#'   server (`NULL`: Orthanc's default).
#' @param level `"studies"`, `"series"` or `"instances"`.
#' @param query,includefield,fuzzy,limit,offset,as As for [DicomWeb]'s
#'   `search_for_studies()`.
#' @param resources Orthanc identifiers of patients, studies, series or
#'   instances to send.
#' @param synchronous Wait for the transfer (`TRUE`), or answer at once with
#'   the job that runs it (`FALSE`).
#' @param study_instance_uid,series_instance_uid,sop_instance_uid The UIDs
#'   of what to retrieve: a study, a series of it, or an instance of that.
#' @param uri A route of the remote server, relative to its base URL, such
#'   as `"/studies?PatientID=123"`.
#' @return `dicomweb_servers()`: a character vector, or a data frame.
#'   `register_dicomweb_server()`, `remove_dicomweb_server()`: `client`,
#'   invisibly. `dicomweb_server_search()`: a data frame or a list.
#'   `dicomweb_server_store()`, `dicomweb_server_retrieve()`: Orthanc's
#'   answer (a list; with `synchronous = FALSE`, the job's `ID`).
#'   `dicomweb_server_get()`: the remote server's answer (a list for JSON).
#' @seealso [DicomWeb] and [dicomweb()] for R as the DICOMweb client.
#' @name dicomweb_servers
#' @examplesIf nzchar(Sys.getenv("ORTHANC_URL"))
#' o <- Orthanc$new()
#' dicomweb_servers(o)
#' register_dicomweb_server(o, "myself", paste0(o$url, "/dicom-web/"),
#'   username = Sys.getenv("ORTHANC_USERNAME"), password = Sys.getenv("ORTHANC_PASSWORD")
#' )
#' dicomweb_server_search(o, "myself", "studies", limit = 5)
#' remove_dicomweb_server(o, "myself")
NULL

#' @rdname dicomweb_servers
#' @export
dicomweb_servers <- function(client, expand = FALSE) {
  call <- quote(dicomweb_servers())
  check_client(client, call)
  check_flag_arg(expand, "expand", call)
  if (!expand) {
    return(as_character_vector(client$GET("/dicom-web/servers")))
  }
  ans <- client$GET("/dicom-web/servers", params = list(expand = ""))
  nms <- names(ans) %||% character()
  field <- function(f) vapply(ans, function(s) if (is.null(s[[f]])) NA_character_ else as.character(s[[f]])[1L], "", USE.NAMES = FALSE)
  data.frame(
    name = nms,
    url = field("Url"),
    username = field("Username"),
    timeout = suppressWarnings(as.numeric(field("Timeout"))),
    stringsAsFactors = FALSE
  )
}

#' @rdname dicomweb_servers
#' @export
register_dicomweb_server <- function(client, server, url, username = NULL, password = NULL,
                                     headers = NULL, timeout = NULL) {
  call <- quote(register_dicomweb_server())
  check_client(client, call)
  check_string_arg(server, "server", call)
  check_string_arg(url, "url", call)
  if (!is.null(username)) check_string_arg(username, "username", call)
  if (!is.null(password)) check_arg(is_string(password), password, "password", "a single string", call)
  if (!is.null(headers)) check_named_list(headers, "headers", call)
  check_arg(is.null(timeout) || is_number(timeout) && timeout > 0, timeout, "timeout", "NULL or a positive number", call)
  body <- list(Url = url, Username = username, Password = password,
    HttpHeaders = if (!is.null(headers)) as.list(headers), Timeout = timeout)
  body <- body[!vapply(body, is.null, TRUE)]
  client$PUT(server_route(server), json = body)
  invisible(client)
}

#' @rdname dicomweb_servers
#' @export
remove_dicomweb_server <- function(client, server) {
  call <- quote(remove_dicomweb_server())
  check_client(client, call)
  check_string_arg(server, "server", call)
  client$DELETE(server_route(server))
  invisible(client)
}

#' @rdname dicomweb_servers
#' @export
dicomweb_server_search <- function(client, server, level = c("studies", "series", "instances"),
                                   query = NULL, includefield = NULL, fuzzy = FALSE,
                                   limit = NULL, offset = 0, as = c("data.frame", "list")) {
  call <- quote(dicomweb_server_search())
  check_client(client, call)
  check_string_arg(server, "server", call)
  level <- if (identical(level, c("studies", "series", "instances"))) "studies" else level
  if (!is_string(level) || !level %in% c("studies", "series", "instances")) {
    orthanc_abort("argument", "{.arg level} must be {.val studies}, {.val series} or {.val instances}.", call = call)
  }
  as <- as_arg(as, call)
  args <- qido_params(query, includefield, fuzzy, call)
  check_arg(is.null(limit) || is_number(limit) && limit >= 1, limit, "limit", "NULL or a number >= 1", call)
  check_arg(is_number(offset) && offset >= 0, offset, "offset", "a number >= 0", call)
  if (!is.null(limit)) args$limit <- format(limit, scientific = FALSE)
  if (offset > 0) args$offset <- format(offset, scientific = FALSE)
  body <- list(Uri = paste0("/", level))
  if (length(args)) body$Arguments <- args
  ans <- client$POST(paste0(server_route(server), "/qido"), json = body) %||% list()
  if (as == "list") ans else dicom_json_table(ans)
}

#' @rdname dicomweb_servers
#' @export
dicomweb_server_store <- function(client, server, resources, synchronous = TRUE) {
  call <- quote(dicomweb_server_store())
  check_client(client, call)
  check_string_arg(server, "server", call)
  ids <- resource_ids(resources, "resources", call)
  check_flag_arg(synchronous, "synchronous", call)
  client$POST(paste0(server_route(server), "/stow"),
    json = list(Resources = I(ids), Synchronous = synchronous)
  )
}

#' @rdname dicomweb_servers
#' @export
dicomweb_server_retrieve <- function(client, server, study_instance_uid, series_instance_uid = NULL,
                                     sop_instance_uid = NULL, synchronous = TRUE) {
  call <- quote(dicomweb_server_retrieve())
  check_client(client, call)
  check_string_arg(server, "server", call)
  check_string_arg(study_instance_uid, "study_instance_uid", call)
  if (!is.null(series_instance_uid)) check_string_arg(series_instance_uid, "series_instance_uid", call)
  if (!is.null(sop_instance_uid)) {
    check_string_arg(sop_instance_uid, "sop_instance_uid", call)
    if (is.null(series_instance_uid)) {
      orthanc_abort("argument", "{.arg sop_instance_uid} needs {.arg series_instance_uid}.", call = call)
    }
  }
  check_flag_arg(synchronous, "synchronous", call)
  resource <- list(Study = study_instance_uid, Series = series_instance_uid, Instance = sop_instance_uid)
  resource <- resource[!vapply(resource, is.null, TRUE)]
  client$POST(paste0(server_route(server), "/retrieve"),
    json = list(Resources = list(resource), Synchronous = synchronous)
  )
}

#' @rdname dicomweb_servers
#' @export
dicomweb_server_get <- function(client, server, uri) {
  call <- quote(dicomweb_server_get())
  check_client(client, call)
  check_string_arg(server, "server", call)
  check_string_arg(uri, "uri", call)
  client$POST(paste0(server_route(server), "/get"), json = list(Uri = uri))
}

# The route of a remote server, its name percent-encoded.
server_route <- function(server) {
  paste0("/dicom-web/servers/", utils::URLencode(enc2utf8(server), reserved = TRUE))
}
