#' An Orthanc job
#'
#' @description
#' Orthanc runs long operations (asynchronous modifications, archives,
#' transfers to modalities and peers) as jobs. A `Job` follows one by its
#' identifier; every field asks the server (`GET /jobs/{id}`).
#'
#' `wait_until_completion()` polls the job until it succeeds (returning the
#' job) or fails, raising an `orthanc_job_error` (inheriting from
#' `orthanc_error`) with the fields `job_id`, `error_code` (Orthanc's numeric
#' code), `error_description` and `details` (Orthanc's `ErrorDetails`, the
#' reason, e.g. the DICOM association that could not be made). Waiting longer
#' than `timeout` raises `orthanc_job_timeout_error` (an
#' `orthanc_timeout_error`); the job keeps running.
#'
#' @param id Orthanc identifier of the job.
#' @param client An [Orthanc] client.
#'
#' @export
#' @examplesIf nzchar(Sys.getenv("ORTHANC_URL"))
#' o <- Orthanc$new()
#' # Sample files of the package: two MR slices (Brainix) and a CT image
#' stored <- upload(o, system.file("extdata", package = "orthanc"), check_before_upload = TRUE)
#' study <- Study$new(stored$parent_study[[1]], o)
#' job <- study$anonymize_as_job()
#' job$wait_until_completion()
#' job$state
#' anonymized <- job$content$ID
#' Study$new(anonymized, o)$patient_information$PatientName
#' o$delete_studies_id(anonymized)
#' # Delete what this example stored (not what the server already had)
#' for (id in stored$id[stored$status == "Success"]) o$delete_instances_id(id)
Job <- R6::R6Class("Job",
  cloneable = FALSE,
  public = list(
    #' @description Make a job object (no request is sent).
    initialize = function(id, client) {
      check_string_arg(id, "id", call = quote(Job$new()))
      check_client(client, call = quote(Job$new()))
      private$.id <- id
      private$.client <- client
      invisible(self)
    },

    #' @description The job's description (`GET /jobs/{id}`).
    #' @return A named list as Orthanc gives it.
    get_information = function() {
      private$.client$get_jobs_id(private$.id)
    },

    #' @description Wait until the job ends, reading its state every
    #'   `interval` seconds, with a progress bar of the job's percentage (see
    #'   `progress`).
    #' @param interval Seconds between two polls.
    #' @param timeout Seconds to wait at most (`Inf`: no limit).
    #' @param progress Show a progress bar: `TRUE`, `FALSE`, or `NULL` (the
    #'   default: the option `orthanc.progress`, else only in interactive
    #'   sessions); see [orthanc_options].
    #' @return The job, invisibly, once it succeeded.
    wait_until_completion = function(interval = 0.5, timeout = Inf, progress = NULL) {
      call <- quote(wait_until_completion())
      if (!is_number(interval) || interval < 0) {
        orthanc_abort("argument", "{.arg interval} must be a number of seconds >= 0.", call = call)
      }
      if (!is_number(timeout) || timeout < 0) {
        orthanc_abort("argument", "{.arg timeout} must be a number of seconds >= 0 (or Inf).", call = call)
      }
      check_progress_arg(progress, call)
      id <- private$.id
      deadline <- Sys.time() + timeout
      bar <- progress_bar(progress, paste("Orthanc job", substr(id, 1L, 8L)), total = 100)
      repeat {
        info <- self$get_information()
        state <- info$State
        progress_set(bar, as.numeric(info$Progress %||% 0))
        if (identical(state, "Success")) {
          return(invisible(self))
        }
        if (identical(state, "Failure")) {
          job_failure(info, id, call)
        }
        if (Sys.time() >= deadline) {
          layer_abort("job_timeout", c(
            "Orthanc job {.val {id}} did not finish within {timeout} s.",
            x = "It is {state} ({info$Progress %||% 0}% done).",
            i = "Wait longer ({.arg timeout}) or cancel it with {.code $cancel()}."
          ), job_id = id, state = state, call = call)
        }
        Sys.sleep(interval)
      }
    },

    #' @description Cancel the job.
    #' @return The job, invisibly.
    cancel = function() {
      private$.client$post_jobs_id_cancel(private$.id)
      invisible(self)
    },

    #' @description Pause the job.
    #' @return The job, invisibly.
    pause = function() {
      private$.client$post_jobs_id_pause(private$.id)
      invisible(self)
    },

    #' @description Resume a paused job.
    #' @return The job, invisibly.
    resume = function() {
      private$.client$post_jobs_id_resume(private$.id)
      invisible(self)
    },

    #' @description Submit again a job that failed or was cancelled.
    #' @return The job, invisibly.
    resubmit = function() {
      private$.client$post_jobs_id_resubmit(private$.id)
      invisible(self)
    },

    #' @description Print the job on one line.
    #' @param ... Unused.
    print = function(...) {
      info <- tryCatch(self$get_information(), orthanc_error = function(e) NULL)
      if (is.null(info)) {
        cat("<Job> ", private$.id, " (unavailable)\n", sep = "")
      } else {
        cat("<Job> ", private$.id, " ", info$Type, ": ", info$State, " (",
          info$Progress, "%)\n",
          sep = ""
        )
      }
      invisible(self)
    }
  ),
  active = list(
    #' @field identifier Orthanc identifier of the job.
    identifier = function(value) {
      check_read_only(value, "identifier")
      private$.id
    },
    #' @field state `"Pending"`, `"Running"`, `"Success"`, `"Failure"`,
    #'   `"Paused"` or `"Retry"`.
    state = function(value) {
      check_read_only(value, "state")
      self$get_information()$State
    },
    #' @field progress Percentage done (0-100).
    progress = function(value) {
      check_read_only(value, "progress")
      as.numeric(self$get_information()$Progress)
    },
    #' @field type Type of job (e.g. `"ResourceModification"`, `"DicomMoveScu"`).
    type = function(value) {
      check_read_only(value, "type")
      self$get_information()$Type
    },
    #' @field content What the job did or is doing (named list).
    content = function(value) {
      check_read_only(value, "content")
      self$get_information()$Content
    },
    #' @field error Orthanc's error description (`"Success"` when none).
    error = function(value) {
      check_read_only(value, "error")
      self$get_information()$ErrorDescription
    },
    #' @field error_details Details of the error (empty when none).
    error_details = function(value) {
      check_read_only(value, "error_details")
      self$get_information()$ErrorDetails %||% ""
    },
    #' @field priority Priority of the job.
    priority = function(value) {
      check_read_only(value, "priority")
      self$get_information()$Priority
    },
    #' @field creation_time When the job was made (POSIXct, UTC).
    creation_time = function(value) {
      check_read_only(value, "creation_time")
      parse_orthanc_time(self$get_information()$CreationTime)
    },
    #' @field completion_time When the job ended (POSIXct, UTC; `NA` while it
    #'   runs).
    completion_time = function(value) {
      check_read_only(value, "completion_time")
      parse_orthanc_time(self$get_information()$CompletionTime)
    }
  ),
  private = list(
    .id = NULL,
    .client = NULL
  )
)

job_failure <- function(info, id, call) {
  description <- info$ErrorDescription %||% "unknown error"
  details <- info$ErrorDetails %||% ""
  code <- info$ErrorCode %||% NA_integer_
  type <- info$Type %||% "job"
  bullets <- c("Orthanc job {.val {id}} ({type}) failed.", x = "{description} (error code {code}).")
  if (nzchar(details)) bullets <- c(bullets, x = "Details: {details}")
  bullets <- c(bullets, i = "The job's description is in the {.field info} field of this error; {.code $resubmit()} runs it again.")
  layer_abort("job", bullets,
    job_id = id, error_code = code, error_description = description,
    details = details, info = info, call = call
  )
}
