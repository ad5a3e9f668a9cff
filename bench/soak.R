#!/usr/bin/env Rscript
# Soak and concurrency test of the orthanc client (issue 4, item 8). Not a
# test run by testthat or CI: run it by hand against a live Orthanc, see
# bench/README.md.
#
#   eval "$(dev/orthanc-server start)"
#   Rscript bench/soak.R
#
# Goal 1 (soak): SOAK_REQUESTS (100,000) requests from one client; resident
#   memory (VmRSS) sampled every SOAK_EVERY (5,000) requests; after a warm-up
#   of SOAK_WARMUP (10,000) requests the samples must stay within
#   SOAK_MAX_GROWTH_MB (10) MB of each other.
# Goal 2 (concurrency): SOAK_WORKERS (8) forked workers
#   (parallel::mclapply) each make SOAK_PER_WORKER (2,000) requests with the
#   parent's client object; there must be no error.
# Prints the figures and one PASS/FAIL line per goal; exits with status 1 on
# any FAIL (and 2 when it cannot run at all).

suppressPackageStartupMessages(library(orthanc))

env_num <- function(name, default) {
  v <- Sys.getenv(name, "")
  if (nzchar(v)) as.numeric(v) else default
}
n_requests <- env_num("SOAK_REQUESTS", 100000)
every <- env_num("SOAK_EVERY", 5000)
warmup <- env_num("SOAK_WARMUP", 10000)
max_growth_mb <- env_num("SOAK_MAX_GROWTH_MB", 10)
workers <- env_num("SOAK_WORKERS", 8)
per_worker <- env_num("SOAK_PER_WORKER", 2000)

die <- function(...) {
  cat("ERROR:", ..., "\n")
  quit(save = "no", status = 2)
}

url <- Sys.getenv("ORTHANC_TEST_URL", Sys.getenv("ORTHANC_URL", ""))
if (!nzchar(url)) die("set ORTHANC_TEST_URL (eval \"$(dev/orthanc-server start)\") or ORTHANC_URL")
user <- Sys.getenv("ORTHANC_TEST_USERNAME", Sys.getenv("ORTHANC_USERNAME", ""))
pw <- Sys.getenv("ORTHANC_TEST_PASSWORD", Sys.getenv("ORTHANC_PASSWORD", ""))
if (!file.exists("/proc/self/status")) die("needs Linux (/proc/self/status) to read the resident memory")
if (warmup %% every != 0 || n_requests %% every != 0 || warmup >= n_requests) {
  die("SOAK_WARMUP and SOAK_REQUESTS must be multiples of SOAK_EVERY, with SOAK_WARMUP < SOAK_REQUESTS")
}

proc_status <- function(field) {
  line <- grep(paste0("^", field, ":"), readLines("/proc/self/status"), value = TRUE)
  as.numeric(sub(paste0("^", field, ":\\s*([0-9]+).*$"), "\\1", line))
}
# Memory used by R's own heap (cons cells + vectors), after a full gc().
r_heap_mb <- function() {
  g <- gc(full = TRUE)
  sum(g[, 2])
}
rss_mb <- function() {
  line <- grep("^VmRSS:", readLines("/proc/self/status"), value = TRUE)
  as.numeric(sub("^VmRSS:\\s*([0-9]+)\\s*kB.*$", "\\1", line)) / 1024
}
cpu_s <- function() {
  t <- proc.time()
  unname(t[["user.self"]] + t[["sys.self"]])
}

fixture <- Sys.getenv("SOAK_FIXTURE", "")
if (!nzchar(fixture)) {
  fixture <- file.path("tests", "testthat", "fixtures", "Brainix-Flair-1.dcm")
}
if (!file.exists(fixture)) die("no DICOM fixture at ", fixture, " (run from the package root or set SOAK_FIXTURE)")

o <- Orthanc$new(url, if (nzchar(user)) user, if (nzchar(pw)) pw)
sys <- o$get_system()
up <- o$post_instances(file = fixture)
id <- up$ID
# (deleted at the end of the script)

# The mix, in a cycle of 20 requests: mostly small JSON answers, some
# instance descriptions, some answers of a few KB.
calls <- list(
  system = function() o$get_system(),
  statistics = function() o$get_statistics(),
  instance = function() o$get_instances_id(id),
  tags = function() o$get_instances_id_tags(id)
)
cycle <- c(rep("system", 9), rep("statistics", 6), rep("instance", 3), rep("tags", 2))
# Size of each answer's JSON as Orthanc sends it.
routes <- c(system = "/system", statistics = "/statistics", instance = paste0("/instances/", id),
  tags = paste0("/instances/", id, "/tags"))
sizes <- vapply(routes, function(r) {
  f <- o$stream("GET", r)
  on.exit(unlink(f))
  file.size(f)
}, numeric(1))

cat(sprintf("orthanc soak: %s (Orthanc %s, API %d), orthanc package %s, R %s\n",
  url, sys$Version, sys$ApiVersion, utils::packageVersion("orthanc"), getRversion()))
cat(sprintf("mix per %d requests: %s\n", length(cycle),
  paste(sprintf("%s x%d", names(table(cycle)), as.integer(table(cycle))), collapse = ", ")))
cat(sprintf("answer sizes (JSON bytes): %s\n", paste(sprintf("%s %d", names(sizes), as.integer(sizes)), collapse = ", ")))

# Where the time goes: latency of each kind of request, and the share of it
# spent in this process (R + Rust) rather than waiting for Orthanc.
cat("latency by kind (500 calls each):\n")
for (kind in names(calls)) {
  c0 <- cpu_s()
  t <- system.time(for (i in 1:500) calls[[kind]]())[["elapsed"]]
  c1 <- cpu_s() - c0
  cat(sprintf("  %-10s %6.3f ms/request, %5.0f requests/s, client CPU %3.0f%% of it\n",
    kind, 1000 * t / 500, 500 / t, 100 * c1 / t))
}

# ---- Goal 1: soak -----------------------------------------------------------
cat(sprintf("\n== soak: %d requests, RSS sampled every %d, warm-up %d\n", n_requests, every, warmup))
samples <- data.frame(requests = 0, r_heap_mb = r_heap_mb(), rss_mb = rss_mb(), threads = proc_status("Threads"), elapsed_s = 0)
errors <- 0L
first_error <- NULL
t0 <- Sys.time()
cpu0 <- cpu_s()
k <- 0L
ncycle <- length(cycle)
for (block in seq_len(n_requests / every)) {
  for (i in seq_len(every)) {
    k <- k + 1L
    r <- tryCatch(calls[[cycle[(k - 1L) %% ncycle + 1L]]](), error = function(e) e)
    if (inherits(r, "error")) {
      errors <- errors + 1L
      if (is.null(first_error)) first_error <- conditionMessage(r)
    }
  }
  heap <- r_heap_mb()
  samples[nrow(samples) + 1L, ] <- list(k, heap, rss_mb(), proc_status("Threads"), as.numeric(Sys.time() - t0, units = "secs"))
  last <- samples[nrow(samples), ]
  cat(sprintf("  %7d requests  RSS %7.1f MB  (R heap %6.1f MB, threads %d)  %6.1f s\n",
    k, last$rss_mb, last$r_heap_mb, as.integer(last$threads), last$elapsed_s))
}
wall <- as.numeric(Sys.time() - t0, units = "secs")
cpu <- cpu_s() - cpu0
after <- samples[samples$requests >= warmup, ]
growth_end <- after$rss_mb[nrow(after)] - after$rss_mb[1]
spread <- max(after$rss_mb) - min(after$rss_mb)
cat(sprintf("RSS at start %.1f MB, after warm-up (%d) %.1f MB, at end %.1f MB\n",
  samples$rss_mb[1], warmup, after$rss_mb[1], after$rss_mb[nrow(after)]))
cat(sprintf("growth after warm-up: end - warm-up = %+.2f MB; max - min of the samples after warm-up = %.2f MB (limit %g MB)\n",
  growth_end, spread, max_growth_mb))
slope <- function(d) unname(stats::coef(stats::lm(rss_mb ~ requests, data = d))[2]) * 10000
half <- after[after$requests >= (warmup + n_requests) / 2, ]
cat(sprintf("trend of RSS after warm-up (least squares): %+.3f MB per 10,000 requests; over the second half: %+.3f MB per 10,000\n",
  slope(after), if (nrow(half) >= 2) slope(half) else NA_real_))
cat(sprintf("R heap after warm-up: %.1f -> %.1f MB\n", after$r_heap_mb[1], after$r_heap_mb[nrow(after)]))
cat(sprintf("%d requests in %.1f s: %.0f requests/s; errors: %d%s\n", n_requests, wall, n_requests / wall, errors,
  if (errors) paste0(" (first: ", first_error, ")") else ""))
cat(sprintf("CPU time of this R process (R + Rust threads): %.1f s = %.0f%% of the wall time (the rest is waiting for Orthanc, or for a CPU)\n",
  cpu, 100 * cpu / wall))
soak_ok <- spread <= max_growth_mb && errors == 0L
cat(sprintf("%s: soak: memory after warm-up within %g MB (spread %.2f MB) and no errors (%d)\n",
  if (soak_ok) "PASS" else "FAIL", max_growth_mb, spread, errors))

# ---- Goal 2: concurrency ------------------------------------------------------
cat(sprintf("\n== concurrency: %d forked workers (parallel::mclapply) x %d requests, the parent's client\n", workers, per_worker))
invisible(o$get_system()) # the parent's pool holds a live connection when it forks
worker <- function(w) {
  errs <- 0L
  first <- NA_character_
  classes <- character()
  for (i in seq_len(per_worker)) {
    r <- tryCatch(calls[[cycle[(i + w - 1L) %% ncycle + 1L]]](), error = function(e) e)
    if (inherits(r, "error")) {
      errs <- errs + 1L
      classes <- union(classes, class(r)[1])
      if (is.na(first)) first <- conditionMessage(r)
    }
  }
  list(worker = w, pid = Sys.getpid(), requests = per_worker, errors = errs, first = first, classes = classes)
}
t1 <- Sys.time()
res <- parallel::mclapply(seq_len(workers), worker, mc.cores = workers, mc.preschedule = FALSE)
wall2 <- as.numeric(Sys.time() - t1, units = "secs")
crashed <- vapply(res, function(r) inherits(r, "try-error") || !is.list(r), logical(1))
total <- sum(vapply(res[!crashed], function(r) r$requests, numeric(1)))
errs2 <- sum(vapply(res[!crashed], function(r) r$errors, numeric(1)))
pids <- unique(vapply(res[!crashed], function(r) r$pid, numeric(1)))
for (r in res[!crashed]) {
  cat(sprintf("  worker %d (pid %d): %d requests, %d errors%s\n", r$worker, r$pid, r$requests, r$errors,
    if (r$errors) paste0(" [", paste(r$classes, collapse = ", "), ": ", r$first, "]") else ""))
}
if (any(crashed)) {
  cat(sprintf("  %d worker(s) died: %s\n", sum(crashed), paste(vapply(res[crashed], function(r) paste(format(r), collapse = " "), ""), collapse = " | ")))
}
cat(sprintf("total %d requests, %d errors, %d crashed workers, %d distinct worker processes, wall %.1f s, %.0f requests/s\n",
  total, errs2, sum(crashed), length(pids), wall2, total / wall2))
# The parent's client still works after the children are gone.
parent_ok <- tryCatch(identical(o$get_system()$Version, sys$Version), error = function(e) FALSE)
cat(sprintf("the parent's client after the workers: %s\n", if (parent_ok) "works" else "BROKEN"))
conc_ok <- !any(crashed) && errs2 == 0 && total == workers * per_worker && parent_ok
cat(sprintf("%s: concurrency: %d workers x %d requests, %d errors\n",
  if (conc_ok) "PASS" else "FAIL", workers, per_worker, errs2))

try(o$delete_instances_id(id), silent = TRUE)
if (!(soak_ok && conc_ok)) quit(save = "no", status = 1)
