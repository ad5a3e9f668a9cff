#!/usr/bin/env Rscript
# bench/ab-w1.R: W1 of bench/run.R (GET /system and GET /instances/{id}, per call)
# for two installed builds of the package, in alternating child processes, so
# that both see the same machine load: the figures of a change before and after.
#
#   Rscript bench/ab-w1.R BEFORE_LIB AFTER_LIB [rounds=5] [calls=2000]
#
# Uses ORTHANC_TEST_URL / ORTHANC_TEST_USERNAME / ORTHANC_TEST_PASSWORD (server A
# of the tests); stores one instance for the second route and deletes it.
# Prints the median wall and client CPU per call of each build, and after/before.
args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 2L) stop("usage: Rscript bench/ab-w1.R BEFORE_LIB AFTER_LIB [rounds] [calls]")
libs <- c(before = args[[1]], after = args[[2]])
rounds <- if (length(args) >= 3L) as.integer(args[[3]]) else 5L
calls <- if (length(args) >= 4L) as.integer(args[[4]]) else 2000L
url <- Sys.getenv("ORTHANC_TEST_URL")
if (!nzchar(url)) stop("ORTHANC_TEST_URL is not set")

child <- function(lib, calls, url, user, pass, id) {
  library(orthanc, lib.loc = lib)
  o <- Orthanc$new(url, username = user, password = pass)
  time_it <- function(f) {
    for (i in 1:50) f()
    t0 <- proc.time()
    for (i in seq_len(calls)) f()
    d <- proc.time() - t0
    c(wall = d[["elapsed"]], cpu = d[["user.self"]] + d[["sys.self"]]) / calls * 1e6
  }
  c(system = time_it(function() o$get_system()), instance = time_it(function() o$get_instances_id(id)))
}

user <- Sys.getenv("ORTHANC_TEST_USERNAME")
pass <- Sys.getenv("ORTHANC_TEST_PASSWORD")
setup <- callr::r(function(lib, url, user, pass) {
  library(orthanc, lib.loc = lib)
  o <- Orthanc$new(url, username = user, password = pass)
  o$post_tools_create_dicom(json = list(Tags = list(
    PatientID = "bench-ab-w1", PatientName = "Bench^AB", SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
  )))
}, list(libs[["after"]], url, user, pass))
on.exit(callr::r(function(lib, url, user, pass, id) {
  library(orthanc, lib.loc = lib)
  Orthanc$new(url, username = user, password = pass)$delete_instances_id(id)
}, list(libs[["after"]], url, user, pass, setup$ID)), add = TRUE)

res <- list(before = list(), after = list())
for (r in seq_len(rounds)) {
  for (b in if (r %% 2L) c("before", "after") else c("after", "before")) {
    res[[b]][[r]] <- callr::r(child, list(libs[[b]], calls, url, user, pass, setup$ID))
  }
}
med <- sapply(res, function(x) apply(do.call(rbind, x), 2, stats::median))
cat(sprintf("W1, %d rounds x %d calls, median per call (microseconds)\n", rounds, calls))
out <- data.frame(
  measure = rownames(med), before = round(med[, "before"], 1), after = round(med[, "after"], 1),
  ratio = round(med[, "after"] / med[, "before"], 3), row.names = NULL
)
print(out, row.names = FALSE)
