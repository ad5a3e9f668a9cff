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

# Every instance under `res`, with its series, study and patient: one batch of
# expanded listings (listing_plan()), then one batch for the series and
# studies of instances given as such. Returns list(instances = data frame (id,
# series, study, patient; see instance_lineage()), instance_info (the main
# information of each instance, in the same order), series, studies (named
# lists of main information, by id), failures (one list(id, level, error) per
# resource that could not be listed), client).
collect_instance_tree <- function(res) {
  client <- res[[1]]$client
  plan <- listing_plan(res)
  answers <- if (length(plan$requests)) client$batch(plan$requests, progress = FALSE) else list()
  first <- first_failures(plan$owner, answers)
  listed <- !plan$owner %in% plan$owner[first]
  tree <- list(studies = list(), series = list(), instances = plan$known)
  tree <- add_listings(tree, plan$kind[listed], answers[listed])
  tree <- add_parents_of_instances(tree, client)
  list(
    instances = instance_lineage(tree), instance_info = unname(tree$instances),
    series = tree$series, studies = tree$studies,
    failures = lapply(first, function(j) {
      r <- res[[plan$owner[j]]]
      list(id = r$identifier, level = r$level, error = answers[[j]])
    }),
    client = client
  )
}

# The requests of the first batch, for all the resources: `requests`, and for
# each the `kind` of its answer (see add_listings()) and the index of the
# resource it lists (`owner`); `known`: the instances given with their main
# information, which need no request (named list by id).
listing_plan <- function(res) {
  per_resource <- lapply(res, listing_requests)
  known <- list()
  for (r in res) {
    if (r$level == "Instance" && !is.null(r$.cached_info())) known[[r$identifier]] <- r$.cached_info()
  }
  list(
    requests = unname(do.call(c, c(list(list()), per_resource))),
    kind = as.character(unlist(lapply(per_resource, names))),
    owner = rep(seq_along(res), lengths(per_resource)),
    known = known
  )
}

# The listings that give the instances of one resource and their series and
# studies, named by the kind of their answers.
listing_requests <- function(r) {
  id <- r$identifier
  get <- function(...) orthanc_request("GET", c(...))
  listing <- function(child) {
    orthanc_request("GET", c(level_prefix(r$level), id, child), params = list(expand = "true"))
  }
  switch(r$level,
    Patient = list(studies = listing("studies"), series = listing("series"), instances = listing("instances")),
    Study = list(study = get("studies", id), series = listing("series"), instances = listing("instances")),
    Series = list(study = get("series", id, "study"), one_series = get("series", id), instances = listing("instances")),
    Instance = if (is.null(r$.cached_info())) list(instance = get("instances", id)) else list()
  )
}

# The answers that are the first failure of their resource (whose listing
# then failed), as indices.
first_failures <- function(owner, answers) {
  failed <- vapply(answers, inherits, TRUE, what = "condition")
  which(failed)[!duplicated(owner[failed])]
}

# Add answers to the tree: those of kind "studies", "series" and "instances"
# are lists of main informations, those of kind "study", "one_series" and
# "instance" one main information. Each resource is kept once, by id, where it
# was first met.
add_listings <- function(tree, kinds, answers) {
  single <- kinds %in% c("study", "one_series", "instance")
  answers[single] <- lapply(answers[single], list)
  bucket <- c(
    studies = "studies", study = "studies", series = "series", one_series = "series",
    instances = "instances", instance = "instances"
  )[kinds]
  for (b in c("studies", "series", "instances")) {
    infos <- unlist(answers[bucket == b], recursive = FALSE)
    if (!length(infos)) next
    names(infos) <- vapply(infos, function(i) as.character(i$ID), "")
    all <- c(tree[[b]], infos)
    tree[[b]] <- all[!duplicated(names(all))]
  }
  tree
}

# Instances given as such: the series and studies they belong to that no
# listing gave, asked in one batch (a failure leaves them unknown).
add_parents_of_instances <- function(tree, client) {
  parents <- unique(vapply(tree$instances, function(i) i$ParentSeries %||% NA_character_, ""))
  parents <- setdiff(parents[!is.na(parents)], names(tree$series))
  if (!length(parents)) {
    return(tree)
  }
  reqs <- c(
    lapply(parents, function(s) orthanc_request("GET", c("series", s))),
    lapply(parents, function(s) orthanc_request("GET", c("series", s, "study")))
  )
  answers <- client$batch(reqs, progress = FALSE)
  ok <- !vapply(answers, inherits, TRUE, what = "condition")
  kinds <- rep(c("one_series", "study"), each = length(parents))
  add_listings(tree, kinds[ok], answers[ok])
}

# One row per instance: its id and those of its series, study and patient
# (NA where unknown).
instance_lineage <- function(tree) {
  parent <- function(infos, ids, field) {
    vapply(ids, function(id) {
      if (is.na(id)) NA_character_ else infos[[id]][[field]] %||% NA_character_
    }, "", USE.NAMES = FALSE)
  }
  series <- vapply(tree$instances, function(i) i$ParentSeries %||% NA_character_, "", USE.NAMES = FALSE)
  study <- parent(tree$series, series, "ParentStudy")
  data.frame(
    id = names(tree$instances) %||% character(), series = series, study = study,
    patient = parent(tree$studies, study, "ParentPatient"),
    stringsAsFactors = FALSE
  )
}
