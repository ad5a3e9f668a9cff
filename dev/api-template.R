#' Orthanc API Client
#'
#' @description
#' Orthanc is an open-source, lightweight DICOM server for healthcare and
#' medical research. This `R6` generator creates a client to access
#' Orthanc's RESTful API. More details about the Orthanc REST API can be
#' found here: <https://orthanc.uclouvain.be/book/users/rest.html>.
#'
#' The full documentation of the Orthanc API can be found here:
#' <https://orthanc.uclouvain.be/api/>.
#'
#' @section JSON and R:
#' Answers are converted from JSON to R as follows:
#' - object: named list;
#' - array: unnamed list;
#' - string: `character(1)`;
#' - number that is an integer fitting in 32 bits: `integer(1)`;
#' - any other number: `double(1)`;
#' - `true`/`false`: `TRUE`/`FALSE`;
#' - `null`: `NULL`.
#'
#' Request bodies (`json`) are converted from R to JSON as follows:
#' - named list: object; an empty named list
#'   (`structure(list(), names = character())`) gives `{}`;
#' - unnamed list: array;
#' - atomic vector of length 1: scalar;
#' - longer atomic vector: array;
#' - `I(x)`: always an array, even when `x` has length 1;
#' - `NULL` or `NA` (also `NaN` and `Inf`): `null`;
#' - a factor: its levels, as text (`null` for `NA`);
#' - a `Date`: `"YYYY-MM-DD"` (years 1000 to 9999), as jsonlite writes it;
#' - jsonlite's `unbox(x)`: the scalar `x`.
#'
#' This is what `jsonlite::toJSON(x, auto_unbox = TRUE, null = "null",
#' na = "null", digits = NA)` writes for the same objects. Objects whose class or
#' shape these rules do not cover are refused with an `orthanc_argument_error`
#' naming the element (e.g. `json$Query$StudyDate`), before anything is sent:
#' data frames (give `as.list(df)`), matrices and arrays (give `as.vector(x)`
#' or a list of rows), date-times (`POSIXct`, `POSIXlt`: give text, e.g.
#' `format(x, "%Y%m%d")`), `difftime`, other classes (S3 or S4: give
#' `unclass(x)` or a list), functions, environments, raw and complex vectors,
#' lists with some empty, `NA` or repeated names, strings in `"bytes"`
#' encoding or not valid UTF-8 (Latin-1 and native text are converted to
#' UTF-8), and bodies nested more than 100 levels deep.
#'
#' Text bodies (`data`) are sent as given: a string as `text/plain` (UTF-8), a
#' raw vector as `application/octet-stream`. On the `POST` endpoint methods that
#' take a JSON body, leaving `json = NULL` sends `{}`, i.e. Orthanc's defaults.
#'
#' What a method returns depends on the content type of the answer:
#' - JSON (`application/json`): the list described above;
#' - plain text (`text/plain`): `character(1)`;
#' - anything else (DICOM files, images, archives, ...): a raw vector;
#' - an empty answer (and `304 Not Modified`): `NULL`, invisibly.
#'
#' Answers to `DELETE` requests are returned invisibly. The status and headers
#' of the last answer (e.g. the `ETag` of an attachment, for `If-Match`) are
#' given by [orthanc_last_response()].
#'
#' @section Errors:
#' Failures are R conditions inheriting from `orthanc_error`; see
#' [orthanc_error] for the classes and their fields.
#'
#' @return An `Orthanc` instance.
#'
#' @seealso The endpoint methods by group, each with its route:
#'   [orthanc_endpoints_instances], [orthanc_endpoints_patients],
#'   [orthanc_endpoints_studies], [orthanc_endpoints_series],
#'   [orthanc_endpoints_system], [orthanc_endpoints_networking], ...;
#'   options of the client: [orthanc_options].
#'
#' @examples
#' # Making a client sends no request (URL and credentials may also come from
#' # ORTHANC_URL, ORTHANC_USERNAME and ORTHANC_PASSWORD):
#' o <- Orthanc$new("https://pacs.example.org", "me", "secret", timeout = 120)
#' o$url
#' @examplesIf nzchar(Sys.getenv("ORTHANC_URL"))
#' o <- Orthanc$new()
#' o$server_version
#' o$num_instances
#' # Every route of the REST API is a method:
#' o$get_system()$ApiVersion
#' file <- system.file("extdata", "Lena-1.dcm", package = "orthanc")
#' stored <- upload(o, file, check_before_upload = TRUE)
#' id <- stored$id
#' o$get_instances_id_simplified_tags(id)$SOPClassUID
#' # or any route, through GET(), POST(), PUT(), DELETE():
#' unlist(o$GET(paste0("/instances/", id, "/metadata")))
#' # Failures are classed conditions:
#' tryCatch(
#'   o$get_instances_id("no-such-id"),
#'   orthanc_http_404 = function(e) conditionMessage(e)
#' )
#' # Delete what this example stored (not what the server already had)
#' if (stored$status == "Success") o$delete_instances_id(id)
#'
#' @include client.R conditions.R
#' @export
Orthanc <- R6::R6Class(
  "Orthanc",
  cloneable = FALSE,
  public = list(
    #' @field url URL for Orthanc REST API.
    url = NULL,

    #' @field api_version Orthanc API version.
    api_version = "<<< api_version >>>",

    #' @description
    #' Initialize a new Orthanc API Client
    #'
    #' @param url URL for Orthanc REST API.
    #' @param username Optional username for Basic HTTP authentication.
    #' @param password Optional password for Basic HTTP authentication.
    #' @param token Optional bearer token (`Authorization: Bearer <token>`),
    #'   sent instead of the user name and password, for servers behind a token
    #'   service (`NULL`: the environment variable `ORTHANC_TOKEN`, if set).
    #' @param auth Optional function, called with no argument, that answers a
    #'   new token: called when the client is made without `token`, and when a
    #'   request is refused (401 or 403), once, before the request is sent
    #'   again with the new token. For token services whose tokens expire.
    #' @param ... Options passed on to the client: `timeout`, `retries`,
    #'   `retry_methods`, `verify`, `ca_file`, `cert_file`, `key_file` and
    #'   `user_agent`. See Details and [orthanc_options].
    #'
    #' @details
    #' When `url` is missing it comes from the environment variable
    #' `ORTHANC_URL`, then `http://localhost:8042`; `NULL` credentials come
    #' from `ORTHANC_USERNAME` and `ORTHANC_PASSWORD` when they are set (or
    #' from a URL of the form `http://user:password@host:port`). The password
    #' is kept by the Rust client only: a client restored by [readRDS()] or sent
    #' to another R process takes it from `ORTHANC_PASSWORD`. Making a client
    #' sends no request: a server that is down, or a wrong password, raises its
    #' classed error (`orthanc_connection_error`, `orthanc_http_401`) at the
    #' first request.
    #'
    #' A token is as secret as a password: it is kept by the Rust client only,
    #' never printed, never in an error, in [orthanc_last_response()] or in a
    #' saved client; a restored client takes it from `ORTHANC_TOKEN` or asks
    #' `auth` for a new one.
    #'
    #' Options accepted in `...`:
    #' - `timeout`: (numeric) time limit of a request, in seconds (default
    #'   `60`); it bounds the connection and each wait for data.
    #' - `retries`: (integer) number of times an idempotent request is retried
    #'   after a connection failure, with a growing pause (default `2`).
    #' - `retry_methods`: (character) the HTTP methods that are retried
    #'   (default `"GET"`; `POST` should never be).
    #' - `verify`: (logical) whether the TLS certificate of the server is
    #'   verified (default `TRUE`).
    #' - `ca_file`: (character) path to a PEM file of certificate
    #'   authorities to trust, in addition to the system ones.
    #' - `cert_file`: (character) path to a PEM client certificate, for
    #'   servers requiring mutual TLS.
    #' - `key_file`: (character) path to the PEM private key of
    #'   `cert_file`.
    #' - `user_agent`: (character) the `User-Agent` header of every request
    #'   (default `orthanc-r/<version>`).
    initialize = function(url, username = NULL, password = NULL, token = NULL, auth = NULL, ...) {
      orthanc_initialize(self, private, url, username, password, token, auth, ...)
    },

    #' @description GET request with specified route
    #' @param route HTTP route.
    #' @param params Parameters for the HTTP request.
    #' @param headers Headers for the HTTP request.
    #' @param cookies Cookies for the HTTP request.
    #' @return Serialized response of the HTTP GET request.
    GET = function(route, params = NULL, headers = NULL, cookies = NULL) {
      private$verb("GET", route,
        params = params, headers = headers, cookies = cookies
      )
    },

    #' @description DELETE to specified route
    #' @param route HTTP route.
    #' @param params Parameters for the HTTP request.
    #' @param headers Headers for the HTTP request.
    #' @param cookies Cookies for the HTTP request.
    #' @return Serialized response of the HTTP DELETE request.
    DELETE = function(route, params = NULL, headers = NULL, cookies = NULL) {
      private$verb("DELETE", route,
        params = params, headers = headers, cookies = cookies
      )
    },

    #' @description POST to specified route
    #' @param route HTTP route.
    #' @param file DICOM file to be uploaded or a ZIP archive containing
    #'   DICOM files.
    #' @param json List to be converted to JSON for request body.
    #' @param data Raw data.
    #' @param params Parameters for the HTTP request.
    #' @param headers Headers for the HTTP request.
    #' @param cookies Cookies for the HTTP request.
    #' @return Serialized response of the HTTP POST request.
    POST = function(route, file = NULL, json = NULL, data = NULL,
                    params = NULL, headers = NULL, cookies = NULL) {
      private$verb("POST", route,
        file = file, json = json, data = data,
        params = params, headers = headers, cookies = cookies
      )
    },

    #' @description PUT to specified route
    #' @param route HTTP route.
    #' @param file DICOM file to be uploaded or a ZIP archive containing
    #'   DICOM files.
    #' @param json List to be converted to JSON for request body.
    #' @param data Raw data.
    #' @param params Parameters for the HTTP request.
    #' @param headers Headers for the HTTP request.
    #' @param cookies Cookies for the HTTP request.
    #' @return Serialized response of the HTTP PUT request.
    PUT = function(route, file = NULL, json = NULL, data = NULL,
                   params = NULL, headers = NULL, cookies = NULL) {
      private$verb("PUT", route,
        file = file, json = json, data = data,
        params = params, headers = headers, cookies = cookies
      )
    },

    #' @description Stream an HTTP response body and write to disk.
    #' @param method HTTP method.
    #' @param route HTTP route.
    #' @param params Parameters for the HTTP request.
    #' @param headers Headers for the HTTP request.
    #' @param cookies Cookies for the HTTP request.
    #' @return Serialized response of the HTTP GET request.
    stream = function(method, route, params = NULL, headers = NULL,
                      cookies = NULL) {
      private$stream_request(method, route,
        params = params, headers = headers, cookies = cookies
      )
    },

    #' @description Perform many requests at once
    #'
    #' Sends the requests described by [orthanc_request()] concurrently on
    #' this client's connections, at most `concurrency` at a time, each with
    #' the retries, timeout and interrupt handling of a single request. One
    #' failure does not stop the others.
    #'
    #' @param requests A list of [orthanc_request()] values.
    #' @param concurrency How many requests may be in flight at once (default
    #'   `getOption("orthanc.concurrency", 4)`).
    #' @param progress Show a progress bar: `TRUE`, `FALSE`, or `NULL` (the
    #'   option `orthanc.progress`, else shown in interactive sessions only;
    #'   see [orthanc_options]); a string names the bar.
    #' @return A list with one element per request, in their order: the
    #'   answer's body (converted as for the endpoint methods), the path of the
    #'   file written for a request with `dest`, or, for a request that failed,
    #'   its `orthanc_error` condition (not raised; test with
    #'   `inherits(x, "orthanc_error")`).
    #' @param async `TRUE`: send the requests in the background, as an
    #'   [OrthancAsync] client does, and answer at once a
    #'   [promise][promises::promise] of that list (R is free meanwhile;
    #'   `concurrency` is checked, then the session's bound
    #'   `orthanc.async_max` applies; no progress bar).
    batch = function(requests, concurrency = NULL, progress = NULL, async = FALSE) {
      private$run_batch(requests, concurrency, progress, async = async)
    },

    #' @description Print method for `Orthanc`.
    #' @param x Object to print.
    #' @param ... Further arguments passed to or from other methods.
    print = function(x, ...) {
      orthanc_print(self, private)
    },

    # <<< generated endpoint methods are inserted here >>>
  ),
  active = list(
    #' @field num_instances Number of instances.
    num_instances = function(value) private$statistic("CountInstances", value),

    #' @field num_series Number of series.
    num_series = function(value) private$statistic("CountSeries", value),

    #' @field num_studies Number of studies.
    num_studies = function(value) private$statistic("CountStudies", value),

    #' @field num_patients Number of patients.
    num_patients = function(value) private$statistic("CountPatients", value),

    #' @field server_version Version of the Orthanc server (asked with the
    #'   first use of this field, then remembered).
    server_version = function(value) private$server_version_field(value),

    #' @field capabilities What the server can do, asked with the first use of
    #'   this field (`GET /system` and `GET /plugins`), then remembered: a list
    #'   with `version` (Orthanc's version), `api_version` (its REST API
    #'   version, a number), `extended_find` (`TRUE` when the server sorts and
    #'   counts finds, Orthanc 1.12.5 and later with a database back-end that
    #'   supports it), `extended_changes` (the change log filtered by type and
    #'   range, same conditions), `labels` (labels are supported), `read_only`
    #'   (the server was started with `"ReadOnly": true`, Orthanc 1.12.5 and
    #'   later: it finds and serves, and refuses to store, modify or delete) and
    #'   `plugins` (names of the loaded plugins). Functions that need one of these check
    #'   it before sending anything (see [changes()], [count_studies()]).
    capabilities = function(value) private$capabilities_field(value),

    #' @field last_response Status, URL and headers of the last answer
    #'   received (see [orthanc_last_response()]).
    last_response = function(value) private$last_response_field(value)
  ),
  private = orthanc_private
)
