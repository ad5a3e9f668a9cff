# Record the output of the vignettes from a real run, for readers who build
# them without a server (see vignettes/setup.R).
#
#   Rscript dev/record-vignettes.R                 # record every vignette
#   Rscript dev/record-vignettes.R finding images  # record these
#   Rscript dev/record-vignettes.R --check         # fail on missing or stale records
#
# Recording needs the test servers (eval "$(dev/orthanc-server start)": A, and
# B for modalities.Rmd) and the package installed (R_LIBS=...): each vignette
# is rendered live, in a fresh R process, from a copy of vignettes/ in a
# temporary folder; its record replaces vignettes/recorded/<name>.md and
# <name>-*.png. The rendered HTML goes to $ORTHANC_VIGNETTE_OUT if set.
#
# --check knits every vignette in replay mode (nothing evaluated, no server, no
# package needed) and fails when an evaluated chunk has no record, when its
# record was made for other code, when a record or plot is no longer used, or
# when a chunk that needs a server (or raises an error) would be in the
# tangled R code that R CMD check runs (it needs purl = FALSE).

args <- commandArgs(trailingOnly = TRUE)
check <- "--check" %in% args
args <- setdiff(args, "--check")
root <- normalizePath(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))), ".."))
vig <- file.path(root, "vignettes")
rec <- file.path(vig, "recorded")
all <- tools::file_path_sans_ext(list.files(vig, pattern = "\\.Rmd$"))
names <- if (length(args)) args else all
unknown <- setdiff(names, all)
if (length(unknown)) stop("No such vignette: ", paste(unknown, collapse = ", "), call. = FALSE)

# A copy of vignettes/ to knit in (knitr writes figures beside the input).
copy_vignettes <- function() {
  dir <- tempfile("vignettes-")
  dir.create(dir)
  file.copy(list.files(vig, full.names = TRUE), dir, recursive = TRUE)
  dir
}

run_r <- function(code, env) {
  out <- suppressWarnings(system2(file.path(R.home("bin"), "Rscript"), c("-e", shQuote(code)),
    env = env, stdout = TRUE, stderr = TRUE
  ))
  list(status = attr(out, "status") %||% 0L, output = out)
}
`%||%` <- function(x, y) if (is.null(x)) y else x

if (check) {
  problems <- character()
  dir <- copy_vignettes()
  on.exit(unlink(dir, recursive = TRUE))
  report <- file.path(dir, "check.txt")
  file.create(report)
  for (n in all) {
    code <- sprintf("setwd(%s); invisible(knitr::knit(%s, output = tempfile(fileext = '.md'), quiet = TRUE))",
      deparse(dir), deparse(paste0(n, ".Rmd")))
    r <- run_r(code, c("ORTHANC_VIGNETTE_MODE=recorded", paste0("ORTHANC_VIGNETTE_CHECK=", report)))
    if (r$status != 0) problems <- c(problems, paste0(n, ".Rmd: cannot be knitted:\n", paste(r$output, collapse = "\n")))
  }
  seen <- if (file.size(report) > 0) {
    utils::read.table(report, col.names = c("vignette", "what", "label"), stringsAsFactors = FALSE)
  } else {
    data.frame(vignette = character(), what = character(), label = character())
  }
  bad <- seen[seen$what != "ok", ]
  for (i in seq_len(nrow(bad))) {
    problems <- c(problems, if (bad$what[i] == "purl") {
      sprintf("%s.Rmd, chunk '%s': needs a server or has error = TRUE, so needs purl = FALSE", bad$vignette[i], bad$label[i])
    } else {
      sprintf("%s.Rmd, chunk '%s': record %s", bad$vignette[i], bad$label[i], bad$what[i])
    })
  }
  for (n in all) {
    lines <- readLines(file.path(vig, paste0(n, ".Rmd")))
    first <- grep("^```\\{r", lines)[1]
    end <- grep("^```\\s*$", lines)
    end <- end[end > first][1]
    if (is.na(end) || !grepl("purl = FALSE", lines[first]) ||
      !'source("setup.R", local = TRUE)' %in% lines[first:end]) {
      problems <- c(problems, paste0(n, ".Rmd: the first chunk must source setup.R, with purl = FALSE"))
    }
  }
  used_png <- character()
  for (f in list.files(rec, pattern = "\\.md$", full.names = TRUE)) {
    n <- tools::file_path_sans_ext(basename(f))
    lines <- readLines(f, encoding = "UTF-8")
    if (!n %in% all) {
      problems <- c(problems, paste0("recorded/", basename(f), ": no vignette ", n, ".Rmd"))
      next
    }
    labels <- sub("^<!-- chunk: (.*) md5: .*$", "\\1", grep("^<!-- chunk: ", lines, value = TRUE))
    unused <- setdiff(labels, seen$label[seen$vignette == n])
    for (l in unused) problems <- c(problems, sprintf("recorded/%s: chunk '%s' is not in %s.Rmd", basename(f), l, n))
    png <- unlist(regmatches(lines, gregexpr("recorded/[^\")[:space:]]+\\.png", lines)))
    for (p in png[!file.exists(file.path(vig, png))]) problems <- c(problems, paste0(basename(f), ": missing ", p))
    used_png <- c(used_png, png)
  }
  extra <- setdiff(file.path("recorded", list.files(rec, pattern = "\\.png$")), used_png)
  for (p in extra) problems <- c(problems, paste0(p, ": not used by any record"))
  if (length(problems)) {
    cat("Vignette records are missing or stale (re-record: Rscript dev/record-vignettes.R):\n",
      paste0("  ", problems, collapse = "\n"), "\n", sep = "")
    quit(status = 1)
  }
  cat("Vignette records: ", nrow(seen), " chunks of ", length(all), " vignettes, all recorded for their code.\n", sep = "")
  quit(status = 0)
}

if (!nzchar(Sys.getenv("ORTHANC_TEST_URL"))) {
  stop("Recording needs the test servers: eval \"$(dev/orthanc-server start)\"", call. = FALSE)
}
dir.create(rec, showWarnings = FALSE)
out_dir <- Sys.getenv("ORTHANC_VIGNETTE_OUT", tempfile("vignettes-html-"))
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
failed <- character()
for (n in names) {
  dir <- copy_vignettes()
  new_rec <- file.path(dir, "new-record")
  dir.create(new_rec)
  started <- Sys.time()
  code <- sprintf("rmarkdown::render(%s, output_dir = %s, quiet = TRUE)",
    deparse(file.path(dir, paste0(n, ".Rmd"))), deparse(out_dir))
  r <- run_r(code, c("ORTHANC_VIGNETTE_MODE=live", paste0("ORTHANC_VIGNETTE_RECORD=", new_rec)))
  took <- as.numeric(difftime(Sys.time(), started, units = "secs"))
  made <- list.files(new_rec, full.names = TRUE)
  if (r$status != 0 || !file.exists(file.path(new_rec, paste0(n, ".md")))) {
    cat(n, ": FAILED, the old record is kept\n", paste(utils::tail(r$output, 30), collapse = "\n"), "\n", sep = "")
    failed <- c(failed, n)
  } else {
    unlink(c(file.path(rec, paste0(n, ".md")), list.files(rec, paste0("^", n, "-.*\\.png$"), full.names = TRUE)))
    file.copy(made, rec, overwrite = TRUE)
    cat(sprintf("%s: recorded in %.1f s (%d file%s), %s\n", n, took, length(made),
      if (length(made) == 1) "" else "s", file.path(out_dir, paste0(n, ".html"))))
  }
  unlink(dir, recursive = TRUE)
}
if (length(failed)) quit(status = 1)
