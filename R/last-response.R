#' Details of the last answer received by a client
#'
#' The endpoint methods return the body of Orthanc's answer. The status and
#' the headers (e.g. an attachment's `ETag` revision, needed with `If-Match`)
#' of the last answer are available here.
#'
#' @param client An [Orthanc] client.
#' @return A list with `status` (integer), `url` (character) and `headers`
#'   (named character vector, lower-case names); `NULL` before the first
#'   answer.
#' @export
#' @examplesIf nzchar(Sys.getenv("ORTHANC_URL"))
#' o <- Orthanc$new()
#' o$get_system()
#' orthanc_last_response(o)$status
orthanc_last_response <- function(client) {
  if (!inherits(client, "Orthanc")) {
    orthanc_abort("argument", "{.arg client} must be an {.cls Orthanc} client.")
  }
  client$last_response
}
