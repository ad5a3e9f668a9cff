# The instances under the resources to download, with their series, studies
# and patients, from a few expanded listings asked in one batch; only public
# methods of the client are used.

# The main information of resources: what they hold, else asked in one batch.
# A failure is a condition in place of the information.
resource_infos <- function(res, call) {
  infos <- lapply(res, function(r) r$.cached_info())
  missing <- which(vapply(infos, is.null, TRUE))
  if (length(missing)) {
    client <- res[[1]]$client
    reqs <- lapply(res[missing], function(r) {
      orthanc_request("GET", c(level_prefix(r$level), r$identifier))
    })
    infos[missing] <- client$batch(reqs, progress = FALSE)
  }
  infos
}

# Every instance under `res`, with its series, study and patient, from
# expanded listings. Returns list(instances = data frame (id, series, study,
# patient), series, studies (named lists of main information, by id),
# failures = data frame (id, level, message) of resources that could not be
# listed).
collect_instance_tree <- function(res, call) {
  client <- res[[1]]$client
  series <- list()
  studies <- list()
  inst <- list()
  failures <- list()
  fail <- function(r, e) {
    failures[[length(failures) + 1L]] <<- list(id = r$identifier, level = r$level, error = e)
  }
  add_instances <- function(answer) {
    for (i in answer) inst[[i$ID]] <<- i
  }
  add <- function(what, info) {
    if (what == "series") series[[info$ID]] <<- info else studies[[info$ID]] <<- info
  }
  listing <- function(level, id, child) {
    orthanc_request("GET", c(level_prefix(level), id, child), params = list(expand = "true"))
  }
  # Stage 1: one batch of listings.
  reqs <- list()
  owner <- integer()
  kind <- character()
  push <- function(i, k, req) {
    reqs[[length(reqs) + 1L]] <<- req
    owner[length(owner) + 1L] <<- i
    kind[length(kind) + 1L] <<- k
  }
  for (i in seq_along(res)) {
    r <- res[[i]]
    id <- r$identifier
    switch(r$level,
      Patient = {
        push(i, "studies", listing("Patient", id, "studies"))
        push(i, "series", listing("Patient", id, "series"))
        push(i, "instances", listing("Patient", id, "instances"))
      },
      Study = {
        push(i, "study", orthanc_request("GET", c("studies", id)))
        push(i, "series", listing("Study", id, "series"))
        push(i, "instances", listing("Study", id, "instances"))
      },
      Series = {
        push(i, "study", orthanc_request("GET", c("series", id, "study")))
        push(i, "one-series", orthanc_request("GET", c("series", id)))
        push(i, "instances", listing("Series", id, "instances"))
      },
      Instance = {
        info <- r$.cached_info()
        if (is.null(info)) {
          push(i, "instance", orthanc_request("GET", c("instances", id)))
        } else {
          inst[[id]] <- info
        }
      }
    )
  }
  answers <- if (length(reqs)) client$batch(reqs, progress = FALSE) else list()
  failed <- integer()
  for (j in seq_along(answers)) {
    a <- answers[[j]]
    i <- owner[j]
    if (inherits(a, "condition")) {
      if (!i %in% failed) fail(res[[i]], a)
      failed <- c(failed, i)
    }
  }
  for (j in seq_along(answers)) {
    a <- answers[[j]]
    if (owner[j] %in% failed) next
    switch(kind[j],
      studies = for (s in a) add("study", s),
      series = for (s in a) add("series", s),
      study = add("study", a),
      "one-series" = add("series", a),
      instances = add_instances(a),
      instance = add_instances(list(a))
    )
  }
  # Stage 2 (instances given as such): their series and studies.
  parents <- unique(vapply(inst, function(i) i$ParentSeries %||% NA_character_, ""))
  parents <- setdiff(parents[!is.na(parents)], names(series))
  if (length(parents)) {
    reqs <- c(
      lapply(parents, function(s) orthanc_request("GET", c("series", s))),
      lapply(parents, function(s) orthanc_request("GET", c("series", s, "study")))
    )
    ans <- client$batch(reqs, progress = FALSE)
    n <- length(parents)
    for (k in seq_len(n)) {
      if (!inherits(ans[[k]], "condition")) add("series", ans[[k]])
      if (!inherits(ans[[n + k]], "condition")) add("study", ans[[n + k]])
    }
  }
  ids <- names(inst)
  ser <- vapply(inst, function(i) i$ParentSeries %||% NA_character_, "", USE.NAMES = FALSE)
  stu <- vapply(ser, function(s) series[[s]]$ParentStudy %||% NA_character_, "", USE.NAMES = FALSE)
  pat <- vapply(stu, function(s) if (is.na(s)) NA_character_ else studies[[s]]$ParentPatient %||% NA_character_, "", USE.NAMES = FALSE)
  list(
    instances = data.frame(id = ids %||% character(), series = ser, study = stu, patient = pat,
      stringsAsFactors = FALSE),
    instance_info = unname(inst),
    series = series, studies = studies, failures = failures, client = client
  )
}
