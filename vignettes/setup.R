# Shared setup of the vignettes, sourced by the first chunk of each one:
#   ```{r setup, include = FALSE}
#   source("setup.R", local = TRUE)
#   ```
# (a vignette that needs more than server A sets `orthanc_needs`, a vector of
# environment variables, before sourcing this).
#
# Chunks are evaluated against a live Orthanc when a test server answers
# (ORTHANC_TEST_URL, from dev/orthanc-server; never ORTHANC_URL, which may be
# a real PACS: the vignettes upload and delete data). Its URL and credentials
# are copied to ORTHANC_URL, ORTHANC_USERNAME and ORTHANC_PASSWORD, which
# `Orthanc$new()` reads. Without a server, each chunk shows its code followed
# by the output recorded from a real run by dev/record-vignettes.R, stored in
# recorded/<vignette>.md (plots as recorded/<vignette>-<chunk>-<n>.png). A
# record belongs to the exact code of its chunk (its MD5): when the code
# changes, the record is stale and not shown (`dev/record-vignettes.R --check`
# fails until it is recorded again).
#
# ORTHANC_VIGNETTE_MODE: "auto" (default), "live" or "recorded" (forced).
# Set by dev/record-vignettes.R only: ORTHANC_VIGNETTE_RECORD (folder where a
# live run writes its record) and ORTHANC_VIGNETTE_CHECK (file where a
# recorded run lists missing and stale records; nothing is evaluated).
# Chunk option `offline = TRUE`: the chunk needs no server and is always
# evaluated (nothing recorded).
#
# Every other chunk (and any chunk with `error = TRUE`) has `purl = FALSE`:
# R CMD check also runs the code of the vignettes as a plain R script, without
# knitr and maybe without a server, where the first error would stop it; that
# script holds the offline chunks only. `dev/record-vignettes.R --check` checks
# this too.

local({
  env <- Sys.getenv
  mode <- env("ORTHANC_VIGNETTE_MODE", "auto")
  record_dir <- env("ORTHANC_VIGNETTE_RECORD")
  check_file <- env("ORTHANC_VIGNETTE_CHECK")
  needs <- c("ORTHANC_TEST_URL", if (exists("orthanc_needs")) orthanc_needs)
  name <- tools::file_path_sans_ext(basename(knitr::current_input()))
  record_file <- file.path("recorded", paste0(name, ".md"))
  # The MD5 of a chunk's code: its lines joined by "\n", in UTF-8 (the same
  # bytes on every system).
  code_md5 <- function(code) {
    f <- tempfile()
    on.exit(unlink(f))
    writeBin(charToRaw(enc2utf8(paste(code, collapse = "\n"))), f)
    unname(tools::md5sum(f))
  }

  version <- NULL
  if (mode != "recorded" && all(nzchar(vapply(needs, env, "")))) {
    version <- tryCatch(
      orthanc::Orthanc$new(env("ORTHANC_TEST_URL"), env("ORTHANC_TEST_USERNAME"),
        env("ORTHANC_TEST_PASSWORD"),
        retries = 0, timeout = 5
      )$get_system()$Version,
      error = function(e) NULL
    )
  }
  if (mode == "live" && is.null(version)) {
    stop("ORTHANC_VIGNETTE_MODE=live but no test server answers (needs: ",
      paste(needs, collapse = ", "), ")", call. = FALSE)
  }
  live <- !is.null(version)
  knitr::opts_chunk$set(collapse = TRUE, comment = "#>", error = FALSE, fig.width = 4, fig.height = 4)

  if (live) {
    Sys.setenv(
      ORTHANC_URL = env("ORTHANC_TEST_URL"), ORTHANC_USERNAME = env("ORTHANC_TEST_USERNAME"),
      ORTHANC_PASSWORD = env("ORTHANC_TEST_PASSWORD")
    )
    if (!nzchar(record_dir)) return(invisible())
    # Recording: keep each evaluated chunk's final markdown (its plots copied
    # to the record folder) and write the record when the document is done.
    chunks <- list()
    plots <- character()
    plot_hook <- knitr::knit_hooks$get("plot")
    chunk_hook <- knitr::knit_hooks$get("chunk")
    document_hook <- knitr::knit_hooks$get("document")
    knitr::knit_hooks$set(
      plot = function(x, options) {
        saved <- paste0(name, "-", basename(x))
        file.copy(x, file.path(record_dir, saved), overwrite = TRUE)
        plots[[x]] <<- saved
        plot_hook(x, options)
      },
      chunk = function(x, options) {
        out <- chunk_hook(x, options)
        if (isTRUE(options$eval) && isTRUE(options$include) && !isTRUE(options$offline)) {
          text <- out
          for (p in names(plots)) text <- gsub(p, file.path("recorded", plots[[p]]), text, fixed = TRUE)
          chunks[[options$label]] <<- c(
            paste0("<!-- chunk: ", options$label, " md5: ", code_md5(options$code), " -->"),
            text
          )
        }
        out
      },
      document = function(x) {
        header <- c(
          paste0("<!-- Output recorded from a real run of ", name, ".Rmd by dev/record-vignettes.R. -->"),
          paste0("<!-- orthanc: ", version, "; orthanc-r: ", utils::packageVersion("orthanc"),
                 "; recorded: ", format(Sys.time(), "%Y-%m-%d %H:%M UTC", tz = "UTC"), " -->")
        )
        writeLines(enc2utf8(c(header, unlist(chunks))), file.path(record_dir, paste0(name, ".md")),
          useBytes = TRUE
        )
        document_hook(x)
      }
    )
    return(invisible())
  }

  # No server: replay. Read the record (chunks by label, with their code's MD5).
  lines <- if (file.exists(record_file)) readLines(record_file, encoding = "UTF-8") else character()
  starts <- grep("^<!-- chunk: ", lines)
  info <- grep("^<!-- orthanc: ", lines, value = TRUE)[1]
  info <- if (is.na(info)) character() else strsplit(sub(
    "^<!-- orthanc: ([^;]*); orthanc-r: [^;]*; recorded: (.*) -->$", "\\1|\\2", info
  ), "|", fixed = TRUE)[[1]]
  records <- list()
  for (k in seq_along(starts)) {
    end <- if (k < length(starts)) starts[k + 1L] - 1L else length(lines)
    head <- regmatches(lines[starts[k]], regexec("^<!-- chunk: (.*) md5: ([0-9a-f]+) -->$", lines[starts[k]]))[[1]]
    body <- if (end > starts[k]) lines[(starts[k] + 1L):end] else character()
    records[[head[2]]] <- list(md5 = head[3], text = paste(body, collapse = "\n"))
  }
  problem <- function(what, label) {
    if (nzchar(check_file)) cat(name, what, label, "\n", file = check_file, append = TRUE)
  }
  first <- TRUE
  knitr::opts_hooks$set(eval = function(options) {
    if (nzchar(check_file) && (!isTRUE(options$offline) || isTRUE(options$error)) && !isFALSE(options$purl)) {
      problem("purl", options$label)
    }
    if (nzchar(check_file) || (isTRUE(options$eval) && !isTRUE(options$offline))) {
      options$orthanc_replay <- isTRUE(options$eval) && isTRUE(options$include) && !isTRUE(options$offline)
      options$eval <- FALSE
    }
    options
  })
  chunk_hook <- knitr::knit_hooks$get("chunk")
  knitr::knit_hooks$set(chunk = function(x, options) {
    if (!isTRUE(options$orthanc_replay)) return(chunk_hook(x, options))
    note <- NULL
    if (first && length(info) == 2L) {
      note <- paste0(
        "> No Orthanc server was configured when this page was built: the output ",
        "below was recorded from a real run against Orthanc ", info[1], " on ", info[2], ".\n\n"
      )
    }
    first <<- FALSE
    rec <- records[[options$label]]
    if (is.null(rec)) {
      problem("missing", options$label)
    } else if (!identical(rec$md5, code_md5(options$code))) {
      problem("stale", options$label)
      rec <- NULL
    } else if (nzchar(check_file)) {
      problem("ok", options$label)
    }
    if (is.null(rec)) {
      return(paste0(note, chunk_hook(x, options), "\n\n> (No output recorded for this code.)\n\n"))
    }
    paste0(note, rec$text)
  })
  invisible()
})
