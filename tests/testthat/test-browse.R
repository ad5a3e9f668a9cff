# orthanc_browse(): the server logic with shiny::testServer(), then the app in
# a real headless browser (Chromium driven by Python's selenium), against
# server A with a series of its own (copies of a fixture).

skip_if_no_browse_packages <- function() {
  for (p in c("shiny", "promises", "later", "jsonlite")) testthat::skip_if_not_installed(p)
}

# A series of `n` instances of a new patient (copies of Lena-1.dcm: one
# study, one series), stored in an order that is not their InstanceNumber;
# deleted when the calling test ends.
local_browse_series <- function(client, n = 4L, env = parent.frame()) {
  stamp <- dicom_uid_stamp()
  pid <- unique_patient_id("RBROWSE")
  name <- paste0("BROWSE^", stamp)
  numbers <- c(3L, 1L, 4L, 2L, seq_len(max(0L, n - 4L)) + 4L)[seq_len(n)]
  paths <- dicom_copies(dicom_seed(fixture("Lena-1.dcm")), withr::local_tempdir(.local_envir = env), list(
    PatientID = rep(pid, n), PatientName = rep(name, n),
    StudyDescription = rep("BROWSE STUDY", n), SeriesDescription = rep("BROWSE SERIES", n),
    SeriesNumber = rep("7", n), InstanceNumber = as.character(numbers),
    StudyInstanceUID = rep(dicom_uids(1L, 1L, stamp), n),
    SeriesInstanceUID = rep(dicom_uids(1L, 2L, stamp), n),
    SOPInstanceUID = dicom_uids(n, 3L, stamp)
  ))
  report <- upload(client, paths, progress = FALSE)
  withr::defer(try(bulk_delete(client, unique(stats::na.omit(report$parent_patient))), silent = TRUE), envir = env)
  stopifnot(all(report$status == "Success"))
  list(
    patient = report$parent_patient[[1]], study = report$parent_study[[1]],
    series = report$parent_series[[1]], patient_id = pid, patient_name = name,
    # instances in InstanceNumber order
    instances = report$id[order(numbers)],
    uids = attr(paths, "values")$SOPInstanceUID[order(numbers)]
  )
}

test_that("orthanc_browse() checks its arguments and makes a shiny app", {
  skip_if_no_browse_packages()
  o <- Orthanc$new("http://127.0.0.1:1")
  expect_error(orthanc_browse("http://x"), class = "orthanc_argument_error")
  expect_error(orthanc_browse(o, limit = 0), class = "orthanc_argument_error")
  expect_error(orthanc_browse(o, port = "80"), class = "orthanc_argument_error")
  expect_error(orthanc_browse(o, launch.browser = NA), class = "orthanc_argument_error")
  app <- orthanc_browse(o, launch.browser = FALSE, port = 8123)
  expect_s3_class(app, "shiny.appobj")
  expect_identical(app$options$port, 8123L)
  expect_false(app$options$launch.browser)
  expect_identical(app$options$host, "127.0.0.1")
})

test_that("the missing packages of orthanc_browse() are a classed error", {
  err <- expect_error(
    orthanc:::check_browse_packages(quote(orthanc_browse()), c("shiny", "no.such.package")),
    class = "orthanc_missing_package_error"
  )
  expect_identical(err$package, "no.such.package")
  expect_match(conditionMessage(err), "no.such.package", fixed = TRUE)
})

test_that("browse_call() settles with the method's value or rejects with its condition", {
  skip_if_no_browse_packages()
  o <- orthanc_client("a")
  value <- NULL
  err <- NULL
  promises::then(orthanc:::browse_call(o, "get_system"), function(v) value <<- v)
  promises::catch(orthanc:::browse_call(o, "get_instances_id", "no-such-instance"), function(e) err <<- e)
  deadline <- Sys.time() + 5
  while ((is.null(value) || is.null(err)) && Sys.time() < deadline) later::run_now(0.05)
  expect_identical(value$Name, o$get_system()$Name)
  expect_s3_class(err, "orthanc_http_404")
  expect_error(orthanc:::browse_call(o, "no_such_method"), class = "orthanc_argument_error")
  # A synchronous client's request runs in the background: the call answers
  # an unsettled promise, and the client stays synchronous.
  settled <- FALSE
  p <- orthanc:::browse_call(o, "get_instances_id", "no-such-instance")
  promises::then(p, function(v) settled <<- TRUE, function(e) settled <<- TRUE)
  expect_true(promises::is.promise(p))
  expect_false(settled)
  expect_type(o$get_system(), "list")
  expect_false(o$.__enclos_env__$private$async)
  deadline <- Sys.time() + 5
  while (!settled && Sys.time() < deadline) later::run_now(0.05)
  expect_true(settled)
})

test_that("slices are ordered by position along the normal, else by InstanceNumber", {
  inst <- function(id, number, pos = NULL, frames = NULL) {
    tags <- list(InstanceNumber = as.character(number), SOPInstanceUID = paste0("1.2.", number))
    if (!is.null(pos)) {
      tags$ImagePositionPatient <- paste(c(0, 0, pos), collapse = "\\")
      tags$ImageOrientationPatient <- "1\\0\\0\\0\\1\\0"
    }
    if (!is.null(frames)) tags$NumberOfFrames <- as.character(frames)
    list(ID = id, MainDicomTags = tags, IndexInSeries = number)
  }
  # No geometry: InstanceNumber, and the frames of a multi-frame instance.
  s <- orthanc:::browse_slices(list(inst("c", 3), inst("a", 1), inst("b", 2, frames = 2)))
  expect_identical(s$id, c("a", "b", "b", "c"))
  expect_identical(s$frame, c(1L, 1L, 2L, 1L))
  expect_identical(s$frames, c(1L, 2L, 2L, 1L))
  # Positions along the normal (0, 0, 1) win over InstanceNumber.
  s <- orthanc:::browse_slices(list(inst("a", 1, 30), inst("b", 2, -10), inst("c", 3, 5)))
  expect_identical(s$id, c("b", "c", "a"))
  # Equal positions: InstanceNumber again.
  s <- orthanc:::browse_slices(list(inst("a", 2, 1), inst("b", 1, 1)))
  expect_identical(s$id, c("b", "a"))
  expect_identical(nrow(orthanc:::browse_slices(list())), 0L)
})

test_that("the search boxes keep the rows containing their text", {
  df <- data.frame(id = c("p1", "p2", "p3"), PatientName = c("Doe^John", "Roe^Jane", "Smith"), PatientID = c("A1", "B2", "c3"))
  expect_identical(orthanc:::browse_filter(df, "")$id, df$id)
  expect_identical(orthanc:::browse_filter(df, NULL)$id, df$id)
  expect_identical(orthanc:::browse_filter(df, " JANE ")$id, "p2")
  expect_identical(orthanc:::browse_filter(df, "C3")$id, "p3")
  expect_identical(orthanc:::browse_filter(df, "^")$id, c("p1", "p2"))
  expect_identical(nrow(orthanc:::browse_filter(df, "zzz")), 0L)
  html <- as.character(orthanc:::browse_table(df, "patient_click", selected = "p2"))
  expect_match(html, 'data-id="p2" data-input="patient_click"', fixed = TRUE)
  expect_match(html, 'class="browse-row selected"', fixed = TRUE)
  expect_false(grepl(">p1<", html, fixed = TRUE)) # the id is not a column
})

# The server logic of the app, driven by shiny::testServer() against `o`.
expect_browse_server <- function(o, s) {
  app <- orthanc_browse(o, launch.browser = FALSE)
  shiny::testServer(app, {
    settle <- function() {
      for (i in 1:20) {
        session$elapse(200)
        later::run_now(0.02)
      }
    }
    expect_match(output$server, "^Orthanc ")
    session$setInputs(patient_search = s$patient_id)
    expect_match(output$patients$html, s$patient, fixed = TRUE)
    expect_match(output$patients$html, s$patient_name, fixed = TRUE)
    session$setInputs(patient_search = "no patient has this name, surely")
    expect_match(output$patients$html, "None.", fixed = TRUE)

    session$setInputs(patient_click = s$patient)
    expect_match(output$studies$html, "BROWSE STUDY", fixed = TRUE)
    expect_match(output$studies$html, s$study, fixed = TRUE)
    session$setInputs(study_click = s$study)
    expect_match(output$series$html, "BROWSE SERIES", fixed = TRUE)
    session$setInputs(series_click = s$series)
    settle()
    expect_identical(slices()$id, s$instances)
    expect_match(output$slider$html, 'data-max="4"', fixed = TRUE)

    session$setInputs(slice = 1)
    settle()
    expect_identical(current()$id, s$instances[[1]])
    expect_match(output$caption, "^Slice 1 of 4: instance ")
    expect_match(output$image$html, "data:image/png;base64,", fixed = TRUE)
    png <- jsonlite::base64_dec(sub('.*base64,([^"]+)".*', "\\1", output$image$html))
    expect_identical(png[2:4], charToRaw("PNG"))
    expect_match(output$tags, s$uids[[1]], fixed = TRUE)

    session$setInputs(slice = 4, tag_search = "SOPInstanceUID")
    settle()
    expect_identical(current()$id, s$instances[[4]])
    expect_match(output$caption, "^Slice 4 of 4")
    expect_match(output$tags, s$uids[[4]], fixed = TRUE)
    expect_false(grepl("PatientName", output$tags, fixed = TRUE))

    # Another patient's click clears the study and series below it.
    session$setInputs(patient_click = "not-a-patient")
    settle()
    expect_null(selected$study)
    expect_null(slices())
    expect_error(output$studies, class = "orthanc_http_404")
  })
}

test_that("the server logic lists the tree, a slice, its tags, and downloads (testServer)", {
  skip_if_no_browse_packages()
  o <- orthanc_client("a")
  s <- local_browse_series(o)
  expect_browse_server(o, s)

  # The downloads: the client streams into the file that shiny sends.
  wait <- function(p) {
    done <- FALSE
    res <- NULL
    promises::then(p, function(v) {
      res <<- v
      done <<- TRUE
    }, function(e) {
      res <<- e
      done <<- TRUE
    })
    deadline <- Sys.time() + 10
    while (!done && Sys.time() < deadline) later::run_now(0.05)
    res
  }
  dcm <- withr::local_tempfile(fileext = ".dcm")
  wait(orthanc:::browse_download(o, paste0("/instances/", s$instances[[2]], "/file"), dcm))
  bytes <- readBin(dcm, "raw", file.size(dcm))
  expect_identical(bytes[129:132], charToRaw("DICM"))
  expect_identical(md5_of(bytes), md5_of(o$get_instances_id_file(s$instances[[2]])))
  zip <- withr::local_tempfile(fileext = ".zip")
  wait(orthanc:::browse_download(o, paste0("/series/", s$series, "/archive"), zip))
  expect_identical(nrow(utils::unzip(zip, list = TRUE)), 4L)
  err <- wait(orthanc:::browse_download(o, "/instances/no-such-instance/file", withr::local_tempfile()))
  expect_s3_class(err, "orthanc_http_404")
})

test_that("the server logic works with an OrthancAsync client", {
  skip_if_no_browse_packages()
  o <- orthanc_client("a")
  s <- local_browse_series(o)
  cred <- test_credentials()
  a <- OrthancAsync$new(Sys.getenv("ORTHANC_TEST_URL"), cred$username, cred$password)
  expect_browse_server(a, s)
})

test_that("the server logic works with the legacy server (Orthanc 1.10.1)", {
  skip_if_no_browse_packages()
  o <- legacy_client()
  s <- local_browse_series(o)
  expect_browse_server(o, s)
})

# -- the app in a real browser -------------------------------------------------

# Python with selenium: ORTHANC_TEST_SELENIUM_PYTHON, else the virtual
# environment of dev/setup-debian.sh, else python3 if it has selenium.
selenium_python <- function() {
  candidates <- c(
    Sys.getenv("ORTHANC_TEST_SELENIUM_PYTHON"), "/opt/orthanc-r/selenium/bin/python",
    Sys.which("python3")
  )
  for (p in candidates[nzchar(candidates)]) {
    if (file.exists(p) && identical(suppressWarnings(system2(p, c("-c", shQuote("import selenium")), stdout = FALSE, stderr = FALSE)), 0L)) {
      return(p)
    }
  }
  ""
}

# Skips without Chromium, its driver or selenium; under ORTHANC_BROWSER_TEST=required
# (dev/check.sh, on the host where dev/setup-debian.sh installs them) fails instead.
skip_if_no_browser <- function() {
  chromium <- Sys.which(c("chromium", "chromium-browser"))
  missing <- c(
    chromium = !any(nzchar(chromium)),
    chromedriver = !nzchar(Sys.which("chromedriver")),
    `Python's selenium` = !nzchar(selenium_python())
  )
  if (!any(missing)) return(invisible(TRUE))
  why <- paste0("no ", paste(names(missing)[missing], collapse = ", "), " (dev/setup-debian.sh installs them)")
  if (identical(Sys.getenv("ORTHANC_BROWSER_TEST"), "required")) stop("ORTHANC_BROWSER_TEST=required but ", why)
  testthat::skip(why)
}

test_that("the app works in a headless browser: pick a series, see slices, read a tag, download", {
  skip_if_no_browse_packages()
  skip_if_not_installed("callr")
  skip_if_not_installed("processx")
  skip_if_no_browser()
  o <- orthanc_client("a")
  s <- local_browse_series(o)
  cred <- test_credentials()
  # The app in another R process, on a free port that shiny picks and prints.
  app <- callr::r_bg(function(url, username, password) {
    o <- orthanc::Orthanc$new(url, username, password)
    shiny::runApp(orthanc::orthanc_browse(o, launch.browser = FALSE))
  }, args = list(Sys.getenv("ORTHANC_TEST_URL"), cred$username, cred$password), supervise = TRUE)
  withr::defer(app$kill())
  url <- NULL
  err <- ""
  deadline <- Sys.time() + 60
  while (is.null(url)) {
    app$poll_io(200)
    err <- paste0(err, app$read_error())
    m <- regmatches(err, regexpr("http://127\\.0\\.0\\.1:[0-9]+", err))
    if (length(m)) url <- paste0(m, "/")
    if (is.null(url) && !app$is_alive()) stop("the app stopped: ", err, app$read_all_error())
    if (is.null(url) && Sys.time() > deadline) stop("the app did not start within 60 s: ", err)
  }

  out <- file.path(tempdir(), paste0("browse-", Sys.getpid()))
  unlink(out, recursive = TRUE)
  # Chromium's own temporary files in a folder of the test's, removed after it
  # (not in the TMPDIR that R CMD check inspects for detritus).
  browser_tmp <- file.path(out, "tmp")
  dir.create(browser_tmp, recursive = TRUE)
  withr::defer(unlink(out, recursive = TRUE))
  res <- processx::run(selenium_python(), c(
    test_path("fixtures", "browse-selenium.py"), "--url", url,
    "--patient", s$patient, "--study", s$study, "--series", s$series,
    "--search", s$patient_name, "--out", out
  ), error_on_status = FALSE, timeout = 240, env = c("current", TMPDIR = browser_tmp))
  lines <- strsplit(trimws(res$stdout), "\n", fixed = TRUE)[[1]]
  seen <- jsonlite::fromJSON(lines[[length(lines)]], simplifyVector = FALSE)
  # The screenshot, kept for whoever looks at the run.
  shot <- file.path(test_path("_output"), "browse.png")
  dir.create(dirname(shot), showWarnings = FALSE)
  if (file.exists(seen$screenshot)) file.copy(seen$screenshot, shot, overwrite = TRUE)
  message("orthanc_browse() screenshot: ", normalizePath(shot, mustWork = FALSE))
  expect_true(isTRUE(seen$ok), label = paste(
    "the browser session (", seen$error, "; steps:", paste(unlist(seen$steps), collapse = ", "),
    ";", res$stderr, ")"
  ))
  if (!isTRUE(seen$ok)) {
    return(invisible())
  }

  expect_lte(seen$patients_after_search, seen$patients_before_search)
  expect_gte(seen$patients_after_search, 1)
  # The first slice, then the last after the slider moved.
  expect_gt(seen$first$width, 0)
  expect_identical(seen$first$instance, s$instances[[1]])
  expect_identical(seen$slider_max, 4L)
  expect_match(seen$caption_first, "Slice 1 of 4", fixed = TRUE)
  expect_gt(seen$last$width, 0)
  expect_identical(seen$last$instance, s$instances[[4]])
  expect_match(seen$caption_last, "Slice 4 of 4", fixed = TRUE)
  # The tag shown is the one of the instance on screen.
  expect_identical(seen$tag_SOPInstanceUID, s$uids[[4]])
  # The files downloaded: the instance's DICOM file and the series' archive.
  dcm <- readBin(seen$dcm, "raw", file.size(seen$dcm))
  expect_identical(dcm[129:132], charToRaw("DICM"))
  expect_identical(md5_of(dcm), md5_of(o$get_instances_id_file(s$instances[[4]])))
  expect_identical(basename(seen$dcm), paste0(s$uids[[4]], ".dcm"))
  expect_identical(sort(nrow(utils::unzip(seen$zip, list = TRUE))), 4L)
  expect_true(file.exists(shot))
})
