# The levels of Orthanc's resources (Patient > Study > Series > Instance):
# their names in routes, answers and messages, and the resource objects made
# for a level.

orthanc_levels <- c("Patient", "Study", "Series", "Instance")

level_prefix <- function(level) {
  switch(level,
    Patient = "patients",
    Study = "studies",
    Series = "series",
    Instance = "instances"
  )
}

# "study" / "studies", ... for messages.
level_noun <- function(level, n) {
  one <- tolower(level)
  if (n == 1L) {
    return(one)
  }
  switch(one,
    study = "studies",
    series = "series",
    paste0(one, "s")
  )
}

level_child <- function(level) {
  switch(level,
    Patient = "Study",
    Study = "Series",
    Series = "Instance",
    NULL
  )
}

level_parent_field <- function(level) {
  switch(level,
    Patient = NULL,
    Study = "ParentPatient",
    Series = "ParentStudy",
    Instance = "ParentSeries"
  )
}

level_children_field <- function(level) {
  switch(level,
    Patient = "Studies",
    Study = "Series",
    Series = "Instances",
    NULL
  )
}

# "study", "STUDIES", ... -> "Study".
match_level <- function(level, call = NULL) {
  if (is_string(level)) {
    l <- tolower(level)
    l <- switch(l,
      patients = "patient",
      studies = "study",
      instances = "instance",
      l
    )
    hit <- orthanc_levels[tolower(orthanc_levels) == l]
    if (length(hit)) {
      return(hit)
    }
  }
  orthanc_abort("argument", c(
    "{.arg level} must be one of {.val {orthanc_levels}}.",
    x = "It is {.val {format(level)}}."
  ), call = call)
}

level_generator <- function(level) {
  switch(level,
    Patient = Patient,
    Study = Study,
    Series = Series,
    Instance = Instance
  )
}

new_resource <- function(level, id, client, lock_children = FALSE, info = NULL) {
  level_generator(level)$new(id, client, lock_children = lock_children, info = info)
}

# Resources from an expanded answer (a list of main informations): no request.
resources_from_answer <- function(level, answer, client, lock_children = FALSE) {
  resource_list(lapply(answer, function(info) {
    new_resource(level, info$ID, client, lock_children, info = info)
  }))
}
