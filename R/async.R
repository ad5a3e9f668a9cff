#' Asynchronous Orthanc client
#'
#' @description
#' `OrthancAsync$new()` makes a client with the same constructor, fields and
#' methods as [Orthanc] (every endpoint method, `GET()`, `POST()`, `PUT()`,
#' `DELETE()`, `stream()`, `batch()`), each answering a
#' [promise][promises::promise] instead of a value. The request is started at
#' once and runs on the package's Rust runtime while R goes on; the promise
#' settles on R's main thread, from [later][later::later]'s event loop (the R
#' console when idle, Shiny, plumber, or [orthanc_await()]), with the value the
#' synchronous method returns, or is rejected with the same classed condition
#' ([orthanc_error]). Nothing else differs: requests are built, checked and
#' decided by the same code as the synchronous client's (the argument errors of
#' a call are raised at once, not through the promise), with the same retries,
#' timeouts, token renewal (`auth`) and streaming to disk (`stream()` and
#' `dest`: written under a temporary name, renamed when complete).
#'
#' No R worker process is used: the transfers run on a background thread of
#' the Rust runtime, which never calls R; R's main thread takes their answers
#' every few milliseconds while some are in flight (a `later` callback,
#' stopped when none is).
#'
#' @details
#' **How many at once.** At most `getOption("orthanc.async_max", 8)`
#' requests of the session are in flight; the others wait in a queue, in the
#' order they were made.
#'
#' **Cancelling.** `client$cancel_all()` cancels the requests of the client
#' that are in flight or queued: their transfers stop, a partial file is
#' removed (before `cancel_all()` returns), and their promises are rejected
#' with an `orthanc_cancelled_error`. It answers how many it cancelled. An
#' interrupt (Ctrl-C), an error or a time limit while [orthanc_await()] waits
#' cancels every request of the session in flight, then goes on as R does.
#'
#' **Fields.** `num_instances`, `num_series`, `num_studies`,
#' `num_patients`, `server_version` and `capabilities` are promises too;
#' `url`, `api_version` and `last_response` are values.
#'
#' **Many files.** The layer functions that move many files have a
#' promise-returning form: [upload()] given an `OrthancAsync` client answers a
#' promise of its report (the same steps, each request in the background);
#' `retrieve_and_write_patients()`, `_studies()`, `_series()`,
#' `_instances()`, `_images()` and `_archives()` take resource objects of a
#' synchronous [Orthanc] client (as do finds and the resource objects) and,
#' with `async = TRUE`, list what to fetch, then download in the background
#' and answer a promise of their data frame. An `Orthanc` client's
#' `batch(async = TRUE)` and an `OrthancAsync` client's `batch()` answer a
#' promise of the list that `batch()` returns (one value or condition per
#' request; e.g. `orthanc_request("GET", c("instances", id, "file"), dest = f)`
#' values); `concurrency` is checked, then the session's bound applies;
#' `progress` is not shown.
#'
#' **Drop-in use.** Code written for the `OrthancAsync` of the CRAN package
#' `orthanc` (0.3.0: `client$get_system()` then [promises::then()] or `%...>%`)
#' runs unchanged. That package runs each request in a `mirai` worker process
#' (its promises are `mirai` objects, collected with `[]`); here promises are
#' `promises` objects: collect one with [orthanc_await()].
#'
#' Needs the packages promises and later (both suggested; without them, an
#' `orthanc_missing_package_error`).
#'
#' @seealso [orthanc_await()], [Orthanc].
#' @name OrthancAsync
#' @examplesIf nzchar(Sys.getenv("ORTHANC_URL")) && requireNamespace("promises", quietly = TRUE)
#' o <- OrthancAsync$new()
#' p <- promises::then(o$get_system(), function(s) s$Version)
#' orthanc_await(p)
#' # Many requests in flight; R is free meanwhile:
#' ids <- orthanc_await(o$get_patients())
#' ps <- lapply(ids, o$get_patients_id)
#' length(orthanc_await(promises::promise_all(.list = ps)))
#' # Failures reject with the synchronous client's classes:
#' tryCatch(orthanc_await(o$get_instances_id("no-such-id")),
#'   orthanc_http_404 = function(e) "not found"
#' )
NULL

#' Wait for a promise of an asynchronous client
#'
#' Runs R's event loop ([later::run_now()]) until `promise` settles, then
#' returns its value or raises the condition it was rejected with. An
#' interrupt (Ctrl-C), an error or the time limit while waiting cancels the
#' requests of the session in flight ([OrthancAsync]'s `cancel_all()`, for
#' every client) before R goes on.
#'
#' @param promise A promise (or a value, returned as it is).
#' @param timeout Seconds to wait at most (`Inf`: no limit); when reached,
#'   an `orthanc_timeout_error`.
#' @return The value of the promise.
#' @seealso [OrthancAsync].
#' @export
orthanc_await <- function(promise, timeout = Inf) {
  if (!is_number(timeout) || is.na(timeout) || timeout <= 0) {
    orthanc_abort("argument", "{.arg timeout} must be a positive number of seconds.", call = quote(orthanc_await()))
  }
  check_async_packages(quote(orthanc_await()))
  # Registered before `promise` is forced: an interrupt while it is computed
  # (e.g. the first promise_all() of a session, which loads packages) cancels too.
  finished <- FALSE
  on.exit(if (!finished) async_cancel(NULL), add = TRUE)
  if (!promises::is.promising(promise)) {
    finished <- TRUE
    return(promise)
  }
  state <- new.env(parent = emptyenv())
  state$done <- FALSE
  promises::then(promises::as.promise(promise),
    onFulfilled = function(value) {
      state$value <- value
      state$done <- TRUE
    },
    onRejected = function(e) {
      state$error <- e
      state$done <- TRUE
    }
  )
  deadline <- Sys.time() + timeout
  while (!state$done) {
    # What is due runs now; the waiting is done here, in R (Sys.sleep(), when
    # nothing was due), where an interrupt reaches this frame at once.
    ran <- later::run_now(0)
    if (!ran && !state$done) Sys.sleep(0.001)
    if (!state$done && Sys.time() > deadline) {
      orthanc_abort("timeout", "The promise was not settled within {timeout} seconds; the requests in flight were cancelled.",
        call = quote(orthanc_await())
      )
    }
  }
  finished <- TRUE
  if (!is.null(state$error)) stop(state$error)
  state$value
}

check_async_packages <- function(call = quote(OrthancAsync$new())) {
  check_packages(c("promises", "later"), "The asynchronous client", call)
}

# The `async` argument of batch() and the layer functions: TRUE or FALSE, and
# when TRUE the packages it needs. Returns it.
check_async_arg <- function(async, call) {
  check_flag_arg(async, "async", call = call)
  if (async) check_async_packages(call)
  async
}

# The members of OrthancAsync that differ from Orthanc's. The endpoint methods
# and verbs are Orthanc's own (generated in R/api-generated.R): they call
# private$request(), which answers a promise when `private$async` is TRUE.
async_public <- list(
  initialize = function(url, username = NULL, password = NULL, token = NULL, auth = NULL, ...) {
    check_async_packages()
    orthanc_initialize(self, private, url, username, password, token, auth, ...,
      .call = quote(OrthancAsync$new())
    )
  },
  batch = function(requests, concurrency = NULL, progress = NULL, async = TRUE) {
    if (!isTRUE(async)) {
      orthanc_abort("argument", c(
        "{.arg async} must be TRUE: the requests of an {.cls OrthancAsync} client run in the background.",
        i = "Use an {.cls Orthanc} client to wait for them."
      ), call = sys.call())
    }
    async_batch(private, requests, concurrency, progress, call = sys.call())
  },
  cancel_all = function() {
    async_cancel(private)
  }
)

async_private <- list(
  async = TRUE,
  statistic = function(field, value) {
    if (!missing(value)) {
      orthanc_abort("argument", "{.field {field}} is read-only.")
    }
    promises::then(private$request("GET", list("statistics")), function(x) x[[field]])
  },
  server_version_field = function(value) {
    if (!missing(value)) {
      orthanc_abort("argument", "{.field server_version} is read-only.")
    }
    if (!is.null(private$version)) return(promises::promise_resolve(private$version))
    promises::then(self$get_system(), function(system) {
      private$version <- system$Version
      private$version
    })
  },
  capabilities_field = function(value) {
    if (!missing(value)) {
      orthanc_abort("argument", "{.field capabilities} is read-only.")
    }
    if (!is.null(private$caps)) return(promises::promise_resolve(private$caps))
    plugins <- promises::catch(self$get_plugins(), function(e) {
      if (inherits(e, "orthanc_http_error")) list() else stop(e)
    })
    promises::then(promises::promise_all(system = self$get_system(), plugins = plugins), function(x) {
      private$version <- x$system$Version
      private$caps <- client_capabilities(x$system, x$plugins)
      private$caps
    })
  }
)

# Documented above (the block on NULL: roxygen's R6 pages would list every
# endpoint method a second time).
#' @include api-generated.R
#' @export
#' @noRd
OrthancAsync <- R6::R6Class(
  "OrthancAsync",
  cloneable = FALSE,
  public = c(
    Orthanc$public_fields,
    utils::modifyList(Orthanc$public_methods, async_public)
  ),
  active = Orthanc$active,
  private = utils::modifyList(orthanc_private, async_private)
)

# Call a method `f` of a synchronous Orthanc `client` as its OrthancAsync twin
# would: the requests it makes start in the background (private$request()
# answers promises while `private$async` is TRUE), and a promise of its value
# is answered; argument errors reject it. For endpoint methods, verbs and
# stream(), each one request (orthanc_browse() uses it).
async_call <- function(client, f, ...) {
  check_async_packages(quote(orthanc_browse()))
  private <- client$.__enclos_env__$private
  promises::promise(function(resolve, reject) {
    private$async <- TRUE
    on.exit(private$async <- FALSE)
    resolve(f(...))
  })
}

# The asynchronous half of the one request path (the private request() of
# R/client.R builds `req` and calls this when `private$async`): the request is
# started in the background; its answer is decided by the same pieces as the
# synchronous path (private$remedy(), private$mend(), private$failure(),
# private$answer_value()).
async_request <- function(private, req, method, path, encode, dest, parts_dir, parts, call) {
  force(call)
  # Argument errors at once, as the synchronous client raises them, not when
  # the request's turn comes: Rust parses the request value without sending
  # it and keeps what it parsed for the start (`prepared`); a route R must
  # convert is converted now (or refused).
  prepared <- NULL
  if (is.null(the$mock)) {
    checked <- .Call(wrap__rs_check_request, private$handle, req)
    if (typeof(checked) == "externalptr") {
      prepared <- checked
    } else if (identical(checked[[1L]], "route")) {
      req$path <- route_segments(path, call)
    } else if (identical(checked[[1L]], "argument")) {
      stop(private$failure(checked, method, path, encode, call))
    }
  }
  promises::promise(function(resolve, reject) {
    tried <- NULL
    on_answer <- function(res) {
      tryCatch(
        if (!is_failure(res)) {
          resolve(private$answer_value(res, dest, parts_dir, parts))
        } else if (is.null(remedy <- private$remedy(res, tried))) {
          reject(private$failure(res, method, path, encode, call))
        } else {
          tried <<- c(tried, remedy)
          req <<- private$mend(remedy, req, path, call)
          async_send(private, req, on_answer)
        },
        error = function(e) reject(e)
      )
    }
    async_send(private, req, on_answer, prepared)
  })
}

# The session's background requests: `pending` (id -> job) in flight in Rust,
# `queue` (jobs waiting for a place), `ready` (answers known without Rust: a
# mock's, or a request Rust refused to start), and whether a poll is scheduled.
async_state <- function() {
  st <- the$async
  if (is.null(st) || !identical(st$pid, Sys.getpid())) {
    st <- new.env(parent = emptyenv())
    st$pid <- Sys.getpid()
    st$pending <- new.env(parent = emptyenv())
    st$n <- 0L
    st$queue <- list()
    st$ready <- list()
    st$polling <- FALSE
    the$async <- st
  }
  st
}

async_max <- function() {
  n <- getOption("orthanc.async_max", 8L)
  if (!is_number(n) || is.na(n) || n < 1) 8L else as.integer(n)
}

# Send a request value in the background; `on_answer(res)` is called on R's
# main thread with its answer (as rs_perform() gives it). `prepared`: what
# rs_check_request() answered for `req`, started in its place (once).
async_send <- function(private, req, on_answer, prepared = NULL) {
  st <- async_state()
  job <- list(owner = private, req = req, on_answer = on_answer, prepared = prepared)
  if (st$n >= async_max() || length(st$queue)) {
    st$queue[[length(st$queue) + 1L]] <- job
  } else {
    async_start(st, job)
  }
  async_schedule(st, 0)
}

async_start <- function(st, job) {
  if (!is.null(the$mock)) {
    st$ready[[length(st$ready) + 1L]] <- list(job, mock_answer(job$req, job$owner$config$url))
    return(invisible())
  }
  id <- .Call(wrap__rs_async_submit, job$owner$handle, job$prepared %||% job$req)
  if (is.list(id)) {
    st$ready[[length(st$ready) + 1L]] <- list(job, id)
  } else {
    assign(sprintf("%.0f", id), job, envir = st$pending)
    st$n <- st$n + 1L
  }
  invisible()
}

# Start queued jobs while there is room.
async_fill <- function(st) {
  while (length(st$queue) && st$n < async_max()) {
    job <- st$queue[[1L]]
    st$queue <- st$queue[-1L]
    async_start(st, job)
  }
}

async_schedule <- function(st, delay) {
  if (!st$polling && (st$n > 0L || length(st$queue) || length(st$ready))) {
    st$polling <- TRUE
    later::later(async_poll, delay)
  }
}

# The `later` callback: take the answers Rust has, start queued jobs, settle.
# Polls again at once while answers come, every 2 ms otherwise, and stops
# when nothing is in flight.
async_poll <- function() {
  st <- async_state()
  st$polling <- FALSE
  got <- .Call(wrap__rs_async_poll)
  done <- st$ready
  st$ready <- list()
  if (is.null(got$error) && length(got$ids)) {
    keys <- sprintf("%.0f", got$ids)
    for (i in seq_along(keys)) {
      job <- st$pending[[keys[i]]]
      if (is.null(job)) next
      rm(list = keys[i], envir = st$pending)
      st$n <- st$n - 1L
      done[[length(done) + 1L]] <- list(job, got$answers[[i]])
    }
  }
  async_fill(st)
  on.exit(async_schedule(st, if (length(done)) 0 else 0.002))
  for (d in done) d[[1L]]$on_answer(d[[2L]])
}

# Cancel the background requests of one client (`owner`: its private
# environment) or of every client (NULL). Their transfers are stopped and
# partial files removed (rs_async_cancel() returns when they are); their
# promises are rejected with an orthanc_cancelled_error. The number cancelled.
async_cancel <- function(owner) {
  st <- async_state()
  mine <- function(job) is.null(owner) || identical(job$owner, owner)
  keys <- ls(st$pending, all.names = TRUE)
  jobs <- mget(keys, envir = st$pending)
  keys <- keys[vapply(jobs, mine, NA)]
  if (length(keys) && is.null(the$mock)) .Call(wrap__rs_async_cancel, as.numeric(keys))
  cancelled <- jobs[keys]
  rm(list = keys, envir = st$pending)
  st$n <- st$n - length(keys)
  queued <- vapply(st$queue, mine, NA)
  cancelled <- c(cancelled, st$queue[queued])
  st$queue <- st$queue[!queued]
  ready <- vapply(st$ready, function(d) mine(d[[1L]]), NA)
  cancelled <- c(cancelled, lapply(st$ready[ready], `[[`, 1L))
  st$ready <- st$ready[!ready]
  async_fill(st)
  for (job in cancelled) {
    job$on_answer(list(
      error = "cancelled", message = "cancelled before it ended",
      url = paste0(job$owner$config$url, async_route(job$req))
    ))
  }
  async_schedule(st, 0)
  length(cancelled)
}

# The route of a request value, for messages.
async_route <- function(req) {
  if (isTRUE(req$encode)) paste0("/", paste(unlist(req$path), collapse = "/")) else req$path
}

# OrthancAsync's batch(): a promise of the list that Orthanc's batch() answers
# (one value or condition per request). The requests share the session's
# bound (`orthanc.async_max`); `concurrency` is checked, then that bound
# applies; `progress` is not used.
async_batch <- function(private, requests, concurrency, progress, call) {
  reqs <- batch_requests(requests, concurrency, progress, call)
  if (!length(reqs)) return(promises::promise_resolve(list()))
  describe <- private$describe_failure %||% answer_condition
  ps <- lapply(reqs, function(req) {
    promises::promise(function(resolve, reject) {
      async_send(private, req, function(res) {
        resolve(tryCatch(
          batch_value(res, req, private$version, call, describe),
          error = function(e) e
        ))
      })
    })
  })
  promises::promise_all(.list = ps)
}
