# Regenerates NAMESPACE and man/ with roxygen2 without compiling the Rust code:
# the R files are sourced with their source references kept, which roxygen2 needs
# to attach the R6 method documentation to the methods. Run from the package root:
#   Rscript dev/document.R
load_keep_source <- function(path) {
  env <- new.env(parent = globalenv())
  methods::setPackageName("orthanc", env)
  for (f in roxygen2:::package_files(path)) sys.source(f, envir = env, keep.source = TRUE)
  env
}
suppressPackageStartupMessages(library(R6))
roxygen2::roxygenise(load_code = load_keep_source)
