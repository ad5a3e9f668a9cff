# The levels of Orthanc's resources (Patient > Study > Series > Instance):
# their names in routes, answers and messages, and the resource objects made
# for a level.

orthanc_levels <- c("Patient", "Study", "Series", "Instance")

# What each level is called where: `prefix` in routes (/studies/...),
# `parent_field` and `children_field` in the main information of a resource
# (its parent's id, its children's ids), `nouns` in messages.
level_table <- list(
  prefix = c(Patient = "patients", Study = "studies", Series = "series", Instance = "instances"),
  parent_field = c(Study = "ParentPatient", Series = "ParentStudy", Instance = "ParentSeries"),
  children_field = c(Patient = "Studies", Study = "Series", Series = "Instances"),
  nouns = c(Patient = "patients", Study = "studies", Series = "series", Instance = "instances")
)

# One entry of the table, NULL where there is none (no parent of a patient,
# no children of an instance).
level_entry <- function(level, what) {
  v <- level_table[[what]][level]
  if (is.na(v)) NULL else unname(v)
}

level_prefix <- function(level) level_entry(level, "prefix")
level_parent_field <- function(level) level_entry(level, "parent_field")
level_children_field <- function(level) level_entry(level, "children_field")

# "study" / "studies", ... for messages ("resource(s)" for a mix of levels).
level_noun <- function(level, n) {
  if (n == 1L) tolower(level) else level_entry(level, "nouns") %||% paste0(tolower(level), "s")
}

# The level below (NULL for an instance) and above (NULL for a patient).
level_child <- function(level) {
  i <- match(level, orthanc_levels)
  if (!is.na(i) && i < length(orthanc_levels)) orthanc_levels[[i + 1L]]
}
level_parent <- function(level) {
  i <- match(level, orthanc_levels)
  if (!is.na(i) && i > 1L) orthanc_levels[[i - 1L]]
}

# The levels above `level`, nearest first.
levels_above <- function(level) rev(orthanc_levels[seq_len(match(level, orthanc_levels) - 1L)])

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
