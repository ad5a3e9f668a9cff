test_that("Resource objects check their arguments", {
  o <- orthanc_client("a")
  expect_error(Study$new(1, o), class = "orthanc_argument_error")
  expect_error(Study$new("", o), class = "orthanc_argument_error")
  expect_error(Study$new("x", "not a client"), class = "orthanc_argument_error")
  expect_error(Study$new("x", o, lock_children = NA), class = "orthanc_argument_error")
  expect_error(Resource$new("x", o), class = "orthanc_argument_error")
  expect_error(Study$new("x", o, info = list(ID = "y")), class = "orthanc_argument_error")
})

test_that("an unknown resource gives a classed 404 when first used", {
  o <- orthanc_client("a")
  s <- Study$new("00000000-00000000-00000000-00000000-00000000", o)
  expect_error(s$main_dicom_tags, class = "orthanc_http_404")
  expect_error(s$labels, class = "orthanc_http_404")
  expect_match(format(s), "unavailable")
})

test_that("main information is asked once and kept; get_main_information() refreshes", {
  o <- orthanc_client("a")
  tree <- local_patient_tree(o)
  s <- Study$new(tree$studies, o)
  expect_equal(s$identifier, tree$studies)
  expect_equal(s$level, "Study")
  expect_equal(count_calls(s$main_dicom_tags$StudyDescription), 1L)
  expect_equal(count_calls(s$description), 0L)
  info <- s$get_main_information()
  expect_equal(info$ID, tree$studies)
  expect_equal(s$client, o)
  expect_false(s$lock_children)
})

test_that("fields are read-only", {
  o <- orthanc_client("a")
  s <- Study$new("x", o)
  expect_error(s$identifier <- "y", class = "orthanc_argument_error")
  expect_error(s$labels <- "y", class = "orthanc_argument_error")
  expect_error(s$description <- "y", class = "orthanc_argument_error")
})

test_that("labels can be added, tested and removed at every level", {
  o <- orthanc_client("a")
  tree <- local_patient_tree(o)
  objs <- list(
    Patient$new(tree$patient, o), Study$new(tree$studies, o),
    Series$new(tree$series, o), Instance$new(tree$instances, o)
  )
  for (r in objs) {
    expect_equal(r$labels, character())
    expect_false(r$has_label("layer_a"))
    expect_identical(r$add_label("layer_a"), r)
    r$add_label("layer_b")
    expect_true(r$has_label("layer_a"))
    expect_equal(r$labels, c("layer_a", "layer_b"))
    r$remove_label("layer_a")
    expect_equal(r$labels, "layer_b")
    r$remove_label("layer_b")
    expect_equal(r$labels, character())
  }
  expect_error(objs[[1]]$add_label(""), class = "orthanc_argument_error")
  expect_error(objs[[1]]$add_label("bad label!"), class = "orthanc_http_error")
})

test_that("is_stable, last_update and statistics", {
  o <- orthanc_client("a")
  tree <- local_patient_tree(o)
  s <- Study$new(tree$studies, o)
  expect_type(s$is_stable, "logical")
  lu <- s$last_update
  expect_s3_class(lu, "POSIXct")
  expect_lt(abs(as.numeric(difftime(lu, Sys.time(), units = "mins"))), 24 * 60)
  i <- Instance$new(tree$instances, o)
  expect_true(i$is_stable)
  expect_s3_class(i$last_update, "POSIXct")
  expect_false(is.na(i$last_update))
  st <- s$statistics
  expect_equal(as.integer(st$CountInstances), 1L)
})

test_that("print() gives one line with level, id, tags and counts", {
  o <- orthanc_client("a")
  tree <- local_patient_tree(o, series = 2)
  s <- Study$new(tree$studies, o)
  out <- capture.output(print(s))
  expect_length(out, 1L)
  expect_match(out, "<Study>")
  expect_match(out, tree$studies, fixed = TRUE)
  expect_match(out, "StudyDescription=Study 1")
  expect_match(out, "[2 series]", fixed = TRUE)
  expect_match(capture.output(print(Patient$new(tree$patient, o))), "[1 study]", fixed = TRUE)
  expect_match(capture.output(print(Series$new(tree$series[1], o))), "Modality=CT")
  expect_match(capture.output(print(Instance$new(tree$instances[1], o))), "bytes")
})

test_that("resource lists print compactly, subset and combine", {
  o <- orthanc_client("a")
  tree <- local_patient_tree(o, series = 3)
  series <- Study$new(tree$studies, o)$series
  expect_s3_class(series, "orthanc_resource_list")
  out <- capture.output(print(series))
  expect_equal(out[1], "<orthanc_resource_list> 3 series")
  expect_length(out, 4L)
  expect_s3_class(series[1:2], "orthanc_resource_list")
  expect_length(c(series[1], series[2:3]), 3L)
  expect_s3_class(c(series[1], series[[2]]), "orthanc_resource_list")
  expect_match(capture.output(print(series, n = 1))[3], "and 2 more")
})

test_that("as.data.frame() of a resource list has typed columns and costs no request", {
  o <- orthanc_client("a")
  tree <- local_patient_tree(o, studies = 2, series = 2)
  studies <- find_studies(o, query = list(PatientID = tree$patient_id))
  n <- count_calls(df <- as.data.frame(studies))
  expect_equal(n, 0L)
  expect_equal(nrow(df), 2L)
  expect_setequal(df$id, tree$studies)
  expect_equal(unique(df$parent_id), tree$patient)
  expect_s3_class(df$StudyDate, "Date")
  expect_setequal(df$StudyDate, as.Date(c("2020-01-01", "2020-01-02")))
  expect_s3_class(df$PatientBirthDate, "Date")
  expect_type(df$StudyDescription, "character")
  expect_equal(unique(df$PatientName), "LAYER^TEST")
  expect_equal(df$labels, c("", ""))

  series <- Study$new(tree$studies[1], o)$series
  series[[1]]$add_label("layer_df")
  sdf <- as.data.frame(series)
  expect_type(sdf$SeriesNumber, "double")
  expect_setequal(sdf$SeriesNumber, c(1, 2))
  expect_true("layer_df" %in% sdf$labels)

  inst <- as.data.frame(find_instances(o, query = list(PatientID = tree$patient_id)))
  expect_type(inst$InstanceNumber, "double")
  expect_type(inst$ImagePositionPatient, "character") # multi-valued DS stays text
  expect_true("1.5\\-2\\3" %in% inst$ImagePositionPatient)

  empty <- as.data.frame(find_studies(o, query = list(PatientID = "no-such-layer-patient")))
  expect_equal(nrow(empty), 0L)
  expect_named(empty, c("id", "parent_id", "labels"))
})

test_that("as.data.frame(instances, tags =) tabulates tags, typed, in one request", {
  o <- orthanc_client("a")
  i1 <- local_instance(o, fixture("Brainix-Flair-1.dcm"))
  i2 <- local_instance(o, fixture("Brainix-Flair-2.dcm"))
  insts <- Series$new(i1$ParentSeries, o)$instances
  tags <- c("SliceLocation", "0018,0050", "00200013", "PixelSpacing", "AcquisitionDate", "EchoTime",
    "PatientID", "ReferencedImageSequence", "ContrastBolusAgent", "Rows")
  n <- count_calls(df <- as.data.frame(insts, tags = tags, progress = FALSE))
  expect_equal(n, 0L) # one /tools/find through batch()
  expect_named(df, c("id", "SliceLocation", "SliceThickness", "InstanceNumber", "PixelSpacing",
    "AcquisitionDate", "EchoTime", "PatientID", "ReferencedImageSequence", "ContrastBolusAgent", "Rows"))
  expect_equal(df$id, vapply(insts, function(i) i$identifier, ""))
  expect_type(df$SliceLocation, "double")
  expect_type(df$SliceThickness, "double")
  expect_type(df$InstanceNumber, "double")
  expect_type(df$Rows, "double")
  expect_type(df$PixelSpacing, "character") # multi-valued
  expect_s3_class(df$AcquisitionDate, "Date")
  expect_type(df$PatientID, "character")
  expect_type(df$ReferencedImageSequence, "list")
  expect_true(all(is.na(df$ContrastBolusAgent)))
  for (k in seq_len(nrow(df))) {
    t <- o$get_instances_id_simplified_tags(df$id[k])
    expect_equal(df$SliceLocation[k], as.numeric(t$SliceLocation))
    expect_equal(df$SliceThickness[k], as.numeric(t$SliceThickness))
    expect_equal(df$InstanceNumber[k], as.numeric(t$InstanceNumber))
    expect_equal(df$PixelSpacing[k], t$PixelSpacing)
    expect_equal(df$AcquisitionDate[k], as.Date(t$AcquisitionDate, "%Y%m%d"))
    expect_equal(df$EchoTime[k], as.numeric(t$EchoTime))
    expect_equal(df$PatientID[k], t$PatientID)
    expect_equal(df$Rows[k], as.numeric(t$Rows))
    expect_equal(df$ReferencedImageSequence[[k]], t$ReferencedImageSequence)
  }
  # Instances made by hand (no SOPInstanceUID known): the batch of tags,
  # same table.
  bare <- resource_list(lapply(df$id, function(id) Instance$new(id, o)))
  df2 <- as.data.frame(bare, tags = tags, progress = FALSE)
  expect_equal(df2, df)
  # Without tags: the usual table.
  expect_named(as.data.frame(insts)[1:3], c("id", "parent_id", "labels"))
})

test_that("as.data.frame(tags =) checks its arguments", {
  o <- orthanc_client("a")
  tree <- local_patient_tree(o)
  insts <- Series$new(tree$series, o)$instances
  expect_error(as.data.frame(insts, tags = 1), class = "orthanc_argument_error")
  expect_error(as.data.frame(insts, tags = c("Rows", NA)), class = "orthanc_argument_error")
  expect_error(as.data.frame(Patient$new(tree$patient, o)$studies, tags = "Rows"), class = "orthanc_argument_error")
  expect_error(as.data.frame(insts, tags = "NotADicomKeyword"), class = "orthanc_http_error")
  o$delete_instances_id(tree$instances)
  expect_error(as.data.frame(resource_list(list(Instance$new(tree$instances, o))), tags = "Rows", progress = FALSE),
    class = "orthanc_http_404"
  )
})

test_that("the main-tag fields of every level read their own tag, typed, with no request", {
  o <- orthanc_client("a")
  fields <- orthanc:::main_tag_fields
  vrs <- orthanc:::main_dicom_tag_vrs
  # A distinct value per tag: text names its tag, numbers and dates are valid.
  value_of <- function(tag) {
    vr <- unname(vrs[tag])
    if (tag %in% c("ImagePositionPatient", "ImageOrientationPatient")) {
      return("1\\-2.5\\3")
    }
    if (tag == "OtherPatientIDs") {
      return("ID-A\\ID-B")
    }
    switch(vr, DA = "20210304", IS = , US = , DS = "42", paste0("v-", tag))
  }
  for (level in names(fields)) {
    tags <- unname(fields[[level]])
    main <- stats::setNames(lapply(tags, value_of), tags)
    r <- orthanc:::new_resource(level, "x", o, info = list(ID = "x", MainDicomTags = main))
    empty <- orthanc:::new_resource(level, "y", o, info = list(ID = "y", MainDicomTags = list()))
    n <- count_calls({
      for (f in names(fields[[level]])) {
        tag <- fields[[level]][[f]]
        got <- r[[f]]
        absent <- empty[[f]]
        if (tag %in% c("ImagePositionPatient", "ImageOrientationPatient")) {
          expect_identical(got, c(1, -2.5, 3), label = paste0(level, "$", f))
          expect_identical(absent, numeric(), label = paste0(level, "$", f, " (absent)"))
        } else if (tag == "OtherPatientIDs") {
          expect_identical(got, c("ID-A", "ID-B"))
          expect_identical(absent, character())
        } else if (vrs[[tag]] == "DA") {
          expect_identical(got, as.Date("2021-03-04"), label = paste0(level, "$", f))
          expect_identical(absent, as.Date(NA), label = paste0(level, "$", f, " (absent)"))
        } else if (vrs[[tag]] %in% c("IS", "US", "DS")) {
          expect_identical(got, 42, label = paste0(level, "$", f))
          expect_identical(absent, NA_real_, label = paste0(level, "$", f, " (absent)"))
        } else {
          expect_identical(got, paste0("v-", tag), label = paste0(level, "$", f))
          expect_identical(absent, NA_character_, label = paste0(level, "$", f, " (absent)"))
        }
        expect_error(do.call(`$<-`, list(r, f, "new")), class = "orthanc_argument_error")
      }
    })
    expect_equal(n, 0L)
  }
  # The names pyorthanc users bring, spelled out.
  s <- Series$new("x", o, info = list(ID = "x", MainDicomTags = list(
    StationName = "ST1", OperatorsName = "OP^ONE", SequenceName = "*fl2d1", SeriesType = "STATIC\\IMAGE",
    NumberOfSlices = "12", PerformedProcedureStepDescription = "PPSD", ContrastBolusAgent = "GAD",
    AcquisitionDeviceProcessingDescription = "ADPD", CardiacNumberOfImages = "3",
    ImagesInAcquisition = "4", NumberOfTimeSlices = "5", NumberOfTemporalPositions = "6",
    ImageOrientationPatient = "1\\0\\0\\0\\1\\0"
  )))
  expect_equal(s$station_name, "ST1")
  expect_equal(s$operators_name, "OP^ONE")
  expect_equal(s$sequence_name, "*fl2d1")
  expect_equal(s$series_type, "STATIC\\IMAGE")
  expect_identical(s$number_of_slices, 12)
  expect_equal(s$performed_procedure_step_description, "PPSD")
  expect_equal(s$contrast_bolus_agent, "GAD")
  expect_equal(s$acquisition_device_processing_description, "ADPD")
  expect_identical(c(s$cardiac_number_of_images, s$images_in_acquisition), c(3, 4))
  expect_identical(c(s$number_of_time_slices, s$number_of_temporal_positions), c(5, 6))
  expect_identical(s$image_orientation_patient, c(1, 0, 0, 0, 1, 0))
  st <- Study$new("x", o, info = list(ID = "x", MainDicomTags = list(
    RequestingPhysician = "REQ^DOC", RequestedProcedureDescription = "RPD"
  )))
  expect_equal(st$requesting_physician, "REQ^DOC")
  expect_equal(st$requested_procedure_description, "RPD")
  i <- Instance$new("x", o, info = list(ID = "x", MainDicomTags = list(
    AcquisitionNumber = "2", ImageIndex = "9", ImageComments = "a comment", TemporalPositionIdentifier = "1"
  )))
  expect_identical(c(i$acquisition_number, i$image_index, i$temporal_position_identifier), c(2, 9, 1))
  expect_equal(i$image_comments, "a comment")
  # A number that is not one is NA, without a warning.
  bad <- Series$new("x", o, info = list(ID = "x", MainDicomTags = list(SeriesNumber = "n/a")))
  expect_no_warning(expect_identical(bad$series_number, NA_real_))
})

test_that("parents, their identifiers and children at every level", {
  o <- orthanc_client("a")
  tree <- local_patient_tree(o)
  st <- Study$new(tree$studies, o)
  se <- Series$new(tree$series, o)
  i <- Instance$new(tree$instances, o)
  expect_equal(st$patient_identifier, tree$patient)
  expect_equal(se$study_identifier, tree$studies)
  expect_equal(i$series_identifier, tree$series)
  # The parent comes from the main information (no request), not filled.
  expect_equal(count_calls(p <- st$parent_patient), 0L)
  expect_s3_class(p, "Patient")
  expect_null(p$.cached_info())
  expect_equal(count_calls(i$parent_series), 0L)
  # A level further up: one request, whose answer fills it.
  expect_equal(count_calls(p2 <- i$parent_patient), 1L)
  expect_equal(p2$identifier, tree$patient)
  expect_equal(count_calls(p2$name), 0L)
  expect_equal(vapply(Patient$new(tree$patient, o)$studies, function(r) r$identifier, ""), tree$studies)
  expect_equal(vapply(st$series, function(r) r$identifier, ""), tree$series)
  expect_equal(vapply(se$instances, function(r) r$identifier, ""), tree$instances)
  for (f in c("patient_identifier", "parent_patient", "series")) {
    expect_error(do.call(`$<-`, list(st, f, "new")), class = "orthanc_argument_error")
  }
  # Fields a level does not have are not there.
  expect_false(any(c("parent_patient", "patient_identifier") %in% names(Patient$new("x", o))))
  expect_false("instances" %in% names(i))
})

test_that("an instance has no archive and no shared tags: refused, naming what to use", {
  o <- orthanc_client("a")
  tree <- local_patient_tree(o)
  i <- Instance$new(tree$instances, o)
  n <- count_calls({
    expect_error(i$get_zip(), class = "orthanc_argument_error", regexp = "get_dicom_file_content")
    expect_error(i$get_shared_tags(), class = "orthanc_argument_error", regexp = "simplified_tags")
    expect_error(i$shared_tags, class = "orthanc_argument_error", regexp = "simplified_tags")
    expect_error(i$get_shared_tags(simplify = "no"), class = "orthanc_argument_error", regexp = "simplify")
  })
  expect_equal(n, 0L)
  # Every other level has both, asked from its own routes.
  for (r in list(Patient$new(tree$patient, o), Study$new(tree$studies, o), Series$new(tree$series, o))) {
    expect_zip(r$get_zip())
    expect_equal(r$get_shared_tags()$PatientID, tree$patient_id)
    expect_equal(r$shared_tags$PatientID, tree$patient_id)
    path <- withr::local_tempfile(fileext = ".zip")
    expect_equal(r$download(path), path)
    expect_equal(nrow(utils::unzip(path, list = TRUE)), 1L)
  }
})

test_that("legacy_viewer_url points at the resource in Orthanc Explorer", {
  o <- orthanc_client("a")
  tree <- local_patient_tree(o)
  s <- Series$new(tree$series, o)
  expect_equal(s$legacy_viewer_url, paste0(o$url, "/app/explorer.html#series?uuid=", tree$series))
  expect_equal(Patient$new("p", o)$legacy_viewer_url, paste0(o$url, "/app/explorer.html#patient?uuid=p"))
  expect_equal(count_calls(s$legacy_viewer_url), 0L)
  page <- o$GET("/app/explorer.html")
  expect_match(if (is.raw(page)) rawToChar(page) else paste(page, collapse = ""), "Orthanc", ignore.case = TRUE)
})
