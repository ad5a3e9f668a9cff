#' orthanc: an R client for the Orthanc DICOM server
#'
#' The whole REST API of [Orthanc](https://www.orthanc-server.com/) from R,
#' with the HTTP and JSON work done in Rust.
#'
#' - **The client**: [Orthanc] (`Orthanc$new()`), one method per route of
#'   Orthanc's API (generated from its OpenAPI description), plus `GET()`,
#'   `POST()`, `PUT()`, `DELETE()`, `stream()` and `batch()` (many requests at
#'   once, see [orthanc_request()]).
#' - **Resources**: [Patient], [Study], [Series], [Instance] objects; lists of
#'   them become data frames with `as.data.frame()`.
#' - **Finding**: [find_patients()], [find_studies()], [find_series()],
#'   [find_instances()], [query_orthanc()], [find_and_filter_patients()].
#' - **Moving data**: [upload()]; [retrieve_and_write_patients()] and its
#'   siblings for files, archives, previews and NIfTI.
#' - **Images**: [pixel_array()], [series_pixel_array()], [pixel_raster()].
#' - **Jobs and networks**: [Job], [Modality], [Peer].
#' - **Errors**: every failure is a condition of class `orthanc_error`; see
#'   [orthanc_error].
#' - **Settings**: [orthanc_options].
#' - **Tests and demos**: [local_orthanc()] (a throwaway server),
#'   [local_orthanc_mock()] (no server at all).
#'
#' @keywords internal
"_PACKAGE"

## usethis namespace: start
#' @importFrom R6 R6Class
## usethis namespace: end
NULL
