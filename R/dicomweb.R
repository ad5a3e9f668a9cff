# The DICOMweb client: QIDO-RS, WADO-RS and STOW-RS against any DICOMweb
# server (Orthanc's DICOMweb plugin, dcm4chee, cloud archives). It is the same
# client as `Orthanc` underneath: the same options and secrecy rules
# (orthanc_initialize()), the same Rust client, and the same one request path
# (the private request() and run_batch() of R/client.R), with its own base URL
# and its own wording of failures (dicomweb_condition()). DICOM JSON answers
# become typed data frames next to the tag tables (tag_column(), R/tags.R).

#' DICOMweb client
#'
#' @description
#' A client of a DICOMweb server (QIDO-RS search, WADO-RS retrieve, STOW-RS
#' store): Orthanc's DICOMweb plugin, or any other archive that speaks
#' DICOMweb. Its methods carry the names of Python's `dicomweb-client`
#' (`search_for_studies()`, `retrieve_series()`, `store_instances()`, ...);
#' their arguments and answers are R's: `study_instance_uid =`, data frames,
#' file paths.
#'
#' `DicomWeb$new(url, ...)` takes the same arguments, options, TLS settings
#' and secrecy rules as [Orthanc]`$new()`: the password or token is kept by
#' the Rust client only, never printed, never in an error, in
#' `last_response` or in a saved client. [dicomweb()] gives the client of an
#' [Orthanc] client's own DICOMweb plugin, sharing its connections and
#' credentials.
#'
#' @section Search results as data frames:
#' QIDO-RS answers and metadata are DICOM JSON: one object per study, series
#' or instance. As data frames (`as = "data.frame"`, the default) they have
#' one row per object and one column per attribute, named by its keyword
#' (`"GGGG,EEEE"` for attributes the DICOM dictionary does not name, such as
#' private tags), in the order of the tags, typed by their value
#' representation as the package's other tables are: `DA` as `Date`, numeric
#' VRs (`IS`, `DS`, `US`, ...) as numbers when single-valued (else text
#' `"a\\b"`), person names (`PN`) as their `Alphabetic` text, other
#' multi-valued attributes as text joined by `"\\"`, sequences (`SQ`) as a list
#' column of their items (DICOM JSON), bulk data as its URI. Absent or empty
#' values are `NA`. With `as = "list"` the DICOM JSON is returned as it came.
#'
#' @section Warnings:
#' A search whose answer has `Warning` headers (DICOMweb servers say so when
#' they ignore a parameter, e.g. fuzzy matching, or cut the results) raises an
#' R warning of class `orthanc_dicomweb_warning` with the server's words
#' (field `warning`).
#'
#' @section Errors:
#' A failure is an `orthanc_error` condition, as for [Orthanc] (see
#' [orthanc_error]): an HTTP error status gives `orthanc_http_<status>` and
#' `orthanc_http_error`, with fields `status`, `method`, `url`, `error_body`
#' (the server's error answer when it is JSON, e.g. a DICOM JSON status) and
#' `warning` (the answer's `Warning` headers, where DICOMweb servers explain
#' themselves). The message carries the server's own words.
#'
#' @examples
#' dw <- DicomWeb$new("https://pacs.example.org/dicom-web", "me", "secret")
#' dw
#' @examplesIf nzchar(Sys.getenv("ORTHANC_URL"))
#' o <- Orthanc$new()
#' dw <- dicomweb(o)
#' studies <- dw$search_for_studies(includefield = "all")
#' head(studies)
#' @param study_instance_uid The study's UID (Study Instance UID).
#' @param series_instance_uid The series' UID (Series Instance UID).
#' @param sop_instance_uid The instance's UID (SOP Instance UID).
#' @param query Matching keys: a named list or vector whose names are
#'   keywords (`PatientName`) or tags (`"00100010"`, `"0010,0010"`), and
#'   whose values are strings (with `*` and `?` wildcards, `"20200101-"`
#'   ranges), numbers, `Date`s, or vectors of them (a list of values).
#' @param includefield Attributes to include besides the default ones:
#'   keywords or tags, or `"all"`.
#' @param fuzzy Fuzzy matching of person names (`fuzzymatching=true`).
#' @param limit At most `limit` results (`NULL`: the server's choice). With
#'   `all = TRUE`, the size of each page (default 1000).
#' @param offset Skip the first `offset` results.
#' @param all Page through all the matches (`limit` at a time), until the
#'   server answers an empty page, or a short one without a `Warning` header.
#'   Orthanc (1.12) refuses an `offset` (400 Bad Request) when the search
#'   has matching keys on attributes it does not index at that level, which
#'   includes searches of series or instances within a study or series: such
#'   a search pages only while its pages are full (give a `limit` larger than
#'   the number of matches).
#' @param as `"data.frame"` (typed columns, see the section "Search results
#'   as data frames") or `"list"` (the DICOM JSON).
#' @param media_type The media type asked for (`Accept`): `"image/jpeg"` or
#'   `"image/png"` for images (the server may not offer both; `as.raster()`
#'   needs the package jpeg or png).
#' @param params Named list of the server's rendering parameters, e.g.
#'   `list(viewport = "128,128", window = "40,400,linear", quality = 90)`.
#' @param path The folder where the files are written (made if needed).
#' @param transfer_syntax The transfer syntax asked for (the
#'   `transfer-syntax` of the `Accept` header): `"*"` (the default) for the
#'   files as the server stores them, or a UID such as
#'   `"1.2.840.10008.1.2.1"` (explicit VR little endian).
#' @param concurrency How many requests at once (default
#'   `getOption("orthanc.concurrency", 4)`).
#' @param progress Show a progress bar: `TRUE`, `FALSE` or `NULL` (see
#'   [orthanc_options]).
#' @include client.R conditions.R
#' @export
DicomWeb <- R6::R6Class(
  "DicomWeb",
  cloneable = FALSE,
  public = list(
    #' @field url The base URL of the DICOMweb service (without credentials).
    url = NULL,

    #' @description Make a DICOMweb client. Nothing is sent.
    #' @param url The base URL of the DICOMweb service, such as
    #'   `"https://pacs.example.org/dicom-web"`.
    #' @param username,password Optional credentials for HTTP Basic
    #'   authentication (`NULL`: from the URL, or the environment variables
    #'   `ORTHANC_USERNAME` and `ORTHANC_PASSWORD`).
    #' @param token Optional bearer token (`NULL`: `ORTHANC_TOKEN`, if set).
    #' @param auth Optional function answering a new token, as for
    #'   [Orthanc]`$new()`.
    #' @param ... Options of the client: `timeout`, `retries`,
    #'   `retry_methods`, `verify`, `ca_file`, `cert_file`, `key_file`,
    #'   `user_agent` (see [orthanc_options]).
    initialize = function(url, username = NULL, password = NULL, token = NULL, auth = NULL, ...) {
      call <- quote(DicomWeb$new())
      if (!missing(url) && inherits(url, "orthanc_shared_connection")) {
        # dicomweb(o): the Orthanc client's own Rust client and settings.
        private$handle <- url$handle
        private$config <- url$config
        private$auth <- url$auth
        private$root <- url$root
        self$url <- paste0(url$config$url, "/", paste(url$root, collapse = "/"))
      } else {
        if (missing(url) || is.null(url)) {
          orthanc_abort("argument", "{.arg url} must be the base URL of a DICOMweb service, such as {.val https://pacs.example.org/dicom-web}.", call = call)
        }
        orthanc_initialize(self, private, url, username, password, token, auth, ..., .call = call)
      }
      private$describe_failure <- dicomweb_condition
      invisible(self)
    },

    #' @description Print the client (URL and user; never a secret).
    #' @param ... Ignored.
    print = function(...) {
      cli::cat_line("<DicomWeb client>")
      cli::cat_line("  URL:  ", self$url)
      cli::cat_line("  User: ", private$config$username %||% "(none)")
      if (!is.null(private$auth)) cli::cat_line("  Token: renewed by `auth` (never shown)")
      invisible(self)
    },

    #' @description Search for studies (QIDO-RS `GET /studies`).
    #' @param query Matching keys: a named list or vector whose names are
    #'   keywords (`PatientName`) or tags (`"00100010"`, `"0010,0010"`), and
    #'   whose values are strings (with `*` and `?` wildcards, `"20200101-"`
    #'   ranges), numbers, `Date`s, or vectors of them (a list of values).
    #' @param includefield Attributes to include besides the default ones:
    #'   keywords or tags, or `"all"`.
    #' @param fuzzy Fuzzy matching of person names (`fuzzymatching=true`).
    #' @param limit,offset At most `limit` results (`NULL`: the server's
    #'   choice), skipping the first `offset`. With `all = TRUE`, `limit` is
    #'   the size of each page (default 1000).
    #' @param all Page through all the matches (`limit` at a time), until the
    #'   server answers an empty page, or a short one without a `Warning`
    #'   header.
    #' @param as `"data.frame"` (typed columns, see the section "Search
    #'   results as data frames") or `"list"` (the DICOM JSON).
    #' @return A data frame, one row per study, or the list of DICOM JSON
    #'   objects.
    search_for_studies = function(query = NULL, includefield = NULL, fuzzy = FALSE,
                                  limit = NULL, offset = 0, all = FALSE,
                                  as = c("data.frame", "list")) {
      call <- sys.call()
      as <- as_arg(as, call)
      private$qido(list("studies"), query, includefield, fuzzy, limit, offset, all, as, call)
    },

    #' @description Search for series (QIDO-RS `GET /series`, or
    #'   `/studies/{study}/series` within a study).
    #' @param study_instance_uid `NULL` (all studies) or the study's UID.
    #' @return A data frame, one row per series, or the list of DICOM JSON
    #'   objects.
    search_for_series = function(study_instance_uid = NULL, query = NULL, includefield = NULL,
                                 fuzzy = FALSE, limit = NULL, offset = 0, all = FALSE,
                                 as = c("data.frame", "list")) {
      call <- sys.call()
      as <- as_arg(as, call)
      segs <- if (is.null(study_instance_uid)) list("series") else {
        list("studies", study_instance_uid = uid_arg(study_instance_uid, "study_instance_uid", call), "series")
      }
      private$qido(segs, query, includefield, fuzzy, limit, offset, all, as, call)
    },

    #' @description Search for instances (QIDO-RS `GET /instances`, within a
    #'   study or a series when their UIDs are given).
    #' @param series_instance_uid `NULL` or the series' UID (needs
    #'   `study_instance_uid`).
    #' @return A data frame, one row per instance, or the list of DICOM JSON
    #'   objects.
    search_for_instances = function(study_instance_uid = NULL, series_instance_uid = NULL,
                                    query = NULL, includefield = NULL, fuzzy = FALSE,
                                    limit = NULL, offset = 0, all = FALSE,
                                    as = c("data.frame", "list")) {
      call <- sys.call()
      as <- as_arg(as, call)
      if (!is.null(series_instance_uid) && is.null(study_instance_uid)) {
        orthanc_abort("argument", "{.arg series_instance_uid} needs {.arg study_instance_uid}.", call = call)
      }
      segs <- list()
      if (!is.null(study_instance_uid)) {
        segs <- list("studies", study_instance_uid = uid_arg(study_instance_uid, "study_instance_uid", call))
      }
      if (!is.null(series_instance_uid)) {
        segs <- c(segs, list("series", series_instance_uid = uid_arg(series_instance_uid, "series_instance_uid", call)))
      }
      private$qido(c(segs, list("instances")), query, includefield, fuzzy, limit, offset, all, as, call)
    },

    #' @description Metadata of every instance of a study (WADO-RS
    #'   `GET /studies/{study}/metadata`).
    #' @param study_instance_uid The study's UID.
    #' @return A data frame, one row per instance, or the list of DICOM JSON
    #'   objects.
    retrieve_study_metadata = function(study_instance_uid, as = c("data.frame", "list")) {
      call <- sys.call()
      private$metadata(private$uid_path(call, study_instance_uid), as_arg(as, call), call)
    },

    #' @description Metadata of every instance of a series.
    #' @param series_instance_uid The series' UID.
    retrieve_series_metadata = function(study_instance_uid, series_instance_uid,
                                        as = c("data.frame", "list")) {
      call <- sys.call()
      private$metadata(private$uid_path(call, study_instance_uid, series_instance_uid), as_arg(as, call), call)
    },

    #' @description Metadata of one instance.
    #' @param sop_instance_uid The instance's UID.
    retrieve_instance_metadata = function(study_instance_uid, series_instance_uid, sop_instance_uid,
                                          as = c("data.frame", "list")) {
      call <- sys.call()
      private$metadata(private$uid_path(call, study_instance_uid, series_instance_uid, sop_instance_uid),
        as_arg(as, call), call
      )
    },

    #' @description A rendered image of an instance (WADO-RS `/rendered`):
    #'   an image that [grDevices::as.raster()] and `plot()` accept.
    #' @param media_type `"image/jpeg"` or `"image/png"` (the server may not
    #'   offer both; `as.raster()` needs the package png or jpeg).
    #' @param params Named list of the rendering parameters of the server,
    #'   e.g. `list(viewport = "128,128", window = "40,400,linear",
    #'   quality = 90)`.
    #' @return An `orthanc_image`: a list with `data` (the raw bytes) and
    #'   `media_type`.
    retrieve_instance_rendered = function(study_instance_uid, series_instance_uid, sop_instance_uid,
                                          media_type = "image/jpeg", params = NULL) {
      call <- sys.call()
      segs <- private$uid_path(call, study_instance_uid, series_instance_uid, sop_instance_uid)
      private$image(c(segs, list("rendered")), media_type, params, call)
    },

    #' @description A rendered image of one frame of an instance.
    #' @param frame_number The frame (1 for the first).
    retrieve_instance_frames_rendered = function(study_instance_uid, series_instance_uid,
                                                 sop_instance_uid, frame_number = 1,
                                                 media_type = "image/jpeg", params = NULL) {
      call <- sys.call()
      segs <- private$uid_path(call, study_instance_uid, series_instance_uid, sop_instance_uid)
      frame <- frame_numbers_arg(frame_number, call, one = TRUE)
      private$image(c(segs, list("frames", frame_number = frame, "rendered")), media_type, params, call)
    },

    #' @description A rendered image of a series (the server chooses which
    #'   instance).
    retrieve_series_rendered = function(study_instance_uid, series_instance_uid,
                                        media_type = "image/jpeg", params = NULL) {
      call <- sys.call()
      segs <- private$uid_path(call, study_instance_uid, series_instance_uid)
      private$image(c(segs, list("rendered")), media_type, params, call)
    },

    #' @description A rendered image of a study (the server chooses which
    #'   instance).
    retrieve_study_rendered = function(study_instance_uid, media_type = "image/jpeg", params = NULL) {
      call <- sys.call()
      private$image(c(private$uid_path(call, study_instance_uid), list("rendered")), media_type, params, call)
    },

    #' @description A thumbnail of a study (WADO-RS `/thumbnail`).
    retrieve_study_thumbnail = function(study_instance_uid, media_type = "image/jpeg", params = NULL) {
      call <- sys.call()
      private$image(c(private$uid_path(call, study_instance_uid), list("thumbnail")), media_type, params, call)
    },

    #' @description A thumbnail of a series.
    retrieve_series_thumbnail = function(study_instance_uid, series_instance_uid,
                                         media_type = "image/jpeg", params = NULL) {
      call <- sys.call()
      segs <- private$uid_path(call, study_instance_uid, series_instance_uid)
      private$image(c(segs, list("thumbnail")), media_type, params, call)
    },

    #' @description A thumbnail of an instance.
    retrieve_instance_thumbnail = function(study_instance_uid, series_instance_uid, sop_instance_uid,
                                           media_type = "image/jpeg", params = NULL) {
      call <- sys.call()
      segs <- private$uid_path(call, study_instance_uid, series_instance_uid, sop_instance_uid)
      private$image(c(segs, list("thumbnail")), media_type, params, call)
    },

    #' @description Retrieve a study into a folder (WADO-RS), one DICOM file
    #'   per instance named `<SOPInstanceUID>.dcm`. The answer is streamed to
    #'   disk part by part (temporary names, renamed when complete), in bounded
    #'   memory whatever its size.
    #' @param path The folder where the files are written (made if needed).
    #' @param transfer_syntax The transfer syntax asked for (the
    #'   `transfer-syntax` of the `Accept` header): `"*"` (the default) for
    #'   the files as the server stores them, or a UID such as
    #'   `"1.2.840.10008.1.2.1"` (explicit VR little endian).
    #' @param progress Show a progress bar: `TRUE`, `FALSE` or `NULL` (see
    #'   [orthanc_options]).
    #' @return A data frame, one row per file written: `study_instance_uid`,
    #'   `series_instance_uid`, `sop_instance_uid` and `path`.
    retrieve_study = function(study_instance_uid, path, transfer_syntax = "*", progress = NULL) {
      call <- sys.call()
      uid_arg(study_instance_uid, "study_instance_uid", call)
      private$retrieve(list(study = study_instance_uid), path, transfer_syntax, NULL, progress, call)
    },

    #' @description Retrieve series into a folder, many at once: one
    #'   request per series, sent concurrently through the batch engine.
    #' @param study_instance_uid,series_instance_uid The UIDs of the series
    #'   (vectors of the same length; a single study UID is recycled).
    #' @param concurrency How many series at once (default
    #'   `getOption("orthanc.concurrency", 4)`).
    retrieve_series = function(study_instance_uid, series_instance_uid, path, transfer_syntax = "*",
                               concurrency = NULL, progress = NULL) {
      call <- sys.call()
      uids_arg(study_instance_uid, "study_instance_uid", call)
      uids_arg(series_instance_uid, "series_instance_uid", call)
      if (length(study_instance_uid) != 1L && length(study_instance_uid) != length(series_instance_uid)) {
        orthanc_abort("argument", "{.arg study_instance_uid} must have length 1 or the length of {.arg series_instance_uid}.", call = call)
      }
      private$retrieve(
        list(study = rep_len(study_instance_uid, length(series_instance_uid)), series = series_instance_uid),
        path, transfer_syntax, concurrency, progress, call
      )
    },

    #' @description Retrieve one instance into a folder.
    retrieve_instance = function(study_instance_uid, series_instance_uid, sop_instance_uid, path,
                                 transfer_syntax = "*") {
      call <- sys.call()
      uid_arg(study_instance_uid, "study_instance_uid", call)
      uid_arg(series_instance_uid, "series_instance_uid", call)
      uid_arg(sop_instance_uid, "sop_instance_uid", call)
      private$retrieve(
        list(study = study_instance_uid, series = series_instance_uid, instance = sop_instance_uid),
        path, transfer_syntax, NULL, FALSE, call
      )
    },

    #' @description Frames of an instance (WADO-RS `/frames/{n}`), as raw
    #'   bytes or as arrays.
    #' @param frame_numbers The frames (1 for the first).
    #' @param transfer_syntax `NULL` (the server's default for frames,
    #'   uncompressed little endian), `"*"` (as stored), or a UID.
    #' @param as `"raw"`: a list of raw vectors, one per frame, as sent;
    #'   `"array"`: the pixel values (stored values, before any rescale) of
    #'   uncompressed frames as an array, as [pixel_array()] gives them: rows x
    #'   columns for one greyscale frame, rows x columns x frames for several,
    #'   with a last dimension of samples for colour images.
    retrieve_instance_frames = function(study_instance_uid, series_instance_uid, sop_instance_uid,
                                        frame_numbers = 1, transfer_syntax = NULL,
                                        as = c("raw", "array")) {
      call <- sys.call()
      as <- if (identical(as, c("raw", "array"))) "raw" else as
      if (!is_string(as) || !as %in% c("raw", "array")) {
        orthanc_abort("argument", "{.arg as} must be {.val raw} or {.val array}.", call = call)
      }
      segs <- private$uid_path(call, study_instance_uid, series_instance_uid, sop_instance_uid)
      frames <- frame_numbers_arg(frame_numbers, call)
      accept <- multipart_accept("application/octet-stream", transfer_syntax, call)
      ans <- private$dw("GET", c(segs, list("frames", frame_numbers = frames)),
        headers = list(Accept = accept), parts = TRUE, call = call
      )
      parts <- ans$parts
      if (as == "raw") {
        return(parts)
      }
      meta <- self$retrieve_instance_metadata(study_instance_uid, series_instance_uid, sop_instance_uid,
        as = "list"
      )[[1L]]
      frames_array(parts, ans$part_types, meta, call)
    },

    #' @description Bulk data by its URI (a `BulkDataURI` of the metadata):
    #'   a URI of this server (absolute, or relative to `url`).
    #' @param uri The bulk data URI.
    #' @param media_type The media type asked for in the multipart answer.
    #' @return A raw vector (a list of them when the server answers several
    #'   parts).
    retrieve_bulkdata = function(uri, media_type = "application/octet-stream") {
      call <- sys.call()
      if (!is_string(uri) || !nzchar(uri)) {
        orthanc_abort("argument", "{.arg uri} must be a single string, a BulkDataURI.", call = call)
      }
      route <- private$relative_route(uri, call)
      ans <- private$request("GET", route,
        headers = list(Accept = multipart_accept(media_type, NULL, call)),
        encode = FALSE, call = call, parts = TRUE
      )
      if (length(ans$parts) == 1L) ans$parts[[1L]] else ans$parts
    },

    #' @description Store DICOM files (STOW-RS `POST /studies`): files,
    #'   folders (with `recursive`, their sub-folders too) and the DICOM files
    #'   inside ZIP archives, sent in requests of at most `max_request_size`
    #'   bytes, each with its known length.
    #' @param path Paths of files, folders or ZIP archives.
    #' @param recursive When `path` has folders, also store the files of
    #'   their sub-folders.
    #' @param study_instance_uid `NULL`, or the study every instance must
    #'   belong to (`POST /studies/{study}`).
    #' @param max_request_size The largest body of one request, in bytes (a
    #'   larger file is sent alone).
    #' @return A data frame of class `orthanc_stow_report` (printed like
    #'   [upload()]'s report), one row per file (per DICOM file of an archive,
    #'   with the archive's path): `path`, `status` (`"Success"`, `"Failed"`,
    #'   `"Skipped"`: not DICOM), `sop_instance_uid`, `retrieve_url` and
    #'   `message` (the server's failure or warning reason), read from the
    #'   answer's `ReferencedSOPSequence` (0008,1199) and `FailedSOPSequence`
    #'   (0008,1198).
    store_instances = function(path, recursive = FALSE, study_instance_uid = NULL,
                               max_request_size = 100e6, concurrency = NULL, progress = NULL) {
      call <- sys.call()
      dicomweb_store(self, private, path, recursive, study_instance_uid, max_request_size,
        concurrency, progress, call
      )
    }
  ),
  active = list(
    #' @field last_response Status, URL and headers of the last answer
    #'   received.
    last_response = function(value) private$last_response_field(value)
  ),
  private = c(orthanc_private, list(
    # The segments of the DICOMweb root under the base URL of the Rust client:
    # none for DicomWeb$new(url), "dicom-web" for dicomweb(o).
    root = character(),

    # One request to a route of the service: `segments` after the root;
    # `parts = TRUE`: its multipart answer split into parts (split_answer()).
    dw = function(method, segments, params = NULL, headers = NULL, parts = FALSE, call = NULL) {
      private$request(method, c(as.list(private$root), segments),
        params = params, headers = headers, call = call, parts = parts
      )
    },

    # The route segments of a study, series or instance, each UID checked.
    uid_path = function(call, study, series = NULL, instance = NULL) {
      out <- list("studies", study_instance_uid = uid_arg(study, "study_instance_uid", call))
      if (!missing(series)) {
        out <- c(out, list("series", series_instance_uid = uid_arg(series, "series_instance_uid", call)))
      }
      if (!missing(instance)) {
        out <- c(out, list("instances", sop_instance_uid = uid_arg(instance, "sop_instance_uid", call)))
      }
      out
    },

    qido = function(segments, query, includefield, fuzzy, limit, offset, all, as, call) {
      params <- qido_params(query, includefield, fuzzy, call)
      check_arg(is.null(limit) || is_number(limit) && limit >= 1, limit, "limit", "NULL or a number >= 1", call)
      check_arg(is_number(offset) && offset >= 0, offset, "offset", "a number >= 0", call)
      check_flag_arg(all, "all", call)
      headers <- list(Accept = "application/dicom+json")
      page <- function(limit, offset) {
        p <- c(params, list(
          limit = if (!is.null(limit)) format(limit, scientific = FALSE),
          offset = if (offset > 0) format(offset, scientific = FALSE)
        ))
        p <- p[!vapply(p, is.null, TRUE)]
        ans <- private$dw("GET", segments, params = if (length(p)) p, headers = headers, call = call)
        dicomweb_warn(private$last$headers, call)
        if (is.null(ans)) list() else ans
      }
      if (!all) {
        out <- page(limit, offset)
      } else {
        size <- limit %||% 1000
        out <- list()
        repeat {
          ans <- page(size, offset)
          out <- c(out, ans)
          offset <- offset + length(ans)
          warned <- any(names(private$last$headers) == "warning")
          if (!length(ans) || (length(ans) < size && !warned)) break
        }
      }
      if (as == "list") out else dicom_json_table(out)
    },

    metadata = function(segments, as, call) {
      ans <- private$dw("GET", c(segments, list("metadata")),
        headers = list(Accept = "application/dicom+json"), call = call
      )
      if (is.null(ans)) ans <- list()
      if (as == "list") ans else dicom_json_table(ans)
    },

    image = function(segments, media_type, params, call) {
      if (!is_string(media_type) || !nzchar(media_type)) {
        orthanc_abort("argument", "{.arg media_type} must be a media type such as {.val image/jpeg}.", call = call)
      }
      if (!is.null(params)) check_named_list(params, "params", call)
      ans <- private$dw("GET", segments, params = params, headers = list(Accept = media_type), call = call)
      type <- unname(private$last$headers["content-type"])
      if (is.character(ans)) ans <- charToRaw(ans)
      new_orthanc_image(ans %||% raw(), if (length(type) && !is.na(type)) type else media_type)
    },

    retrieve = function(uids, path, transfer_syntax, concurrency, progress, call) {
      dicomweb_retrieve(private, uids, path, transfer_syntax, concurrency, progress, call)
    },

    # A BulkDataURI (absolute, of this server; or relative) as a route of the
    # Rust client (relative to its base URL, starting with "/").
    relative_route = function(uri, call) {
      base <- private$config$url
      if (grepl("^[A-Za-z][A-Za-z0-9+.-]*://", uri)) {
        if (!startsWith(tolower(uri), tolower(paste0(base, "/")))) {
          orthanc_abort("argument", c(
            "{.arg uri} is not a URI of this server ({.url {base}}).",
            i = "Credentials are sent to this server only: make a client for {.url {uri}}."
          ), call = call)
        }
        return(substring(uri, nchar(base) + 1L))
      }
      root <- paste(private$root, collapse = "/")
      rel <- sub("^/+", "", uri)
      paste0("/", if (nzchar(root) && !startsWith(rel, paste0(root, "/"))) paste0(root, "/"), rel)
    }
  ))
)

#' The DICOMweb client of an Orthanc server
#'
#' `dicomweb(client)` gives a [DicomWeb] client for the DICOMweb plugin of
#' the Orthanc server of `client` (at `/dicom-web/` by default), sharing the
#' client's connections, options and credentials (nothing is copied into R).
#'
#' @param client An [Orthanc] client.
#' @param root The root of the plugin's routes (its `"DicomWeb"."Root"`
#'   option), relative to the client's URL.
#' @return A [DicomWeb] client.
#' @seealso [dicomweb_servers()] for Orthanc itself as a DICOMweb client of
#'   other servers.
#' @name dicomweb_client
#' @export
#' @examplesIf nzchar(Sys.getenv("ORTHANC_URL"))
#' o <- Orthanc$new()
#' dw <- dicomweb(o)
#' dw$url
#' dw$search_for_studies(limit = 5)
dicomweb <- function(client, root = "dicom-web") {
  call <- quote(dicomweb())
  check_client(client, call)
  check_string_arg(root, "root", call)
  segments <- strsplit(gsub("^/+|/+$", "", root), "/+")[[1L]]
  if (!length(segments)) {
    orthanc_abort("argument", "{.arg root} must name a route, such as {.val dicom-web}.", call = call)
  }
  shared <- client_connection(client)
  shared$root <- segments
  DicomWeb$new(structure(shared, class = "orthanc_shared_connection"))
}

# The connection of an Orthanc client (its Rust client, configuration and
# `auth`) for a DicomWeb client that shares it. The one place where the
# private members of a client are read from outside it.
client_connection <- function(client) {
  p <- client$.__enclos_env__$private
  list(handle = p$ptr(), config = p$config, auth = p$auth)
}

# Arguments -------------------------------------------------------------------

as_arg <- function(as, call) {
  if (identical(as, c("data.frame", "list"))) return("data.frame")
  if (!is_string(as) || !as %in% c("data.frame", "list")) {
    orthanc_abort("argument", "{.arg as} must be {.val data.frame} or {.val list}.", call = call)
  }
  as
}

uid_arg <- function(x, arg, call) {
  if (!is_string(x) || !nzchar(x)) {
    orthanc_abort("argument", c(
      "{.arg {arg}} must be a single UID (a non-empty string).",
      x = "It is {.obj_type_friendly {x}}."
    ), call = call)
  }
  x
}

uids_arg <- function(x, arg, call) {
  if (!is.character(x) || !length(x) || anyNA(x) || !all(nzchar(x))) {
    orthanc_abort("argument", c(
      "{.arg {arg}} must be a character vector of UIDs.",
      x = "It is {.obj_type_friendly {x}}."
    ), call = call)
  }
  x
}

# Frame numbers -> "1" or "1,2,3" (one route segment).
frame_numbers_arg <- function(x, call, one = FALSE) {
  ok <- is.numeric(x) && length(x) && !anyNA(x) && all(x >= 1 & x == round(x)) && (!one || length(x) == 1L)
  if (!ok) {
    orthanc_abort("argument", c(
      if (one) "{.arg frame_number} must be a frame number (1 for the first)." else "{.arg frame_numbers} must be frame numbers (1 for the first).",
      x = "It is {.obj_type_friendly {x}}."
    ), call = call)
  }
  paste(format(x, scientific = FALSE, trim = TRUE), collapse = ",")
}

# The Accept header of a multipart answer.
multipart_accept <- function(type, transfer_syntax, call) {
  if (!is.null(transfer_syntax) && (!is_string(transfer_syntax) || !grepl("^(\\*|[0-9.]+)$", transfer_syntax))) {
    orthanc_abort("argument", c(
      "{.arg transfer_syntax} must be NULL, {.val *} or a transfer syntax UID.",
      x = "It is {.obj_type_friendly {transfer_syntax}}."
    ), call = call)
  }
  paste0(
    "multipart/related; type=\"", type, "\"",
    if (!is.null(transfer_syntax)) paste0("; transfer-syntax=", transfer_syntax)
  )
}

# A DICOM tag or keyword as QIDO takes it: "ggggeeee" (from "GGGG,EEEE",
# "(GGGG,EEEE)" or "GGGGEEEE"), keywords as they are.
qido_key <- function(x) {
  hex_re <- "^\\(?([0-9A-Fa-f]{4})[,-]?([0-9A-Fa-f]{4})\\)?$"
  ifelse(grepl(hex_re, x), toupper(sub(hex_re, "\\1\\2", x)), x)
}

qido_params <- function(query, includefield, fuzzy, call) {
  params <- list()
  if (!is.null(query) && length(query)) {
    nms <- names(query)
    if (is.null(nms) || any(!nzchar(nms)) || anyNA(nms)) {
      orthanc_abort("argument", "{.arg query} must be a named list of matching keys (keywords or tags).", call = call)
    }
    for (i in seq_along(query)) {
      v <- query[[i]]
      if (is.null(v)) next
      if (is.list(v)) v <- unlist(v)
      if (inherits(v, "Date")) v <- format(v, "%Y%m%d")
      ok <- (is.character(v) || is.numeric(v) && !is.object(v)) && length(v) && !anyNA(v)
      if (!ok) {
        what <- paste0("query$", nms[i])
        orthanc_abort("argument", c(
          "{.arg {what}} must be a string, number or date (or a vector of them).",
          x = "It is {.obj_type_friendly {v}}."
        ), call = call)
      }
      if (is.numeric(v)) v <- format(v, scientific = FALSE, trim = TRUE)
      params[[qido_key(nms[i])]] <- paste(enc2utf8(v), collapse = ",")
    }
  }
  if (!is.null(includefield)) {
    if (!is.character(includefield) || !length(includefield) || anyNA(includefield) || !all(nzchar(includefield))) {
      orthanc_abort("argument", "{.arg includefield} must be a character vector of keywords or tags, or {.val all}.", call = call)
    }
    params$includefield <- if ("all" %in% includefield) "all" else paste(qido_key(includefield), collapse = ",")
  }
  check_flag_arg(fuzzy, "fuzzy", call)
  if (fuzzy) params$fuzzymatching <- "true"
  params
}

# DICOM JSON -> data frames ---------------------------------------------------

# A list of DICOM JSON objects -> one data frame: one row per object, one
# column per attribute (keyword, else "GGGG,EEEE"), in the order of the tags,
# typed by VR as tag_column() types the package's other tables.
dicom_json_table <- function(x) {
  n <- length(x)
  if (!n) return(data.frame())
  tags <- sort(unique(toupper(unlist(lapply(x, names), use.names = FALSE))))
  tags <- tags[grepl("^[0-9A-F]{8}$", tags)]
  dict <- dicom_dictionary
  hex <- paste0(substr(tags, 1L, 4L), ",", substr(tags, 5L, 8L))
  keyword <- dict$keyword[match(hex, dict$tag)]
  columns <- ifelse(is.na(keyword), hex, keyword)
  out <- list()
  for (j in seq_along(tags)) {
    tag <- tags[j]
    # `[[` as the function of lapply(): no R closure called per cell.
    elements <- lapply(x, `[[`, tag)
    absent <- vapply(elements, is.null, NA)
    if (any(absent)) {
      elements[absent] <- lapply(x[absent], `[[`, tolower(tag))
      absent <- vapply(elements, is.null, NA)
    }
    present <- vapply(elements, is.list, NA)
    vr <- if (any(present)) elements[[which(present)[1L]]]$vr
    if (is.null(vr)) vr <- dict$vr[match(hex[j], dict$tag)]
    out[[columns[j]]] <- dicom_json_scalar_column(elements, vr, present, absent) %||%
      tag_column(lapply(elements, dicom_json_value, vr = vr), vr)
  }
  structure(out, class = "data.frame", row.names = .set_row_names(n))
}

# The column of one attribute built with vector operations, when every
# present element is a sequence, or has at most one value: a string, a number
# or a person name (the common case of QIDO answers); NULL in any other case
# (bulk data, several values, something unexpected), left to
# dicom_json_value() and tag_column(), which give the same column cell by cell.
dicom_json_scalar_column <- function(elements, vr, present, absent) {
  if (!all(present | absent)) return(NULL)
  el <- elements[present]
  if (any(lengths(lapply(el, `[[`, "BulkDataURI"))) || any(lengths(lapply(el, `[[`, "InlineBinary")))) {
    return(NULL)
  }
  vals <- lapply(el, `[[`, "Value")
  n <- length(elements)
  if (identical(vr, "SQ")) {
    # The items as they are; list() for a present sequence without items.
    vals[!lengths(vals)] <- list(list())
    col <- vector("list", n)
    col[present] <- vals
    return(I(col))
  }
  lens <- lengths(vals)
  if (any(lens > 1L)) return(NULL)
  one <- lens == 1L
  if (identical(vr, "PN")) {
    # Each value an object of name groups: its Alphabetic group.
    first <- lapply(vals[one], `[[`, 1L)
    if (!all(vapply(first, is.list, NA))) return(NULL)
    alpha <- lapply(first, `[[`, "Alphabetic")
    alpha[!lengths(alpha)] <- NA_character_
    flat <- unlist(alpha, use.names = FALSE)
    if (length(flat) != length(alpha) || !is.character(flat)) return(NULL)
    chr <- rep(NA_character_, n)
    chr[which(present)[one]] <- flat
    chr[!is.na(chr) & !nzchar(trimws(chr))] <- NA_character_
    return(chr)
  }
  flat <- unlist(vals[one], use.names = FALSE)
  if (length(flat) != sum(one) || !(is.character(flat) || is.numeric(flat))) return(NULL)
  has <- which(present)[one]
  numeric_vr <- !is.na(vr) && vr %in% numeric_vrs
  if (is.numeric(flat)) {
    if (!numeric_vr) return(NULL)
    out <- rep(NA_real_, n)
    out[has] <- as.numeric(flat)
    return(out)
  }
  chr <- rep(NA_character_, n)
  chr[has] <- flat
  chr[!is.na(chr) & !nzchar(trimws(chr))] <- NA_character_
  if (is.na(vr)) return(chr)
  if (vr == "DA") return(parse_dicom_date(chr))
  if (numeric_vr) {
    if (any(grepl("\\", chr, fixed = TRUE))) return(chr)
    return(suppressWarnings(as.numeric(trimws(chr))))
  }
  chr
}

# The value of one DICOM JSON attribute, as the simplified tags of Orthanc give
# it: a vector of values (PN: their Alphabetic text), a list of items (SQ),
# the URI of bulk data, NULL when absent.
dicom_json_value <- function(element, vr) {
  if (!is.list(element)) return(NULL)
  if (!is.null(element$BulkDataURI)) return(element$BulkDataURI)
  if (!is.null(element$InlineBinary)) return(element$InlineBinary)
  value <- element$Value
  if (is.null(value) || !length(value)) {
    return(if (identical(vr, "SQ")) list() else NULL)
  }
  if (identical(vr, "SQ")) return(value)
  if (identical(vr, "PN")) {
    return(vapply(value, function(p) {
      if (is.list(p)) p$Alphabetic %||% NA_character_ else if (is.character(p)) p else NA_character_
    }, ""))
  }
  vapply(value, function(v) if (is.null(v)) "" else format(v, digits = 15), "")
}

# Frames ----------------------------------------------------------------------

# Uncompressed frames (raw vectors) -> an array, read with the instance's
# metadata (DICOM JSON): rows x columns [x frames] [x samples].
frames_array <- function(parts, types, meta, call) {
  num <- function(tag) {
    v <- meta[[tag]]$Value
    if (is.null(v) || !length(v)) NA_real_ else as.numeric(v[[1L]])
  }
  rows <- num("00280010")
  cols <- num("00280011")
  bits <- num("00280100")
  samples <- num("00280002")
  signed <- identical(num("00280103"), 1)
  if (is.na(samples)) samples <- 1
  ts <- regmatches(types, regexpr("transfer-syntax=[^;]+", types))
  compressed <- length(ts) && any(!sub("transfer-syntax=", "", ts) %in% c("1.2.840.10008.1.2.1", "1.2.840.10008.1.2"))
  if (anyNA(c(rows, cols, bits)) || !bits %in% c(8, 16, 32) || compressed) {
    orthanc_abort("decode", c(
      "Cannot read these frames as an array.",
      x = if (compressed) "They are compressed ({ts[1]})." else "The metadata lacks Rows, Columns or BitsAllocated (or BitsAllocated is not 8, 16 or 32).",
      i = "Use {.code as = \"raw\"}, or ask for an uncompressed transfer syntax."
    ), call = call)
  }
  size <- bits / 8
  per_frame <- rows * cols * samples
  arrays <- lapply(parts, function(p) {
    v <- readBin(p, "integer", n = per_frame, size = size, signed = signed || size == 4, endian = "little")
    if (length(v) != per_frame) {
      orthanc_abort("decode", "A frame has {length(p)} bytes, not the {per_frame * size} its metadata announces.", call = call)
    }
    a <- array(v, c(samples, cols, rows))
    aperm(a, c(3L, 2L, 1L))
  })
  n <- length(arrays)
  out <- array(unlist(arrays, use.names = FALSE), c(rows, cols, samples, n))
  out <- aperm(out, c(1L, 2L, 4L, 3L))
  dims <- c(rows, cols, if (n > 1L) n, if (samples > 1L) samples)
  array(out, dims)
}

# Rendered images ---------------------------------------------------------------

new_orthanc_image <- function(data, media_type) {
  structure(list(data = data, media_type = sub(";.*$", "", media_type)), class = "orthanc_image")
}

#' Rendered images of a DICOMweb server
#'
#' The `retrieve_*_rendered()` and `retrieve_*_thumbnail()` methods of
#' [DicomWeb] answer an `orthanc_image`: the bytes of a JPEG or PNG image
#' (`data`) and its `media_type`. `as.raster()` decodes it (with the package
#' jpeg or png, whichever the image needs); `plot()` draws it; [writeBin()]
#' of `x$data` saves it.
#'
#' @param x An `orthanc_image`.
#' @param ... Passed to [graphics::plot()] of the raster.
#' @return `as.raster()`: a raster; `plot()`: the raster, invisibly.
#' @name orthanc_image
#' @examplesIf nzchar(Sys.getenv("ORTHANC_URL")) && requireNamespace("jpeg", quietly = TRUE)
#' o <- Orthanc$new()
#' dw <- dicomweb(o)
#' studies <- dw$search_for_studies(limit = 1)
#' if (nrow(studies)) {
#'   img <- dw$retrieve_study_thumbnail(studies$StudyInstanceUID[1])
#'   img
#'   dim(grDevices::as.raster(img))
#' }
#' @rawNamespace S3method(grDevices::as.raster, orthanc_image)
as.raster.orthanc_image <- function(x, ...) {
  call <- quote(as.raster())
  pkg <- switch(x$media_type, "image/jpeg" = "jpeg", "image/png" = "png", NA_character_)
  if (is.na(pkg)) {
    orthanc_abort("argument", c(
      "Cannot decode an image of type {.val {x$media_type}}.",
      i = "Ask for {.val image/jpeg} or {.val image/png} ({.arg media_type})."
    ), call = call)
  }
  if (!requireNamespace(pkg, quietly = TRUE)) {
    orthanc_abort("argument", c(
      "Decoding a {x$media_type} image needs the package {.val {pkg}}.",
      i = "Install it: {.code install.packages(\"{pkg}\")}."
    ), call = call)
  }
  decode <- if (pkg == "jpeg") getExportedValue("jpeg", "readJPEG") else getExportedValue("png", "readPNG")
  img <- tryCatch(decode(x$data), error = function(e) {
    orthanc_abort("decode", c("Cannot decode the {x$media_type} image.", x = "{conditionMessage(e)}"), call = call)
  })
  grDevices::as.raster(img)
}

#' @rdname orthanc_image
#' @rawNamespace S3method(plot, orthanc_image)
plot.orthanc_image <- function(x, ...) {
  r <- as.raster.orthanc_image(x)
  graphics::plot(r, ...)
  invisible(r)
}

#' @export
print.orthanc_image <- function(x, ...) {
  cli::cat_line("<orthanc_image> ", x$media_type, ", ", length(x$data), " bytes")
  invisible(x)
}

# Errors ----------------------------------------------------------------------

# The condition of a failed DICOMweb answer (the client's describe_failure):
# transfer errors as for Orthanc; HTTP errors with the server's own words
# (an Orthanc error body, sent as JSON or as text; a DICOM JSON status or
# failure reason) and its Warning headers.
dicomweb_condition <- function(res, method, version, call, ids = NA) {
  if (!is.null(res$error)) {
    return(transport_condition(res, method, call, server = "the DICOMweb server"))
  }
  url <- res$url
  status <- res$status
  body <- res$body
  if (is.character(body) && length(body) == 1L && grepl("^\\s*[[{]", body)) {
    parsed <- tryCatch(rs_from_json(body), error = function(e) NULL)
    if (is.list(parsed) && !(length(parsed) == 2L && identical(names(parsed), c("error", "message")))) body <- parsed
  }
  warning <- unname(res$headers[names(res$headers) == "warning"])
  status_text <- trimws(paste(status, http_reason(status)))
  bullets <- "The DICOMweb server answered {status_text} to {method} {.url {url}}."
  if (is.list(body)) {
    what <- body$Message %||% body$OrthancError
    if (!is.null(what)) bullets <- c(bullets, x = "{what}")
    details <- body$Details
    if (!is.null(details)) bullets <- c(bullets, x = "Details: {details}")
    dicom <- dicom_status_text(body)
    if (length(dicom)) bullets <- c(bullets, stats::setNames(dicom, rep("x", length(dicom))))
  } else if (is.character(body) && length(body) == 1L && nzchar(body)) {
    text <- substr(body, 1L, 500L)
    bullets <- c(bullets, x = "{text}")
  }
  for (w in warning) bullets <- c(bullets, "!" = paste("Warning:", w))
  hint <- switch(as.character(status),
    "401" = "Check the user name and password, or the token (arguments of {.fn DicomWeb$new} or {.envvar ORTHANC_USERNAME} / {.envvar ORTHANC_PASSWORD} / {.envvar ORTHANC_TOKEN}).",
    "403" = "This user is not allowed to do this on the server.",
    "404" = "Check the UIDs: the server has no such study, series or instance (or no DICOMweb service at this URL).",
    "406" = "The server cannot answer in the media type or transfer syntax asked for.",
    "409" = "The server stored none or only some of the instances (see the failure reasons).",
    "415" = "The server did not accept the type of data sent.",
    NULL
  )
  if (!is.null(hint)) bullets <- c(bullets, i = hint)
  orthanc_condition("http", bullets,
    status = status, method = method, url = url,
    error_body = if (is.list(body)) body else NULL,
    warning = if (length(warning)) warning,
    call = call
  )
}

# A successful answer's Warning headers (e.g. "299 host: The fuzzymatching
# parameter is not supported") as an R warning of class
# orthanc_dicomweb_warning (field `warning`).
dicomweb_warn <- function(headers, call) {
  w <- unname(headers[names(headers) == "warning"])
  if (!length(w)) return(invisible())
  msg <- format_bullets(c("The DICOMweb server warns:", stats::setNames(w, rep("!", length(w)))), environment())
  warning(warningCondition(msg, warning = w, class = c("orthanc_dicomweb_warning", "orthanc_warning"), call = call))
}

# Reasons in a DICOM JSON answer: its Status (0000,0900) and ErrorComment
# (0000,0902), and the failure reasons of its FailedSOPSequence (0008,1198).
dicom_status_text <- function(body) {
  first <- function(d, tag) {
    v <- d[[tag]]$Value
    if (is.list(v) && length(v)) v[[1L]] else NULL
  }
  out <- character()
  if (!is.null(names(body)) && !is.null(body[["00000900"]])) {
    st <- first(body, "00000900")
    if (!is.null(st)) out <- c(out, paste0("DICOM status 0x", sprintf("%04X", as.integer(st))))
  }
  comment <- if (!is.null(names(body))) first(body, "00000902")
  if (!is.null(comment)) out <- c(out, as.character(comment))
  failed <- if (!is.null(names(body))) body[["00081198"]]$Value
  if (length(failed)) {
    reasons <- vapply(failed, function(item) {
      r <- first(item, "00081197")
      uid <- first(item, "00081155") %||% "?"
      paste0(uid, ": ", failure_reason_text(r))
    }, "")
    shown <- utils::head(reasons, 3L)
    if (length(reasons) > 3L) shown <- c(shown, paste("and", length(reasons) - 3L, "more"))
    out <- c(out, paste("Failed:", shown))
  }
  out
}

# A FailureReason or WarningReason code (DICOM PS3.4 and PS3.18) as text.
failure_reason_text <- function(code) {
  if (is.null(code)) return("no reason given")
  code <- as.integer(code)
  known <- c(
    "272" = "processing failure (0x0110)", "290" = "no such SOP class (0x0122)",
    "274" = "no such object instance (0x0112)", "42752" = "out of resources (0xA700)",
    "43264" = "data set does not match SOP class (0xA900)", "49152" = "cannot understand (0xC000)",
    "49442" = "referenced transfer syntax not supported (0xC122)",
    "45056" = "coercion of data elements (0xB000)", "45063" = "elements discarded (0xB007)",
    "45062" = "data set does not match SOP class (0xB006)",
    "42753" = "out of resources (0xA701)"
  )
  text <- known[as.character(code)]
  if (is.na(text)) sprintf("reason 0x%04X", code) else unname(text)
}

# WADO-RS to a folder ----------------------------------------------------------

# Retrieve studies, series or instances (`uids`: list of equal-length vectors
# `study`, and `series`, `instance` when given) into the folder `path`: one
# request per row through the batch engine (orthanc_request(parts_dir =)),
# each answer's parts streamed by Rust into a temporary folder of its own
# inside `path` (part-NNNNNN.dcm, written under temporary names and renamed
# when complete), then renamed to <SOPInstanceUID>.dcm (read from each file,
# rs_dicom_ids()).
dicomweb_retrieve <- function(private, uids, path, transfer_syntax, concurrency, progress, call) {
  path <- prepare_out_dir(path, call)
  if (!is.null(concurrency) && (!is_number(concurrency) || concurrency < 1)) {
    orthanc_abort("argument", "{.arg concurrency} must be NULL or a number >= 1.", call = call)
  }
  check_progress_arg(progress, call)
  accept <- multipart_accept("application/dicom", transfer_syntax, call)
  n <- length(uids$study)
  temp <- vapply(seq_len(n), function(i) tempfile("dicomweb-", tmpdir = path), "")
  on.exit(unlink(temp, recursive = TRUE), add = TRUE)
  requests <- lapply(seq_len(n), function(i) {
    route <- c(private$root, "studies", uids$study[i],
      if (!is.null(uids$series)) c("series", uids$series[i]),
      if (!is.null(uids$instance)) c("instances", uids$instance[i])
    )
    dir.create(temp[i])
    orthanc_request("GET", route, headers = list(Accept = accept), parts_dir = temp[i])
  })
  what <- if (!is.null(uids$instance)) "instance" else if (!is.null(uids$series)) "series" else "study"
  answers <- private$run_batch(requests, concurrency, progress_as(progress, paste0("Retrieving ", what)), call = call)
  rows <- list()
  failed <- NULL
  for (i in seq_len(n)) {
    a <- answers[[i]]
    if (inherits(a, "condition")) {
      failed <- failed %||% a
      next
    }
    files <- a$files %||% character()
    if (!length(files)) next
    ids <- local_instance_ids(files)
    sop <- ids$sop_instance_uid
    name <- ifelse(is.na(sop), paste0(uids$study[i], "-", basename(files)), paste0(sop, ".dcm"))
    dest <- file.path(path, name)
    ok <- file.rename(files, dest)
    if (!all(ok)) {
      orthanc_abort("io", "Cannot move the retrieved files into {.path {path}}.", call = call)
    }
    rows[[length(rows) + 1L]] <- data.frame(
      study_instance_uid = uids$study[i],
      series_instance_uid = if (!is.null(uids$series)) uids$series[i] else NA_character_,
      sop_instance_uid = sop, path = dest, stringsAsFactors = FALSE
    )
  }
  if (!is.null(failed)) stop(failed)
  if (!length(rows)) {
    return(data.frame(
      study_instance_uid = character(), series_instance_uid = character(),
      sop_instance_uid = character(), path = character(), stringsAsFactors = FALSE
    ))
  }
  out <- do.call(rbind, rows)
  rownames(out) <- NULL
  out
}

# STOW-RS ----------------------------------------------------------------------

# Store the DICOM files of `path` (files, folders, ZIP archives) in requests
# of at most `max_request_size` bytes (orthanc_request(multipart =): bodies of
# known length streamed by Rust from the files), sent through the batch
# engine; one report row per DICOM file, read from the answers' sequences.
dicomweb_store <- function(self, private, path, recursive, study_instance_uid, max_request_size,
                           concurrency, progress, call) {
  if (!is.character(path) || !length(path) || anyNA(path) || !all(nzchar(path))) {
    orthanc_abort("argument", "{.arg path} must be a character vector of paths of files or folders.", call = call)
  }
  check_flag_arg(recursive, "recursive", call)
  if (!is.null(study_instance_uid)) uid_arg(study_instance_uid, "study_instance_uid", call)
  check_arg(is_number(max_request_size) && max_request_size >= 1, max_request_size,
    "max_request_size", "a number of bytes >= 1", call
  )
  if (!is.null(concurrency) && (!is_number(concurrency) || concurrency < 1)) {
    orthanc_abort("argument", "{.arg concurrency} must be NULL or a number >= 1.", call = call)
  }
  check_progress_arg(progress, call)
  files <- upload_files(path, recursive, call)
  kind <- vapply(files, file_kind, "", USE.NAMES = FALSE)
  # The DICOM files to send, and the path each is reported under (an archive's
  # members under the archive's path).
  send <- character()
  shown <- character()
  skipped <- list()
  unzipped <- character()
  on.exit(unlink(unzipped, recursive = TRUE), add = TRUE)
  for (i in seq_along(files)) {
    if (kind[i] == "dicom") {
      send <- c(send, files[i])
      shown <- c(shown, files[i])
    } else if (kind[i] == "zip") {
      dir <- tempfile("stow-zip-")
      unzipped <- c(unzipped, dir)
      members <- tryCatch(utils::unzip(files[i], exdir = dir), warning = function(w) character(), error = function(e) character())
      members <- members[file.exists(members) & !dir.exists(members)]
      dicom <- members[vapply(members, file_kind, "", USE.NAMES = FALSE) == "dicom"]
      if (!length(dicom)) {
        skipped[[length(skipped) + 1L]] <- stow_row(files[i], "Skipped", message = "no DICOM file in the archive")
      }
      send <- c(send, dicom)
      shown <- c(shown, rep(files[i], length(dicom)))
    } else {
      skipped[[length(skipped) + 1L]] <- stow_row(files[i], "Skipped", message = kind[i])
    }
  }
  rows <- list()
  if (length(send)) {
    sop <- local_instance_ids(send)$sop_instance_uid
    sizes <- file.size(send)
    chunk <- stow_chunks(sizes, max_request_size)
    route <- c(private$root, "studies", study_instance_uid)
    groups <- split(seq_along(send), chunk)
    requests <- lapply(groups, function(idx) {
      orthanc_request("POST", if (length(route) > 1L) route else paste0("/", route),
        headers = list(Accept = "application/dicom+json"), multipart = send[idx]
      )
    })
    answers <- private$run_batch(unname(requests), concurrency, progress_as(progress, "Storing"), call = call)
    for (k in seq_along(groups)) {
      idx <- groups[[k]]
      rows <- c(rows, stow_answer_rows(shown[idx], sop[idx], answers[[k]]))
    }
  }
  report <- bind_rows_of(c(rows, skipped))
  class(report) <- c("orthanc_stow_report", "orthanc_upload_report", "data.frame")
  report
}

stow_row <- function(path, status, sop = NA_character_, url = NA_character_, message = NA_character_) {
  list(path = path, status = status, sop_instance_uid = sop, retrieve_url = url, message = message)
}

# Chunk numbers for files of these sizes: consecutive files, at most
# `max_size` bytes and 1000 files a chunk (a larger file alone).
stow_chunks <- function(sizes, max_size, max_files = 1000L) {
  out <- integer(length(sizes))
  k <- 1L
  total <- 0
  count <- 0L
  for (i in seq_along(sizes)) {
    if (count > 0L && (total + sizes[i] > max_size || count >= max_files)) {
      k <- k + 1L
      total <- 0
      count <- 0L
    }
    out[i] <- k
    total <- total + sizes[i]
    count <- count + 1L
  }
  out
}

# The report rows of one STOW request: its files (`paths`, their SOP Instance
# UIDs `sop`) matched with the answer's ReferencedSOPSequence (stored) and
# FailedSOPSequence (not stored); the answer is the DICOM JSON of a success,
# or the condition of a failure (whose error_body may still hold both).
stow_answer_rows <- function(paths, sop, answer) {
  body <- if (inherits(answer, "condition")) answer$error_body else answer
  items <- function(tag) {
    if (!is.list(body) || is.null(names(body))) return(list())
    body[[tag]]$Value %||% list()
  }
  first <- function(d, tag) {
    v <- d[[tag]]$Value
    if (is.list(v) && length(v)) as.character(v[[1L]]) else NA_character_
  }
  ref <- items("00081199")
  fail <- items("00081198")
  ref_uid <- vapply(ref, first, "", tag = "00081155")
  fail_uid <- vapply(fail, first, "", tag = "00081155")
  lapply(seq_along(paths), function(i) {
    j <- match(sop[i], ref_uid)
    if (!is.na(j)) {
      warn <- ref[[j]][["00081196"]]$Value
      return(stow_row(paths[i], "Success", sop[i], first(ref[[j]], "00081190"),
        if (length(warn)) paste("Warning:", failure_reason_text(warn[[1L]])) else NA_character_
      ))
    }
    j <- match(sop[i], fail_uid)
    if (!is.na(j)) {
      reason <- fail[[j]][["00081197"]]$Value
      return(stow_row(paths[i], "Failed", sop[i],
        message = failure_reason_text(if (length(reason)) reason[[1L]])
      ))
    }
    message <- if (inherits(answer, "condition")) error_text(answer) else "not in the server's answer"
    stow_row(paths[i], "Failed", sop[i], message = message)
  })
}
