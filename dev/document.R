# Regenerates NAMESPACE and man/ with roxygen2 without compiling the Rust code:
# the R files are sourced with their source references kept, which roxygen2 needs
# to attach the R6 method documentation to the methods. Run from the package root:
#   Rscript dev/document.R
load_keep_source <- function(path) {
  env <- new.env(parent = globalenv())
  methods::setPackageName("orthanc", env)
  # roxygen2 names the package of an R6 superclass by environmentName() of
  # the environment the class was made in: without a name, the "Super class"
  # sections and the inherited-method links would say `::Resource`.
  attr(env, "name") <- "orthanc"
  for (f in roxygen2:::package_files(path)) sys.source(f, envir = env, keep.source = TRUE)
  the_code <<- env
  env
}
# roxygen2 links an R6 superclass to its help topic only when help() finds that
# topic, i.e. when the package is installed in the library roxygen2 sees. So that
# man/ does not depend on what happens to be installed, answer help() (called
# by roxygen2 from the global environment) for this package's R6 classes, which
# all have a topic of their own (the internal RemoteNode too); any other help()
# call goes to utils::help().
the_code <- NULL
help <- function(topic, package = NULL, ...) {
  if (identical(package, "orthanc") && !is.null(the_code) &&
    exists(topic, envir = the_code, inherits = FALSE) &&
    R6::is.R6Class(get(topic, envir = the_code))) {
    return(structure(list(), class = "dev_topic"))
  }
  # do.call(): help() would read a symbol `topic` as the name of the topic.
  do.call(utils::help, list(topic, package = package, ...))
}
suppressPackageStartupMessages(library(R6))
roxygen2::roxygenise(load_code = load_keep_source)
