#!/usr/bin/env Rscript
# bench/run.R: the benchmark of the `orthanc` package against baselines measured
# in the same run (httr2 + jsonlite, curl + jsonlite, and a bare Rust reqwest
# loop in bench/rust-baseline/; for W8, Python's dicomweb-client). See bench/README.md.
#
#   Rscript bench/run.R            # full sizes (about 20 minutes on 2 cores)
#   Rscript bench/run.R --smoke    # tiny sizes: checks that everything runs
#
# Options: --smoke, --no-rust (skip the Rust baseline), --rust (build it even
# with --smoke), --scale (W6: W2 and W4 at ten times the sizes, after W1-W5), --use-env-server
# (use ORTHANC_TEST_URL/USERNAME/PASSWORD instead of starting a server),
# --only=W8 or --only=W1,W4 (or BENCH_ONLY=W8, ...): only those workloads.
# Sizes: environment variables BENCH_CALLS, BENCH_REPS, BENCH_FIND, BENCH_UPLOAD,
# BENCH_ARCHIVE, BENCH_TAGS, BENCH_W7, BENCH_W9, BENCH_QIDO, BENCH_WADO,
# BENCH_STOW (see bench/README.md). BENCH_PYTHON: a Python with
# dicomweb-client (W8's peer).

args <- commandArgs(TRUE)
smoke <- "--smoke" %in% args
scale <- "--scale" %in% args || nzchar(Sys.getenv("BENCH_SCALE"))
use_env_server <- "--use-env-server" %in% args
root <- normalizePath(".")
if (!file.exists(file.path(root, "bench", "run.R"))) {
  stop("run bench/run.R from the package root")
}

size <- function(var, full, tiny) {
  v <- Sys.getenv(var)
  if (nzchar(v)) as.integer(v) else if (smoke) tiny else full
}
cfg <- list(
  calls = size("BENCH_CALLS", 1000L, 20L),
  reps = size("BENCH_REPS", 5L, 1L),
  find = size("BENCH_FIND", 5000L, 30L),
  upload = size("BENCH_UPLOAD", 1000L, 5L),
  archive = size("BENCH_ARCHIVE", 3200L, 22L),
  tags = size("BENCH_TAGS", 5000L, 10L),
  w7 = size("BENCH_W7", 50000L, 40L),
  w9 = size("BENCH_W9", 1000L, 20L),
  qido = size("BENCH_QIDO", 5000L, 30L),
  wado = size("BENCH_WADO", 3200L, 22L),
  stow = size("BENCH_STOW", 1000L, 5L)
)
# --only= or BENCH_ONLY: the workloads to run ("W8", "W1,W4"; all when empty). W6 needs W2 and W4.
only <- c(sub("^--only=", "", grep("^--only=", args, value = TRUE)), Sys.getenv("BENCH_ONLY"))[1]
only <- toupper(trimws(strsplit(only, ",")[[1]]))
if (length(bad <- setdiff(only[nzchar(only)], paste0("W", 1:9)))) stop("--only= / BENCH_ONLY: no workload ", paste(bad, collapse = ", "))
only <- only[nzchar(only)]
if (scale && length(only) && "W6" %in% only) only <- union(only, c("W2", "W4"))
if (length(only) && !scale) only <- setdiff(only, "W6")
runs <- function(w) !length(only) || w %in% only
scale <- scale && runs("W6")

suppressPackageStartupMessages({
  library(orthanc)
  library(jsonlite)
  have_httr2 <- requireNamespace("httr2", quietly = TRUE)
  have_curl <- requireNamespace("curl", quietly = TRUE)
})

say <- function(...) cat(sprintf(...), "\n", sep = "", file = stderr())

# ---- the server -------------------------------------------------------------
state_dir <- NULL
stop_server <- function() {
  if (!is.null(state_dir)) {
    system2(file.path(root, "dev", "orthanc-server"), "stop",
      env = paste0("ORTHANC_STATE_DIR=", state_dir), stdout = FALSE, stderr = FALSE
    )
    unlink(state_dir, recursive = TRUE)
    state_dir <<- NULL
  }
}
if (!use_env_server) {
  state_dir <- tempfile("orthanc-bench-state-")
  dir.create(state_dir)
  say("starting Orthanc (dev/orthanc-server, ORTHANC_STATE_DIR=%s)", state_dir)
  out <- system2(file.path(root, "dev", "orthanc-server"), "start",
    env = paste0("ORTHANC_STATE_DIR=", state_dir), stdout = TRUE
  )
  if (!is.null(attr(out, "status"))) stop("dev/orthanc-server start failed")
  for (line in grep("^export ", out, value = TRUE)) {
    kv <- sub("^export ", "", line)
    k <- sub("=.*", "", kv)
    v <- sub("^[^=]*=", "", kv)
    v <- gsub("^'|'$", "", v)
    do.call(Sys.setenv, stats::setNames(list(v), k))
  }
}
url <- Sys.getenv("ORTHANC_TEST_URL")
user <- Sys.getenv("ORTHANC_TEST_USERNAME")
pass <- Sys.getenv("ORTHANC_TEST_PASSWORD")
if (!nzchar(url)) stop("no server: ORTHANC_TEST_URL is not set")
work <- tempfile("orthanc-bench-")
dir.create(work)

main <- function() {
  o <- Orthanc$new(url, username = user, password = pass)
  Sys.setenv(BENCH_URL = url, BENCH_USER = user, BENCH_PASS = pass)

  # ---- measuring --------------------------------------------------------------
  cpu_now <- function() {
    t <- proc.time()
    c(wall = t[["elapsed"]], cpu = t[["user.self"]] + t[["sys.self"]])
  }
  timed <- function(expr_fun) {
    gc(FALSE)
    t0 <- cpu_now()
    expr_fun()
    cpu_now() - t0
  }
  # Run each variant once per repetition, in a rotating order; `setup` runs
  # (untimed) before each. Returns a data frame of medians (wall, cpu, and any
  # extra numbers a variant returns).
  interleave <- function(variants, reps = cfg$reps, setup = NULL) {
    res <- list()
    nm <- names(variants)
    for (r in seq_len(reps)) {
      order <- nm[(seq_along(nm) + r - 2L) %% length(nm) + 1L]
      for (v in order) {
        if (!is.null(setup)) setup()
        x <- variants[[v]]()
        res[[v]] <- rbind(res[[v]], x)
      }
    }
    out <- do.call(rbind, lapply(nm, function(v) {
      m <- res[[v]]
      as.data.frame(t(apply(m, 2, stats::median)))
    }))
    cbind(client = nm, out, stringsAsFactors = FALSE)
  }
  md <- function(df, title) {
    cat("\n### ", title, "\n\n", sep = "")
    fmt <- function(x) {
      if (is.numeric(x)) ifelse(is.na(x), "", formatC(x, format = "fg", digits = 3, big.mark = ",")) else x
    }
    cells <- lapply(df, fmt)
    cat("| ", paste(names(df), collapse = " | "), " |\n", sep = "")
    cat("|", paste(rep("---", ncol(df)), collapse = "|"), "|\n", sep = "")
    for (i in seq_len(nrow(df))) {
      cat("| ", paste(vapply(cells, function(x) as.character(x[i]), ""), collapse = " | "), " |\n", sep = "")
    }
  }
  # Ratios to the best (lowest) baseline of the same table.
  with_ratios <- function(df, cols, baseline_rows) {
    for (col in cols) {
      best <- suppressWarnings(min(df[[col]][baseline_rows], na.rm = TRUE))
      df[[paste0(col, " × best baseline")]] <- round(df[[col]] / best, 2)
    }
    df
  }
  is_baseline <- function(df) !startsWith(df$client, "orthanc")

  header <- function() {
    cat("## orthanc benchmark\n\n")
    cat(sprintf("- %s, %s, orthanc %s (%s), Orthanc server %s\n", format(Sys.time(), "%Y-%m-%d %H:%M"),
      R.version.string, packageVersion("orthanc"), dirname(system.file(package = "orthanc")),
      o$server_version))
    cat(sprintf("- sizes: %s; medians of %d interleaved repetitions%s\n",
      paste(names(cfg), unlist(cfg), sep = " = ", collapse = ", "), cfg$reps,
      if (smoke) " (smoke run: tiny sizes, figures mean nothing)" else ""))
    cat(sprintf("- machine: %s cores; the server runs on the same machine\n", parallel::detectCores()))
  }

  # ---- W7: a sorted first page and a count, on the server or in R ---------------
  run_w7 <- function() {
    # BENCH_W7 studies of one instance each, with random study dates (ties
    # included), made fast: copies of a small fixture with new UIDs, StudyDate,
    # PatientID and StudyDescription written locally by the generator of the
    # tests (tests/testthat/helper-dicom-copies.R), sent with upload(), by
    # chunks of 5,000 files. Then the first 100 by date (order_by and limit, on
    # the server) against listing all of them and sorting in R, and
    # count_studies() against length(find_studies()). Deleted at the end.
    say("W7: making %d studies", cfg$w7)
    source(file.path(root, "tests", "testthat", "helper-dicom-copies.R"), local = TRUE)
    w7_seed <- dicom_seed(file.path(root, "tests", "testthat", "fixtures", "Lena-1.dcm"))
    w7_desc <- paste0("W7-", paste(sample(letters, 8), collapse = ""))
    t0 <- proc.time()[["elapsed"]]
    dates <- format(as.Date("1990-01-01") + sample.int(12000L, cfg$w7, replace = TRUE), "%Y%m%d")
    w7_patients <- character()
    # Deleted at the end, also when something fails on the way.
    on.exit({
      say("W7: deleting the studies")
      for (p in w7_patients) try(bulk_delete(o, p), silent = TRUE)
    }, add = TRUE)
    w7_chunk <- 5000L
    w7_gen <- 0
    for (first in seq(1L, cfg$w7, by = w7_chunk)) {
      rows <- first:min(cfg$w7, first + w7_chunk - 1L)
      dir <- file.path(work, "w7")
      tg <- proc.time()[["elapsed"]]
      # One patient per 1,000 studies (deleted patient by patient at the end).
      paths <- dicom_study_copies(w7_seed, dir, length(rows), dates[rows],
        sprintf("%s-%03d", w7_desc, (rows - 1L) %/% 1000L), w7_desc, prefix = sprintf("w7-%06d", first))
      w7_gen <- w7_gen + proc.time()[["elapsed"]] - tg
      report <- upload(o, paths, progress = FALSE)
      unlink(dir, recursive = TRUE)
      w7_patients <- unique(c(w7_patients, report$parent_patient[!is.na(report$parent_patient)]))
      if (!all(report$status == "Success")) {
        stop("W7: ", sum(report$status != "Success"), " studies could not be stored: ", report$message[report$status != "Success"][1])
      }
    }
    say("  %d studies in %.0f s (%.0f s writing the files, the rest uploading)", cfg$w7,
      proc.time()[["elapsed"]] - t0, w7_gen)
    w7_q <- list(StudyDescription = w7_desc)
    page_ids <- function(x) vapply(x, function(s) s$identifier, "")
    first_sorted <- page_ids(find_studies(o, query = w7_q, order_by = c(StudyDate = "desc"), limit = 100,
      retrieve_all_resources = FALSE, progress = FALSE))
    all_sorted <- local({
      all <- find_studies(o, query = w7_q, progress = FALSE)
      d <- vapply(all, function(s) s$main_dicom_tags$StudyDate, "")
      page_ids(all[order(d, decreasing = TRUE)][seq_len(min(100L, length(all)))])
    })
    # Ties of dates may order differently: the dates of the two pages must agree.
    same_dates <- identical(sort(dates, decreasing = TRUE)[seq_along(first_sorted)],
      vapply(first_sorted, function(id) o$get_studies_id(id)$MainDicomTags$StudyDate, "", USE.NAMES = FALSE))
    if (!same_dates || length(first_sorted) != length(all_sorted)) stop("W7: the sorted pages differ")
    v <- list(
      `orthanc order_by + limit (server)` = function() timed(function() find_studies(o, query = w7_q,
        order_by = c(StudyDate = "desc"), limit = 100, retrieve_all_resources = FALSE, progress = FALSE)),
      `orthanc list all, sort in R` = function() timed(function() {
        all <- find_studies(o, query = w7_q, progress = FALSE)
        d <- vapply(all, function(s) s$main_dicom_tags$StudyDate, "")
        all[order(d, decreasing = TRUE)][seq_len(min(100L, length(all)))]
      }),
      `orthanc count_studies() (server)` = function() timed(function() count_studies(o, query = w7_q)),
      `orthanc length(find_studies())` = function() timed(function() length(find_studies(o, query = w7_q, progress = FALSE)))
    )
    m <- interleave(v)
    w7 <- data.frame(client = m$client, `wall s` = m$wall, `CPU s` = m$cpu, check.names = FALSE)
    ratio <- function(slow, fast) sprintf("%.1f", w7$`wall s`[slow] / w7$`wall s`[fast])
    w7$`wall ratio` <- c(ratio(2, 1), "1.0", ratio(4, 3), "1.0")
    md(w7, sprintf("W7: first page of 100 of %d studies by date, and a count (wall ratio: the R way / the server's way; extended find: %s)",
      cfg$w7, o$capabilities$extended_find))
  }

  # ---- W9: many requests in flight with R free (OrthancAsync) -----------------
  # BENCH_W9 get_instances_id() calls of one instance: synchronous, one after
  # the other; as promises of OrthancAsync (orthanc.async_max in flight),
  # collected by orthanc_await(); and the synchronous batch() for reference.
  # Meanwhile a `later` callback is due every 10 ms: the worst gap between two
  # of its runs (or between the start or end and a run) says how long R's main
  # thread was not free. The synchronous calls hold it for the whole run.
  run_w9 <- function() {
    if (!requireNamespace("promises", quietly = TRUE) || !requireNamespace("later", quietly = TRUE)) {
      say("W9: the promises and later packages are needed; skipped")
      return(invisible())
    }
    file <- system.file("extdata", "Lena-1.dcm", package = "orthanc")
    stored <- o$post_instances(file = file)
    id <- stored$ID
    if (!identical(stored$Status, "AlreadyStored")) on.exit(try(o$delete_instances_id(id), silent = TRUE), add = TRUE)
    a <- OrthancAsync$new(url, username = user, password = pass)
    n <- cfg$w9
    now <- function() proc.time()[["elapsed"]]
    # Run `f(mark)` with a `later` tick due every 10 ms; c(wall, cpu, worst gap
    # in ms over the whole call, worst gap after `f` called mark(): once the
    # R code making the promises (and their promise_all()) has returned, while
    # the requests run and their answers come).
    with_ticks <- function(f) {
      ticks <- new.env()
      ticks$at <- numeric()
      ticks$on <- TRUE
      ticks$mark <- NA_real_
      tick <- function() {
        ticks$at <- c(ticks$at, now())
        if (ticks$on) later::later(tick, 0.01)
      }
      later::later(tick, 0.01)
      t0 <- now()
      tm <- timed(function() f(function() ticks$mark <- now()))
      later::run_now(0)
      ticks$on <- FALSE
      t1 <- now()
      later::run_now(0.02)
      at <- c(t0, ticks$at[ticks$at <= t1], t1)
      mark <- if (is.na(ticks$mark)) t0 else ticks$mark
      after <- c(mark, at[at > mark])
      c(tm, gap = 1000 * max(diff(at)), gap_after = 1000 * max(diff(after)))
    }
    async_run <- function(max) {
      function() {
        old <- options(orthanc.async_max = max)
        on.exit(options(old))
        with_ticks(function(mark) {
          ps <- lapply(seq_len(n), function(i) a$get_instances_id(id))
          all <- promises::promise_all(.list = ps)
          mark()
          out <- orthanc_await(all)
          stopifnot(length(out) == n)
        })
      }
    }
    v <- list(
      `orthanc Orthanc, synchronous calls` = function() with_ticks(function(mark) {
        for (i in seq_len(n)) o$get_instances_id(id)
      }),
      `orthanc Orthanc, batch() (concurrency 8)` = function() with_ticks(function(mark) {
        reqs <- lapply(seq_len(n), function(i) orthanc_request("GET", c("instances", id)))
        o$batch(reqs, concurrency = 8)
      }),
      `orthanc OrthancAsync, promises (async_max 8)` = async_run(8),
      `orthanc OrthancAsync, promises (async_max 32)` = async_run(32)
    )
    m <- interleave(v)
    w9 <- data.frame(client = m$client, `wall s` = m$wall, `CPU s` = m$cpu,
      `worst tick gap, whole call, ms` = m$gap,
      `worst tick gap while the requests run, ms` = m$gap_after, check.names = FALSE)
    w9 <- rbind(w9, data.frame(client = "CRAN orthanc 0.3.0 OrthancAsync (mirai)", `wall s` = NA, `CPU s` = NA,
      `worst tick gap, whole call, ms` = NA, `worst tick gap while the requests run, ms` = NA, check.names = FALSE))
    w9$`wall × synchronous` <- round(w9$`wall s` / w9$`wall s`[1], 2)
    md(w9, sprintf("W9: %d get_instances_id() calls, synchronous and as promises, with a later tick due every 10 ms", n))
    cat("\nThe CRAN package's `OrthancAsync` (orthanc 0.3.0, with mirai) is not measured: CRAN cannot be reached",
      "from this machine and neither it nor mirai is in Debian, so it cannot be installed here.\n")
  }

  # Only W7 and/or W9 (--only=W7,W9): without the Rust baseline and the data of W1-W5.
  if (length(only) && all(only %in% c("W7", "W9"))) {
    header()
    if (runs("W7")) run_w7()
    if (runs("W9")) run_w9()
    cat("\n")
    return(invisible())
  }

  # ---- the Rust baseline ----------------------------------------------------
  rust_bin <- file.path(root, "bench", "rust-baseline", "target", "release", "orthanc-bench-baseline")
  want_rust <- !"--no-rust" %in% args && (!smoke || "--rust" %in% args || file.exists(rust_bin))
  have_rust <- FALSE
  if (want_rust) {
    manifest <- file.path(root, "bench", "rust-baseline", "Cargo.toml")
    say("building the Rust baseline (cargo build --release)")
    st <- system2("cargo", c("build", "--release", "--quiet", "--offline", "--manifest-path", manifest))
    if (st != 0) st <- system2("cargo", c("build", "--release", "--quiet", "--manifest-path", manifest))
    have_rust <- st == 0 && file.exists(rust_bin)
    if (!have_rust) say("the Rust baseline could not be built: its rows are left out")
  }
  rust <- function(...) {
    out <- system2(rust_bin, c(...), stdout = TRUE)
    if (!is.null(attr(out, "status"))) stop("the Rust baseline failed: ", paste(c(...), collapse = " "))
    fromJSON(out[length(out)])
  }

  # ---- data -----------------------------------------------------------------
  # Synthesised locally from the Brainix FLAIR series: each copy of a seed file
  # has its study, series and SOP instance UIDs overwritten in place by new UIDs
  # of the same length (so no DICOM element changes length), then the copies are
  # sent with upload(). Much faster than /modify on the server.
  dicom_dir <- Sys.getenv("ORTHANC_TEST_DICOM", file.path(root, "..", "shared", "dicom"))
  if (!dir.exists(dicom_dir)) dicom_dir <- "/work/shared/dicom"
  seed_files <- sort(list.files(file.path(dicom_dir, "Brainix", "Flair"), full.names = TRUE))
  if (!length(seed_files)) stop("no DICOM samples in ", dicom_dir)
  say("uploading %d seed files", length(seed_files))
  seed <- lapply(seed_files, function(f) o$post_instances(file = f))
  seed_instance <- seed[[1]]$ID
  seed_patient <- o$get_instances_id_patient(seed_instance)$MainDicomTags$PatientID
  uid_tags <- c(study = "StudyInstanceUID", series = "SeriesInstanceUID", sop = "SOPInstanceUID")
  # Each seed file: its bytes and where each of its three UIDs occurs in them.
  seed_plan <- lapply(seq_along(seed_files), function(i) {
    bytes <- readBin(seed_files[i], "raw", file.size(seed_files[i]))
    tags <- o$get_instances_id_simplified_tags(seed[[i]]$ID)
    at <- lapply(uid_tags, function(t) {
      u <- charToRaw(tags[[t]])
      pos <- grepRaw(u, bytes, fixed = TRUE, all = TRUE)
      # Whole values only: not followed by a digit or a dot.
      after <- bytes[pos + length(u)]
      pos <- pos[!after %in% charToRaw("0123456789.")]
      if (!length(pos)) stop("UID ", t, " not found in ", seed_files[i])
      list(pos = pos, len = length(u))
    })
    list(bytes = bytes, at = at)
  })
  uid_serial <- 0
  # A new UID of `len` characters: "2.25." then digits (random, then a serial).
  new_uid <- function(len) {
    uid_serial <<- uid_serial + 1
    tail <- sprintf("%012.0f", uid_serial)
    head <- paste0(sample(1:9, 1), paste(sample(0:9, len - 5L - 1L - nchar(tail), TRUE), collapse = ""))
    paste0("2.25.", head, tail)
  }
  patch <- function(bytes, at, uid) {
    r <- charToRaw(uid)
    for (p in at$pos) bytes[p:(p + at$len - 1L)] <- r
    bytes
  }
  # Write `n` new instances (whole copies of the seed series) into `dir`, in one
  # new study; `each(files)` is called with every batch of at most `batch` files.
  synth <- function(n, dir, each, batch = 440L) {
    study <- lapply(seed_plan[[1]]$at["study"], function(a) new_uid(a$len))[[1]]
    files <- character()
    series <- NULL
    for (i in seq_len(n)) {
      k <- (i - 1L) %% length(seed_plan) + 1L
      s <- seed_plan[[k]]
      if (k == 1L) series <- new_uid(s$at$series$len)
      b <- patch(s$bytes, s$at$study, study)
      b <- patch(b, s$at$series, series)
      b <- patch(b, s$at$sop, new_uid(s$at$sop$len))
      f <- file.path(dir, sprintf("i-%06d.dcm", i))
      writeBin(b, f)
      files <- c(files, f)
      if (length(files) == batch || i == n) {
        each(files)
        files <- character()
      }
    }
    study
  }
  synth_dir <- file.path(work, "synth")
  dir.create(synth_dir)
  # A new study of `n` instances on the server.
  make_study <- function(n) {
    t0 <- proc.time()[["elapsed"]]
    study_uid <- synth(n, synth_dir, function(files) {
      rep <- upload(o, files, concurrency = 4, progress = FALSE)
      bad <- !rep$status %in% c("Success", "AlreadyStored")
      if (any(bad)) {
        # A transfer error under load: say why, then send those files once more.
        say("  %d of %d files failed (%s): sending them again", sum(bad), length(files), rep$message[bad][1])
        Sys.sleep(2)
        rep <- upload(o, files[bad], concurrency = 1, progress = FALSE)
        bad <- !rep$status %in% c("Success", "AlreadyStored")
        if (any(bad)) stop("synthesised file refused: ", rep$message[bad][1])
      }
      unlink(files)
    })
    found <- o$post_tools_lookup(data = study_uid)
    say("  %d instances in %.0f s", n, proc.time()[["elapsed"]] - t0)
    list(uid = study_uid, id = found[[1]]$ID, n = n)
  }

  big_n <- max(cfg$find, cfg$tags)
  big <- NULL
  if (runs("W1") || runs("W2") || runs("W5")) {
    say("making a study of %d instances (W1, W2, W5)", big_n)
    big <- make_study(big_n)
    big_instances <- unlist(o$get_studies_id_instances(big$id, params = list(expand = FALSE)))
    if (!is.character(big_instances)) big_instances <- vapply(o$get_studies_id_instances(big$id), function(x) x$ID, "")
    one_instance <- big_instances[1]
  }
  archive_study <- NULL
  if (runs("W4")) {
    say("making a study of %d instances (W4)", cfg$archive)
    archive_study <- list(n = cfg$archive, study = make_study(cfg$archive))
  }

  # Files to upload (W3, W8's STOW): more copies with new UIDs, in one new
  # study each, kept on disk.
  files_to_send <- function(n, name) {
    dir <- file.path(work, name)
    dir.create(dir)
    say("writing %d files to upload (%s)", n, name)
    files <- character()
    uid <- synth(n, dir, function(f) files <<- c(files, f), batch = n)
    list(files = files, uid = uid, delete = function() {
      found <- o$post_tools_lookup(data = uid)
      for (f in found) if (identical(f$Type, "Study")) o$delete_studies_id(f$ID)
    })
  }
  if (runs("W3")) {
    up <- files_to_send(cfg$upload, "upload")
    up_files <- up$files
    delete_uploads <- up$delete
    up_list <- file.path(work, "upload.txt")
    writeLines(up_files, up_list)
  }

  auth_h2 <- function(req) httr2::req_auth_basic(req, user, pass)
  curl_handle <- function() {
    h <- curl::new_handle()
    curl::handle_setopt(h, username = user, password = pass, httpauth = 1L)
    h
  }
  curl_json <- function(h, path) {
    r <- curl::curl_fetch_memory(paste0(url, path), handle = h)
    if (r$status_code >= 300) stop("curl: ", r$status_code)
    fromJSON(rawToChar(r$content), simplifyVector = FALSE)
  }

  header()

  # ---- W1: per-call latency and client CPU ------------------------------------
  if (runs("W1")) {
    say("W1")
    n <- cfg$calls
    w1 <- NULL
    for (ep in list(list(name = "GET /system", path = "/system", pkg = function() o$get_system()),
                    list(name = "GET /instances/{id}", path = paste0("/instances/", one_instance),
                         pkg = function() o$get_instances_id(one_instance)))) {
      h <- if (have_curl) curl_handle()
      req <- if (have_httr2) auth_h2(httr2::request(paste0(url, ep$path)))
      for (i in 1:20) ep$pkg()
      v <- list(orthanc = function() timed(function() for (i in seq_len(n)) ep$pkg()))
      if (have_httr2) v$httr2 <- function() timed(function() for (i in seq_len(n)) httr2::resp_body_json(httr2::req_perform(req)))
      if (have_curl) v$curl <- function() timed(function() for (i in seq_len(n)) curl_json(h, ep$path))
      if (have_rust) v$rust <- function() {
        r <- rust("get", n, ep$path)
        c(wall = r$wall_us * n / 1e6, cpu = r$cpu_us * n / 1e6)
      }
      m <- interleave(v)
      w1 <- rbind(w1, data.frame(request = ep$name, client = m$client,
        `wall µs/call` = m$wall / n * 1e6, `CPU µs/call` = m$cpu / n * 1e6, check.names = FALSE))
    }
    w1 <- do.call(rbind, lapply(split(w1, w1$request), function(d) {
      with_ratios(d, c("wall µs/call", "CPU µs/call"), is_baseline(d))
    }))
    rownames(w1) <- NULL
    md(w1, sprintf("W1: per-call latency and client CPU (%d calls; CPU of the client process)", n))
  }

  # ---- W2: large JSON ----------------------------------------------------------
  # W2 finds the instances of the seed's patient (every copy keeps it), at each
  # of `sizes`; the largest size also gets GET /instances?expand (all of them).
  run_w2 <- function(sizes, reps) {
    w2 <- NULL
    conv <- NULL
    h <- if (have_curl) curl_handle()
    for (fs in sizes) {
      body <- list(Level = "Instance", Expand = TRUE, Query = list(PatientID = seed_patient), Limit = fs)
      body_json <- as.character(toJSON(body, auto_unbox = TRUE))
      payloads <- list(
        list(name = sprintf("POST /tools/find (%d instances, expanded)", fs),
          pkg = function() o$post_tools_find(json = body),
          h2 = function() httr2::resp_body_json(httr2::req_perform(httr2::req_body_raw(
            auth_h2(httr2::request(paste0(url, "/tools/find"))), body_json, "application/json"))),
          curl = function() {
            hh <- curl_handle()
            curl::handle_setopt(hh, postfields = body_json)
            curl::handle_setheaders(hh, "Content-Type" = "application/json")
            r <- curl::curl_fetch_memory(paste0(url, "/tools/find"), handle = hh)
            fromJSON(rawToChar(r$content), simplifyVector = FALSE)
          })
      )
      if (fs == max(sizes)) {
        payloads[[2]] <- list(name = "GET /instances?expand (all)",
          pkg = function() o$get_instances(params = list(expand = TRUE)),
          h2 = function() httr2::resp_body_json(httr2::req_perform(auth_h2(httr2::request(paste0(url, "/instances?expand"))))),
          curl = function() curl_json(h, "/instances?expand"))
      }
      for (p in payloads) {
        v <- list(orthanc = function() timed(p$pkg))
        if (have_httr2) v$httr2 <- function() timed(p$h2)
        if (have_curl) v$curl <- function() timed(p$curl)
        m <- interleave(v, reps)
        # The answer's bytes, for the conversion alone.
        hh <- curl_handle()
        if (startsWith(p$name, "POST")) {
          curl::handle_setopt(hh, postfields = body_json)
          curl::handle_setheaders(hh, "Content-Type" = "application/json")
          bytes <- curl::curl_fetch_memory(paste0(url, "/tools/find"), handle = hh)$content
        } else {
          bytes <- curl::curl_fetch_memory(paste0(url, "/instances?expand"), handle = hh)$content
        }
        text <- rawToChar(bytes)
        k <- max(1L, min(20L, as.integer(2e7 / length(bytes))))
        cv <- list(
          `orthanc (rs_from_json)` = function() timed(function() for (i in seq_len(k)) orthanc:::rs_from_json(bytes)) / k,
          `jsonlite::fromJSON(simplifyVector = FALSE)` = function() timed(function() for (i in seq_len(k)) fromJSON(text, simplifyVector = FALSE)) / k
        )
        if (have_rust) {
          jf <- file.path(work, "answer.json")
          writeBin(bytes, jf)
          cv$`rust serde_json::Value` <- function() {
            r <- rust("decode", jf, k)
            c(wall = NA, cpu = r$cpu_ms / 1e3)
          }
        }
        cm <- interleave(cv, reps)
        w2 <- rbind(w2, data.frame(answer = p$name, MB = length(bytes) / 1e6, client = m$client,
          `wall ms` = m$wall * 1e3, `CPU ms` = m$cpu * 1e3, check.names = FALSE))
        conv <- rbind(conv, data.frame(answer = p$name, MB = length(bytes) / 1e6, conversion = cm$client,
          `CPU ms` = cm$cpu * 1e3, check.names = FALSE))
      }
    }
    list(w2 = w2, conv = conv)
  }
  w2_tables <- function(w2, conv, title) {
    w2 <- do.call(rbind, lapply(split(w2, w2$answer), function(d) with_ratios(d, c("wall ms", "CPU ms"), is_baseline(d))))
    rownames(w2) <- NULL
    md(w2, paste0(title, ": large JSON answers, whole call (request + conversion to R lists)"))
    conv <- do.call(rbind, lapply(split(conv, conv$answer), function(d) {
      for (b in c("rust serde_json::Value", "jsonlite::fromJSON(simplifyVector = FALSE)")) {
        ref <- d$`CPU ms`[d$conversion == b]
        d[[paste("×", sub("::.*|\\(.*| .*", "", b))]] <- if (length(ref)) round(d$`CPU ms` / ref, 2) else NA
      }
      d
    }))
    rownames(conv) <- NULL
    md(conv, paste0(title, ": conversion alone (same bytes; CPU per conversion)"))
  }
  if (runs("W2")) {
    say("W2")
    base_w2 <- run_w2(cfg$find, cfg$reps)
    w2_tables(base_w2$w2, base_w2$conv, "W2")
  }

  # ---- W3: upload -------------------------------------------------------------
  if (runs("W3")) {
    say("W3")
    delete_uploads()
    v <- list(
      `orthanc post_instances() sequential` = function() timed(function() for (f in up_files) o$post_instances(file = f)),
      `orthanc upload() (4 at once)` = function() timed(function() upload(o, up_files, concurrency = 4, progress = FALSE))
    )
    if (have_curl) v$`curl sequential` <- function() timed(function() {
      hh <- curl_handle()
      curl::handle_setheaders(hh, "Content-Type" = "application/dicom")
      for (f in up_files) {
        curl::handle_setopt(hh, postfields = readBin(f, "raw", file.size(f)))
        fromJSON(rawToChar(curl::curl_fetch_memory(paste0(url, "/instances"), handle = hh)$content), simplifyVector = FALSE)
      }
    })
    if (have_rust) {
      v$`rust 1 connection` <- function() { r <- rust("upload", 1, up_list); c(wall = r$wall_s, cpu = r$cpu_s) }
      v$`rust 4 connections` <- function() { r <- rust("upload", 4, up_list); c(wall = r$wall_s, cpu = r$cpu_s) }
    }
    m <- interleave(v, setup = delete_uploads)
    delete_uploads()
    w3 <- data.frame(client = m$client, `files/s` = cfg$upload / m$wall, `wall s` = m$wall,
      `CPU s` = m$cpu, check.names = FALSE)
    best_rate <- max(w3$`files/s`[is_baseline(w3)])
    w3$`rate × best baseline` <- round(w3$`files/s` / best_rate, 2)
    w3 <- with_ratios(w3, "CPU s", is_baseline(w3))
    md(w3, sprintf("W3: upload of %d files (%.0f KB each)", cfg$upload, mean(file.size(up_files)) / 1e3))
  }

  # ---- W4: a study archive to disk ---------------------------------------------
  child <- file.path(work, "download-child.R")
  writeLines(c(
    "a <- commandArgs(TRUE); variant <- a[1]; route <- a[2]; out <- a[3]",
    "suppressPackageStartupMessages({library(orthanc); library(jsonlite)})",
    "url <- Sys.getenv('BENCH_URL'); user <- Sys.getenv('BENCH_USER'); pass <- Sys.getenv('BENCH_PASS')",
    "if (variant == 'orthanc') { o <- Orthanc$new(url, username = user, password = pass); invisible(o$get_system()) }",
    "if (variant == 'httr2') { library(httr2); req <- req_auth_basic(request(paste0(url, route)), user, pass) }",
    "if (variant == 'curl') { library(curl); h <- new_handle(); handle_setopt(h, username = user, password = pass, httpauth = 1L) }",
    "invisible(gc())",
    "rss <- as.numeric(sub('[^0-9]*([0-9]+).*', '\\\\1', grep('^VmRSS', readLines('/proc/self/status'), value = TRUE)))",
    "t0 <- proc.time()",
    "if (variant == 'orthanc') Study$new(sub('.*/studies/([^/]+)/.*', '\\\\1', route), o)$download(out)",
    "if (variant == 'httr2') invisible(req_perform(req, path = out))",
    "if (variant == 'curl') invisible(curl_download(paste0(url, route), out, handle = h, quiet = TRUE))",
    "t <- proc.time() - t0",
    "cat(toJSON(list(wall = t[['elapsed']], cpu = t[['user.self']] + t[['sys.self']], rss_kb = rss, bytes = file.size(out)), auto_unbox = TRUE), '\\n')"
  ), child)
  rscript <- file.path(R.home("bin"), "Rscript")
  run_child <- function(variant, route, out) {
    err <- file.path(work, "time.txt")
    res <- system2("/usr/bin/time", c("-v", rscript, child, variant, route, out), stdout = TRUE, stderr = err)
    tv <- readLines(err)
    maxrss <- as.numeric(sub(".*: *", "", grep("Maximum resident set size", tv, value = TRUE)))
    r <- fromJSON(res[length(res)])
    unlink(out)
    c(wall = r$wall, cpu = r$cpu, growth_mb = (maxrss - r$rss_kb) / 1024, mb = r$bytes / 1e6)
  }
  # `r_baselines`: httr2 and curl too (left out at the W6 size, for time).
  run_w4 <- function(as, reps, r_baselines = TRUE) {
    route <- paste0("/studies/", as$study$id, "/archive")
    out <- file.path(work, "archive.zip")
    v <- list(orthanc = function() run_child("orthanc", route, out))
    if (have_httr2 && r_baselines) v$httr2 <- function() run_child("httr2", route, out)
    if (have_curl && r_baselines) v$curl <- function() run_child("curl", route, out)
    if (have_rust) v$rust <- function() {
      r <- rust("download", route, out)
      unlink(out)
      c(wall = r$wall_s, cpu = r$cpu_s, growth_mb = (r$maxrss_kb - r$rss0_kb) / 1024, mb = r$bytes / 1e6)
    }
    m <- interleave(v, reps)
    d <- data.frame(study = sprintf("%d instances, %.0f MB", as$study$n, m$mb[1]), client = m$client,
      `wall s` = m$wall, `CPU s` = m$cpu, `peak RSS growth MB` = m$growth_mb, check.names = FALSE)
    with_ratios(d, c("wall s", "CPU s"), is_baseline(d))
  }
  w4_title <- "study archive to disk (each in a child process; CPU and RSS of that process during the call)"
  if (runs("W4")) {
    say("W4")
    w4 <- run_w4(archive_study, cfg$reps)
    md(w4, paste("W4:", w4_title))
  }

  # ---- W5: tags of N instances into a data frame --------------------------------
  if (runs("W5")) {
    say("W5")
    tags <- c("SliceLocation", "InstanceNumber", "SeriesDescription", "ImagePositionPatient", "0018,0050")
    instances <- find_instances(o, query = list(StudyInstanceUID = big$uid))[seq_len(cfg$tags)]
    ids <- vapply(instances, function(x) x$identifier, "")
    tag_list <- file.path(work, "tags.txt")
    writeLines(paste0("/instances/", ids, "/tags?simplify"), tag_list)
    v <- list(
      `orthanc as.data.frame(tags =)` = function() timed(function() as.data.frame(instances, tags = tags)),
      `orthanc sequential loop` = function() timed(function() {
        vals <- lapply(ids, function(id) o$get_instances_id_tags(id, params = list(simplify = TRUE)))
        d <- data.frame(id = ids)
        for (t in tags[1:4]) d[[t]] <- vapply(vals, function(x) paste(unlist(x[[t]]), collapse = "\\"), "")
        d
      })
    )
    if (have_rust) v$`rust 4 connections (GET tags each)` <- function() {
      r <- rust("getmany", 4, tag_list)
      c(wall = r$wall_s, cpu = r$cpu_s)
    }
    m <- interleave(v)
    w5 <- data.frame(client = m$client, `wall s` = m$wall, `CPU s` = m$cpu, check.names = FALSE)
    w5 <- with_ratios(w5, c("wall s", "CPU s"), is_baseline(w5))
    md(w5, sprintf("W5: %d tags of %d instances into a data frame", length(tags), cfg$tags))
  }

  if (runs("W7")) run_w7()
  if (runs("W9")) run_w9()

  # ---- W8: DICOMweb (QIDO, WADO-RS, STOW) against dicomweb-client and Rust -------
  if (runs("W8")) {
    say("W8")
    dw <- dicomweb(o)
    # The peer: Python's dicomweb-client, in a process of its own per call
    # (bench/dicomweb-client.py), with the Python of BENCH_PYTHON (else python3).
    py <- Sys.getenv("BENCH_PYTHON", "python3")
    py_script <- file.path(root, "bench", "dicomweb-client.py")
    have_py <- nzchar(Sys.which(py)) &&
      identical(suppressWarnings(system2(py, c("-c", shQuote("import dicomweb_client, pydicom")),
        stdout = FALSE, stderr = FALSE)), 0L)
    if (!have_py) say("no dicomweb-client for %s (set BENCH_PYTHON): its rows are left out", py)
    python <- function(...) {
      out <- system2(py, c(py_script, ...), stdout = TRUE)
      if (!is.null(attr(out, "status"))) stop("dicomweb-client failed: ", paste(c(...), collapse = " "))
      fromJSON(out[length(out)])
    }
    # The rate of the package's rows against Python's, and the wall and CPU
    # against the bare Rust loop's.
    w8_ratios <- function(d, rate) {
      d[[rate]] <- d$n / d$`wall s`
      py_rate <- d[[rate]][d$client == "python dicomweb-client"]
      d[["rate × python"]] <- if (length(py_rate)) round(d[[rate]] / py_rate, 2) else NA
      rw <- d$`wall s`[d$client == "rust"]
      rc <- d$`CPU s`[d$client == "rust"]
      d[["wall × rust"]] <- if (length(rw)) round(d$`wall s` / rw, 2) else NA
      d[["CPU × rust"]] <- if (length(rc)) round(d$`CPU s` / rc, 2) else NA
      d
    }

    # (1) QIDO: the instances of one study, into a data frame (R), a list of
    # dicts (Python), serde_json::Value (Rust).
    qido_study <- if (!is.null(big) && big$n == cfg$qido) big else {
      say("making a study of %d instances (W8 QIDO)", cfg$qido)
      make_study(cfg$qido)
    }
    qido_route <- sprintf("/dicom-web/studies/%s/instances", qido_study$uid)
    n_df <- nrow(dw$search_for_instances(qido_study$uid))
    if (n_df != cfg$qido) stop(sprintf("W8: QIDO found %d instances, not %d", n_df, cfg$qido))
    v <- list(
      `orthanc search_for_instances() data frame` = function() c(timed(function() dw$search_for_instances(qido_study$uid)), n = cfg$qido),
      `orthanc search_for_instances(as = "list")` = function() c(timed(function() dw$search_for_instances(qido_study$uid, as = "list")), n = cfg$qido)
    )
    if (have_py) v$`python dicomweb-client` <- function() {
      r <- python("qido", qido_study$uid)
      c(wall = r$wall, cpu = r$cpu, n = r$n)
    }
    if (have_rust) v$rust <- function() {
      r <- rust("qido", qido_route)
      c(wall = r$wall_s, cpu = r$cpu_s, n = r$n)
    }
    m <- interleave(v)
    w8q <- w8_ratios(data.frame(client = m$client, n = m$n, `wall s` = m$wall, `CPU s` = m$cpu,
      check.names = FALSE), "instances/s")
    md(w8q, sprintf("W8 (1): QIDO-RS, the %d instances of a study (search_for_instances; CPU of the client process)", cfg$qido))

    # (2) WADO-RS: a study to a folder, each client in a child process: wall,
    # CPU and peak RSS growth (over VmRSS before the call) of that process.
    wado_study <- if (!is.null(archive_study) && archive_study$n == cfg$wado) archive_study$study else {
      say("making a study of %d instances (W8 WADO-RS)", cfg$wado)
      make_study(cfg$wado)
    }
    wado_child <- file.path(work, "wado-child.R")
    writeLines(c(
      "a <- commandArgs(TRUE); uid <- a[1]; out <- a[2]",
      "suppressPackageStartupMessages({library(orthanc); library(jsonlite)})",
      "o <- Orthanc$new(Sys.getenv('BENCH_URL'), username = Sys.getenv('BENCH_USER'), password = Sys.getenv('BENCH_PASS'))",
      "dw <- dicomweb(o); invisible(o$get_system())",
      "invisible(gc())",
      "rss <- as.numeric(sub('[^0-9]*([0-9]+).*', '\\\\1', grep('^VmRSS', readLines('/proc/self/status'), value = TRUE)))",
      "t0 <- proc.time()",
      "r <- dw$retrieve_study(uid, out, progress = FALSE)",
      "t <- proc.time() - t0",
      "cat(toJSON(list(wall = t[['elapsed']], cpu = t[['user.self']] + t[['sys.self']], rss_kb = rss, n = nrow(r)), auto_unbox = TRUE), '\\n')"
    ), wado_child)
    wado_out <- file.path(work, "wado")
    # The previous run's 3,200 files are deleted, then written to disk (sync)
    # and given 3 s: otherwise the file system's work on them (freeing 540 MB,
    # committing its journal) falls on the next client's file creations
    # (measured: that alone made one client 1.7x slower than another).
    fresh_out <- function() {
      unlink(wado_out, recursive = TRUE)
      system2("sync")
      Sys.sleep(3)
      dir.create(wado_out)
    }
    out_mb <- function() sum(file.size(list.files(wado_out, full.names = TRUE))) / 1e6
    v <- list(orthanc = function() {
      fresh_out()
      err <- file.path(work, "time.txt")
      res <- system2("/usr/bin/time", c("-v", file.path(R.home("bin"), "Rscript"), wado_child, wado_study$uid, wado_out),
        stdout = TRUE, stderr = err)
      maxrss <- as.numeric(sub(".*: *", "", grep("Maximum resident set size", readLines(err), value = TRUE)))
      r <- fromJSON(res[length(res)])
      c(wall = r$wall, cpu = r$cpu, growth_mb = (maxrss - r$rss_kb) / 1024, n = r$n, mb = out_mb())
    })
    if (have_py) v$`python dicomweb-client` <- function() {
      fresh_out()
      r <- python("wado", wado_study$uid, wado_out)
      c(wall = r$wall, cpu = r$cpu, growth_mb = (r$maxrss_kb - r$rss_kb) / 1024, n = r$n, mb = out_mb())
    }
    if (have_rust) v$rust <- function() {
      fresh_out()
      r <- rust("wado", sprintf("/dicom-web/studies/%s", wado_study$uid), wado_out)
      c(wall = r$wall_s, cpu = r$cpu_s, growth_mb = (r$maxrss_kb - r$rss0_kb) / 1024, n = r$parts, mb = out_mb())
    }
    m <- interleave(v)
    unlink(wado_out, recursive = TRUE)
    if (any(m$n != cfg$wado)) stop("W8: WADO-RS wrote ", paste(m$n, collapse = "/"), " files, not ", cfg$wado)
    w8w <- w8_ratios(data.frame(client = m$client, n = m$n, MB = m$mb, `wall s` = m$wall, `CPU s` = m$cpu,
      `peak RSS growth MB` = m$growth_mb, check.names = FALSE), "instances/s")
    md(w8w, sprintf("W8 (2): WADO-RS, a study of %d instances to a folder (each in a child process; CPU and RSS of that process during the call)", cfg$wado))

    # (3) STOW-RS of files (deleted from the server before each repetition).
    st <- files_to_send(cfg$stow, "stow")
    stow_list <- file.path(work, "stow.txt")
    writeLines(st$files, stow_list)
    stow_mb <- sum(file.size(st$files)) / 1e6
    v <- list(`orthanc store_instances()` = function() {
      t <- timed(function() rep <- dw$store_instances(st$files, progress = FALSE))
      c(t, n = cfg$stow)
    })
    if (have_py) v$`python dicomweb-client` <- function() {
      r <- python("stow", stow_list)
      if (r$stored != cfg$stow) stop("W8: dicomweb-client stored ", r$stored, " of ", cfg$stow)
      c(wall = r$wall, cpu = r$cpu, n = r$n)
    }
    if (have_rust) v$rust <- function() {
      r <- rust("stow", "/dicom-web/studies", stow_list)
      if (r$stored != cfg$stow) stop("W8: the Rust loop stored ", r$stored, " of ", cfg$stow)
      c(wall = r$wall_s, cpu = r$cpu_s, n = r$n)
    }
    # Each repetition must store every file: checked after each.
    checked <- lapply(v, function(f) function() {
      x <- f()
      found <- o$post_tools_lookup(data = st$uid)
      n_now <- if (length(found)) o$get_studies_id_statistics(found[[1]]$ID)$CountInstances else 0
      if (n_now != cfg$stow) stop(sprintf("W8: %d of the %d files sent are on the server", n_now, cfg$stow))
      x
    })
    m <- interleave(checked, setup = st$delete)
    st$delete()
    w8s <- w8_ratios(data.frame(client = m$client, n = m$n, `wall s` = m$wall, `CPU s` = m$cpu,
      check.names = FALSE), "files/s")
    md(w8s, sprintf("W8 (3): STOW-RS of %d files (%.0f MB; store_instances() sends requests of at most 100 MB, 4 at once; the others one request)",
      cfg$stow, stow_mb))
  }

  # ---- W6: W2 and W4 at ten times the sizes --------------------------------------
  # After W1-W5, so that those run against the same server in every run. One
  # repetition at these sizes.
  if (scale) {
    say("W6: making the data")
    big_arch <- list(n = cfg$archive * 10L, study = {
      say("making a study of %d instances (W4 at scale)", cfg$archive * 10L)
      make_study(cfg$archive * 10L)
    })
    have <- length(seed_files) + big_n + cfg$archive + big_arch$n
    if (cfg$find * 10L > have) {
      say("making a study of %d more instances (W2 at %d)", cfg$find * 10L - have, cfg$find * 10L)
      make_study(cfg$find * 10L - have)
    }
    say("W6: W2")
    big_w2 <- run_w2(cfg$find * 10L, 1L)
    w2_tables(big_w2$w2, big_w2$conv, sprintf("W6, W2 at %d instances", cfg$find * 10L))
    say("W6: W4")
    big_w4 <- run_w4(big_arch, 1L, r_baselines = FALSE)
    md(big_w4, paste("W6, W4 at", big_arch$n, "instances:", w4_title))
    grow <- function(what, size, cost, unit) {
      data.frame(measure = what, `small size` = size[1], `large size` = size[2],
        `size ×` = round(size[2] / size[1], 1), `small` = cost[1], `large` = cost[2],
        `cost ×` = round(cost[2] / cost[1], 2), unit = unit, check.names = FALSE)
    }
    pick <- function(d, col, rows) d[[col]][rows(d)][1]
    is_find <- function(d) startsWith(d$answer, "POST")
    conv_rows <- function(d) is_find(d) & d$conversion == "orthanc (rs_from_json)"
    call_rows <- function(d) is_find(d) & d$client == "orthanc"
    arch_rows <- function(d) d$client == "orthanc"
    w6 <- rbind(
      grow("W2 conversion CPU (rs_from_json)",
        c(pick(base_w2$conv, "MB", conv_rows), pick(big_w2$conv, "MB", conv_rows)),
        c(pick(base_w2$conv, "CPU ms", conv_rows), pick(big_w2$conv, "CPU ms", conv_rows)), "ms; size in MB of JSON"),
      grow("W2 whole call CPU (post_tools_find)",
        c(pick(base_w2$w2, "MB", call_rows), pick(big_w2$w2, "MB", call_rows)),
        c(pick(base_w2$w2, "CPU ms", call_rows), pick(big_w2$w2, "CPU ms", call_rows)), "ms; size in MB of JSON"),
      grow("W4 CPU (Study$download)", c(cfg$archive, big_arch$n),
        c(pick(w4, "CPU s", arch_rows), pick(big_w4, "CPU s", arch_rows)), "s; size in instances"),
      grow("W4 peak RSS growth", c(cfg$archive, big_arch$n),
        c(pick(w4, "peak RSS growth MB", arch_rows), pick(big_w4, "peak RSS growth MB", arch_rows)), "MB; size in instances")
    )
    md(w6, "W6: this package's costs at two sizes (CPU should grow like the size, RSS stay flat)")
  }
  cat("\n")
  invisible()
}

status <- tryCatch({
  main()
  0L
}, error = function(e) {
  say("bench/run.R failed: %s", conditionMessage(e))
  1L
}, finally = {
  stop_server()
  unlink(work, recursive = TRUE)
})
quit(status = status)
