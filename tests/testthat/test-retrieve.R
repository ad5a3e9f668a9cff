# retrieve_and_write_*(): DICOM trees byte-identical to the server's files,
# sanitised names, archives, previews, NIfTI, failures as rows, and no
# truncated file after SIGKILL or SIGINT in the middle of a download.

# `n` copies of the Brainix slice in one series of a patient of its own (new
# SOPInstanceUIDs and InstanceNumbers 1..n); deleted when the test ends.
local_big_series <- function(client, n = 12L, env = parent.frame()) {
  pid <- unique_patient_id("RETRIEVE")
  orig <- client$post_instances(file = fixture("Brainix-Flair-1.dcm"))
  uid <- function() paste0("2.25.", sample(1:9, 1), paste(sample(0:9, 30, TRUE), collapse = ""))
  ids <- character()
  # Modifying one instance gives new study and series UIDs unless they are set.
  study_uid <- uid()
  series_uid <- uid()
  for (k in seq_len(n)) {
    bytes <- client$post_instances_id_modify(orig$ID, json = list(
      Replace = list(
        PatientID = pid, StudyInstanceUID = study_uid, SeriesInstanceUID = series_uid,
        SOPInstanceUID = uid(), InstanceNumber = as.character(k)
      ),
      Force = TRUE
    ))
    f <- tempfile(fileext = ".dcm")
    writeBin(bytes, f)
    r <- client$post_instances(file = f)
    unlink(f)
    if (k == 1L) withr::defer(try(client$delete_patients_id(r$ParentPatient), silent = TRUE), envir = env)
    ids <- c(ids, r$ID)
  }
  if (!identical(orig$Status, "AlreadyStored")) client$delete_instances_id(orig$ID)
  stopifnot(length(unique(ids)) == n, length(client$get_series_id(r$ParentSeries)$Instances) == n)
  list(series = r$ParentSeries, patient = r$ParentPatient, instances = ids)
}

# A throttling relay to the test server (fixtures/throttle-proxy.py).
local_throttle_proxy <- function(target, rate, env = parent.frame()) {
  py <- fault_python()
  hostport <- sub("^https?://", "", sub("/$", "", target))
  p <- processx::process$new(py, c(fixture("throttle-proxy.py"), "--target", hostport, "--rate", rate),
    stdout = "|", stderr = NULL, cleanup = TRUE
  )
  withr::defer(if (p$is_alive()) p$kill(), envir = env)
  line <- character()
  deadline <- Sys.time() + 15
  while (!length(line) && p$is_alive() && Sys.time() < deadline) {
    p$poll_io(200)
    line <- p$read_output_lines(1)
  }
  port <- suppressWarnings(as.integer(line[1]))
  if (!length(line) || is.na(port)) stop("the throttling relay did not start")
  sprintf("http://127.0.0.1:%d", port)
}

test_that("the sanitiser makes names safe on every OS", {
  s <- orthanc:::sanitize_file_name
  expect_equal(s("a<b>c:d\"e/f\\g|h?i*j"), "a_b_c_d_e_f_g_h_i_j")
  expect_equal(s("tab\there\nnew\u0001line\u0085"), "tab here newline")
  expect_equal(s("  trailing dots... "), "trailing dots")
  expect_equal(s("...hidden"), "hidden")
  expect_equal(s(c("CON", "con", "nul.txt", "COM1", "lpt9.dcm", "CONSOLE", "Aux ")),
    c("_CON", "_con", "_nul.txt", "_COM1", "_lpt9.dcm", "CONSOLE", "_Aux"))
  expect_equal(s(c("", NA, ".", "..", "  ", "\001"), fallback = "study-1234abcd"),
    rep("study-1234abcd", 6))
  long <- strrep("\u00e9", 100) # 200 bytes
  cut <- s(long)
  expect_lte(nchar(cut, "bytes"), 64)
  expect_true(validUTF8(cut))
  expect_equal(s(paste0(strrep("a", 63), ". b")), strrep("a", 63))
  expect_equal(s("IRM c\u00e9r\u00e9brale, neuro-cr\u00e2ne"), "IRM c\u00e9r\u00e9brale, neuro-cr\u00e2ne")
  expect_equal(s("bad\xffutf8"), "bad_utf8")
  u <- orthanc:::unique_names
  expect_equal(
    u(c("A", "a", "B", "A"), c("11111111-x", "22222222-y", "33333333-z", "44444444-w")),
    c("A_11111111", "a_22222222", "B", "A_44444444")
  )
  expect_equal(u(c("A", "A"), c("11111111-x", "11111111-y")), c("A_11111111-x", "A_11111111-y"))
})

test_that("retrieve_and_write_patients() writes every instance byte-identical, in a tree", {
  o <- orthanc_client("a")
  tree <- local_patient_tree(o, studies = 2, series = 2, instances = 2)
  dir <- withr::local_tempdir()
  n <- count_calls(out <- retrieve_and_write_patients(Patient$new(tree$patient, o), dir, progress = FALSE))
  expect_equal(n, 0L) # everything went through batch()
  expect_s3_class(out, "data.frame")
  expect_named(out, c("id", "level", "path", "size", "status", "message"))
  expect_setequal(out$id, tree$instances)
  expect_true(all(out$status == "Written"))
  expect_true(all(is.na(out$message)))
  expect_tree_identical(o, out)
  rel <- sort(all_files(dir))
  expect_length(rel, 8L)
  pid <- tree$patient_id
  expect_true(all(startsWith(rel, paste0(pid, "/"))))
  expect_true(paste0(pid, "/20200101 Study 1/1 Series 1/0001.dcm") %in% rel)
  expect_true(paste0(pid, "/20200102 Study 2/2 Series 2/0002.dcm") %in% rel)
  # Run again: files replaced, no stray temporary file.
  out2 <- retrieve_and_write_patients(Patient$new(tree$patient, o), dir, progress = FALSE)
  expect_equal(sort(all_files(dir)), rel)
})

test_that("studies, series and instances; lists and resource lists", {
  o <- orthanc_client("a")
  tree <- local_patient_tree(o, studies = 1, series = 2, instances = 3)
  dir <- withr::local_tempdir()
  st <- Study$new(tree$studies, o)
  out <- retrieve_and_write_studies(st, file.path(dir, "studies"), progress = FALSE)
  expect_equal(nrow(out), 6L)
  expect_tree_identical(o, out)
  out <- retrieve_and_write_series(st$series, file.path(dir, "series"), progress = FALSE)
  expect_equal(nrow(out), 6L)
  expect_equal(length(unique(dirname(out$path))), 2L)
  insts <- Series$new(tree$series[1], o)$instances
  out <- retrieve_and_write_instances(list(insts[[1]], insts[[2]]), file.path(dir, "inst"), progress = FALSE)
  expect_equal(nrow(out), 2L)
  expect_tree_identical(o, out)
  # Instances made by hand (no information): asked in one batch.
  out <- retrieve_and_write_instances(Instance$new(tree$instances[6], o), file.path(dir, "one"), progress = FALSE)
  expect_equal(out$id, tree$instances[6])
  expect_match(out$path, "2 Series 2/0003\\.dcm$")
  # The same instance twice is written once.
  out <- retrieve_and_write_instances(c(insts, insts), file.path(dir, "dup"), progress = FALSE)
  expect_equal(nrow(out), 3L)
})

test_that("nasty tag values give safe, unique folder names", {
  o <- orthanc_client("a")
  a <- o$post_tools_create_dicom(json = list(Tags = list(
    PatientID = "CON", PatientName = "NASTY", StudyDescription = "a<b>:\"c\"/d\\e|f?g*. ",
    StudyDate = "20200101", SeriesNumber = "1", SeriesDescription = "\u00e9t\u00e9\tT1 ...",
    InstanceNumber = "7", SOPClassUID = secondary_capture
  )))
  defer_delete(o, "Patient", a$ParentPatient)
  b <- o$post_tools_create_dicom(json = list(Tags = list(
    PatientID = "con", PatientName = "NASTY2", StudyDescription = "", StudyDate = "",
    SeriesNumber = "", SeriesDescription = "", Modality = "", InstanceNumber = "",
    SOPClassUID = secondary_capture
  )))
  defer_delete(o, "Patient", b$ParentPatient)
  dir <- withr::local_tempdir()
  out <- retrieve_and_write_patients(list(Patient$new(a$ParentPatient, o), Patient$new(b$ParentPatient, o)), dir,
    progress = FALSE
  )
  rel <- all_files(dir)
  expect_length(rel, 2L)
  pa <- rel[startsWith(rel, "_CON_")]
  expect_equal(pa, paste0("_CON_", substr(a$ParentPatient, 1, 8), "/20200101 a_b___c__d_e_f_g_/1 \u00e9t\u00e9 T1/0007.dcm"))
  pb <- rel[startsWith(rel, "_con_")]
  expect_match(pb, paste0("^_con_", substr(b$ParentPatient, 1, 8), "/[0-9.]+/series-[0-9a-f]{8}/[0-9.]+\\.dcm$"))
  expect_false(any(grepl("[<>:\"\\\\|?*]", rel)))
})

test_that("archives are valid ZIPs, previews PNGs", {
  o <- orthanc_client("a")
  tree <- local_patient_tree(o, studies = 1, series = 2, instances = 2)
  dir <- withr::local_tempdir()
  out <- retrieve_and_write_archives(
    c(Patient$new(tree$patient, o), Study$new(tree$studies, o), Series$new(tree$series[1], o)), dir,
    progress = FALSE
  )
  expect_equal(out$level, c("Patient", "Study", "Series"))
  expect_true(all(out$status == "Written"))
  expect_equal(basename(out$path), c(
    paste0("patient-", tree$patient_id, ".zip"), "study-20200101 Study 1.zip", "series-1 Series 1.zip"
  ))
  for (p in out$path) expect_identical(readBin(p, "raw", 4), as.raw(c(0x50, 0x4b, 0x03, 0x04)))
  expect_equal(vapply(out$path, function(p) nrow(utils::unzip(p, list = TRUE)), 1L, USE.NAMES = FALSE), c(4L, 4L, 2L))
  expect_equal(out$size, unname(file.size(out$path)))
  expect_error(retrieve_and_write_archives(Instance$new(tree$instances[1], o), dir), class = "orthanc_argument_error")

  inst <- local_instance(o, fixture("Brainix-Flair-1.dcm"))
  out <- retrieve_and_write_images(Instance$new(inst$ID, o), dir, progress = FALSE)
  expect_equal(out$status, "Written")
  expect_match(out$path, "\\.png$")
  expect_identical(readBin(out$path, "raw", 8), as.raw(c(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)))
})

test_that("retrieve_and_write_nifti() wraps write_nifti()", {
  o <- orthanc_client("a")
  skip_if_not("neuro" %in% unlist(o$get_plugins()), "no neuro plugin")
  i1 <- local_instance(o, fixture("Brainix-Flair-1.dcm"))
  i2 <- local_instance(o, fixture("Brainix-Flair-2.dcm"))
  s <- Series$new(i1$ParentSeries, o)
  dir <- withr::local_tempdir()
  out <- retrieve_and_write_nifti(s, dir)
  expect_equal(out$status, "Written")
  expect_equal(basename(out$path), paste0(s$identifier, ".nii.gz"))
  expect_identical(readBin(out$path, "raw", 2), as.raw(c(0x1f, 0x8b)))
  out <- retrieve_and_write_nifti(list(Instance$new(i1$ID, o), s), dir, compress = FALSE)
  expect_equal(out$level, c("Instance", "Series"))
  expect_true(all(out$status == "Written"))
  hdr <- readBin(out$path[2], "integer", 1, size = 4)
  expect_equal(hdr, 348L) # NIfTI-1 header size
  # One that fails (an instance deleted meanwhile) is a row.
  gone <- Instance$new(i2$ID, o)
  o$delete_instances_id(i2$ID)
  out <- retrieve_and_write_nifti(list(Instance$new(i1$ID, o), gone), dir)
  expect_equal(out$status, c("Written", "Failed"))
  expect_match(out$message[2], "404|not found|Unknown", ignore.case = TRUE)
  expect_error(retrieve_and_write_nifti(Study$new(s$parent_study$identifier, o), dir), class = "orthanc_argument_error")
})

test_that("error paths: bad path, wrong objects, failing downloads as rows", {
  o <- orthanc_client("a")
  tree <- local_patient_tree(o, instances = 2)
  dir <- withr::local_tempdir()
  p <- Patient$new(tree$patient, o)
  file <- withr::local_tempfile()
  writeLines("x", file)
  expect_error(retrieve_and_write_patients(p, file), class = "orthanc_io_error")
  expect_error(retrieve_and_write_patients(p, 1), class = "orthanc_argument_error")
  expect_error(retrieve_and_write_patients(p, c("a", "b")), class = "orthanc_argument_error")
  expect_error(retrieve_and_write_patients(tree$patient, dir), class = "orthanc_argument_error")
  expect_error(retrieve_and_write_patients(list(), dir), class = "orthanc_argument_error")
  expect_error(retrieve_and_write_patients(Study$new(tree$studies, o), dir), class = "orthanc_argument_error")
  expect_error(retrieve_and_write_series(list(p, "x"), dir), class = "orthanc_argument_error")
  expect_snapshot(retrieve_and_write_series(p, dir), error = TRUE, variant = snapshot_variant(), transform = function(x) gsub(tree$patient, "<id>", x))
  other <- orthanc_client("a")
  expect_error(retrieve_and_write_instances(list(Instance$new(tree$instances[1], o), Instance$new(tree$instances[2], other)), dir),
    class = "orthanc_argument_error"
  )

  # An instance deleted after its object was made: a Failed row.
  insts <- Series$new(tree$series, o)$instances
  o$delete_instances_id(insts[[2]]$identifier)
  out <- retrieve_and_write_instances(insts, dir, progress = FALSE)
  expect_equal(out$status[out$id == insts[[1]]$identifier], "Written")
  bad <- out[out$id == insts[[2]]$identifier, ]
  expect_equal(bad$status, "Failed")
  expect_true(is.na(bad$size))
  expect_false(file.exists(bad$path))
  expect_match(bad$message, "404")
  # A study that no longer exists: one Failed row at its level, the rest written.
  tree2 <- local_patient_tree(o)
  gone <- Study$new(tree2$studies, o)
  o$delete_studies_id(tree2$studies)
  out <- retrieve_and_write_studies(list(Study$new(tree$studies, o), gone), dir, progress = FALSE)
  expect_equal(out$status, c("Written", "Failed"))
  expect_equal(out$level, c("Instance", "Study"))
  expect_true(is.na(out$path[2]))
  # Everything failed: an error.
  expect_error(retrieve_and_write_studies(gone, dir, progress = FALSE), class = "orthanc_http_404")
  expect_error(retrieve_and_write_instances(insts[2], dir, progress = FALSE), class = "orthanc_http_404")
})

# A series of 12 large instances behind a slow proxy, and a folder to write it
# to: a download that takes long enough to be stopped in the middle.
local_slow_download <- function(env = parent.frame()) {
  skip_on_os("windows")
  skip_on_cran()
  o <- orthanc_client("a")
  list(
    o = o,
    big = local_big_series(o, 12L, env = env),
    proxy = local_throttle_proxy(Sys.getenv("ORTHANC_TEST_URL"), rate = 300000, env = env),
    dir = withr::local_tempdir(.local_envir = env),
    cred = test_credentials()
  )
}

test_that("SIGKILL in the middle leaves no truncated .dcm, only hidden .part files", {
  list2env(local_slow_download(), environment()) # o, big, proxy, dir, cred
  bg <- callr::r_bg(function(url, user, pass, id, dir) {
    library(orthanc)
    o <- Orthanc$new(url, user, pass)
    retrieve_and_write_series(Series$new(id, o), dir, concurrency = 1, progress = FALSE)
  }, args = list(proxy, cred$username, cred$password, big$series, dir), env = fault_child_env())
  withr::defer(if (bg$is_alive()) bg$kill())
  final <- function() {
    f <- all_files(dir)
    f[grepl("\\.dcm$", f) & !startsWith(basename(f), ".")]
  }
  started <- fault_wait_until(function() length(final()) >= 1L || !bg$is_alive(), timeout = 60, every = 0.02)
  expect_true(started && bg$is_alive(), info = paste(bg$read_all_error_lines(), collapse = "\n"))
  bg$kill() # SIGKILL: no cleanup can run
  done <- final()
  expect_lt(length(done), 12L)
  others <- setdiff(all_files(dir), done)
  expect_true(all(grepl("^\\.[0-9]{4}\\.dcm\\.part-", basename(others))), info = paste(others, collapse = ", "))
  nums <- as.integer(sub("\\.dcm$", "", basename(done)))
  server <- vapply(big$instances[nums], function(id) md5_of(o$get_instances_id_file(id)), "")
  expect_equal(unname(tools::md5sum(file.path(dir, done))), unname(server))
})

test_that("SIGINT in the middle stops the download and leaves no .part file", {
  list2env(local_slow_download(), environment()) # o, big, proxy, dir, cred
  rs <- callr::r_session$new(options = callr::r_session_options(env = fault_child_env()), wait = TRUE)
  withr::defer(rs$kill())
  rs$run(function(url, user, pass) {
    library(orthanc)
    o <<- Orthanc$new(url, user, pass)
    invisible()
  }, list(proxy, cred$username, cred$password))
  rs$call(function(id, dir) {
    tryCatch(
      {
        retrieve_and_write_series(Series$new(id, o), dir, concurrency = 1, progress = FALSE)
        "finished"
      },
      interrupt = function(e) "interrupted"
    )
  }, list(big$series, dir))
  final <- function() {
    f <- all_files(dir)
    f[grepl("\\.dcm$", f) & !startsWith(basename(f), ".")]
  }
  expect_true(fault_wait_until(function() length(final()) >= 1L, timeout = 60, every = 0.02))
  rs$interrupt()
  expect_equal(rs$poll_process(10000), "ready")
  expect_equal(rs$read()$result, "interrupted")
  done <- final()
  expect_lt(length(done), 12L)
  expect_equal(setdiff(all_files(dir), done), character())
  nums <- as.integer(sub("\\.dcm$", "", basename(done)))
  server <- vapply(big$instances[nums], function(id) md5_of(o$get_instances_id_file(id)), "")
  expect_equal(unname(tools::md5sum(file.path(dir, done))), unname(server))
})

test_that("an export cut short, run again with resume = TRUE, fetches only what is missing", {
  o <- orthanc_client()
  pid <- unique_patient_id()
  local_patient_tree(o, studies = 1, series = 2, instances = 3, patient_id = pid)
  study <- find_studies(o, query = list(PatientID = pid))
  full <- withr::local_tempdir()
  whole <- retrieve_and_write_studies(study, full)
  expect_identical(sum(whole$status == "Written"), 6L)
  cut <- withr::local_tempdir()
  first <- retrieve_and_write_studies(study, cut)
  # Cut short: two files never written, and a leftover part file of a killed run.
  gone <- first$path[c(2, 5)]
  file.remove(gone)
  writeLines("partial", file.path(dirname(gone[1]), paste0(".", basename(gone[1]), ".part-1-1")))
  kept <- setdiff(first$path, gone)
  # A kept file is not fetched again: its modification time stays.
  Sys.setFileTime(kept, as.POSIXct("2001-01-01", tz = "UTC"))
  expect_message(
    again <- retrieve_and_write_studies(study, cut, resume = TRUE),
    "4 of 6 files already written"
  )
  expect_identical(sort(again$path[again$status == "Written"]), sort(gone))
  expect_identical(sort(again$path[again$status == "Skipped"]), sort(kept))
  expect_true(all(file.mtime(kept) < as.POSIXct("2002-01-01", tz = "UTC")))
  expect_true(all(again$size > 0))
  # The tree is the same, byte for byte, as one written in one go.
  rel <- function(d) sort(list.files(d, recursive = TRUE))
  expect_identical(rel(cut), rel(full))
  for (f in rel(full)) {
    expect_identical(unname(tools::md5sum(file.path(cut, f))), unname(tools::md5sum(file.path(full, f))))
  }
  # Without resume, every file is fetched again.
  again2 <- retrieve_and_write_studies(study, cut)
  expect_true(all(again2$status == "Written"))
  expect_error(retrieve_and_write_studies(study, cut, resume = NA), class = "orthanc_argument_error")
})
