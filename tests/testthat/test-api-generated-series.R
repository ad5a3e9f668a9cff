# The /series/... endpoint methods against a live Orthanc (server A).
# Labels, metadata and attachments: test-api-generated-levels.R.

# Helpers of this file (prefixed "inst_series_" so as not to clash with other files).

# The three Lena fixtures: one series of three 128 x 128 color instances.
inst_series_lena <- function(o, env = parent.frame()) {
  files <- fixture(paste0("Lena-", 1:3, ".dcm"))
  ups <- lapply(files, function(f) o$post_instances(file = f))
  sid <- ups[[1]]$ParentSeries
  withr::defer(try(o$delete_series_id(sid), silent = TRUE), envir = env)
  list(
    id = sid,
    instances = vapply(ups, `[[`, "", "ID"),
    study = ups[[1]]$ParentStudy,
    patient = ups[[1]]$ParentPatient,
    sizes = file.size(files),
    uid = "1.2.840.113619.2.176.2025.1499492.7391.1171285944.394"
  )
}





inst_series_empty <- structure(list(), names = character())

test_that("series are listed with parameters, read with their parents and children, and deleted", {
  o <- orthanc_client()
  s <- inst_series_lena(o)

  expect_true(s$id %in% unlist(o$get_series()))
  limited <- o$get_series(params = list(expand = TRUE, since = 0, limit = 1))
  expect_length(limited, 1L)
  expect_equal(limited[[1]]$Type, "Series")
  mine <- Filter(
    function(x) identical(x$ID, s$id),
    o$get_series(params = list(expand = TRUE, "requested-tags" = "StudyInstanceUID"))
  )
  expect_length(mine, 1L)
  expect_equal(mine[[1]]$RequestedTags$StudyInstanceUID, "1.2.840.113619.2.176.2025.1499492.7391.1171285944.390")
  expect_setequal(unlist(mine[[1]]$Instances), s$instances)

  info <- o$get_series_id(s$id)
  expect_equal(info$ID, s$id)
  expect_equal(info$Type, "Series")
  expect_equal(info$ParentStudy, s$study)
  expect_equal(info$MainDicomTags$SeriesInstanceUID, s$uid)
  expect_setequal(unlist(info$Instances), s$instances)
  short <- o$get_series_id(s$id, params = list(short = TRUE))
  expect_equal(short$MainDicomTags[["0020,000e"]], s$uid)

  study <- o$get_series_id_study(s$id)
  expect_equal(study$ID, s$study)
  expect_equal(study$Type, "Study")
  expect_true(s$id %in% unlist(study$Series))
  patient <- o$get_series_id_patient(s$id, params = list(full = TRUE))
  expect_equal(patient$ID, s$patient)
  expect_equal(patient$Type, "Patient")

  ids <- o$get_series_id_instances(s$id, params = list(expand = FALSE))
  expect_setequal(unlist(ids), s$instances)
  expanded <- o$get_series_id_instances(s$id)
  expect_setequal(vapply(expanded, `[[`, "", "ID"), s$instances)
  expect_true(all(vapply(expanded, function(x) identical(x$ParentSeries, s$id), logical(1))))
  expect_setequal(vapply(expanded, function(x) x$IndexInSeries, 1L), 1:3)

  stats <- o$get_series_id_statistics(s$id)
  expect_equal(stats$CountInstances, 3L)
  expect_equal(stats$DicomDiskSize, as.character(sum(s$sizes)))

  res <- o$delete_series_id(s$id)
  expect_type(res, "list")
  expect_error(o$get_series_id(s$id), class = "orthanc_http_404")
  for (i in s$instances) expect_error(o$get_instances_id(i), class = "orthanc_http_404")
  expect_false(s$id %in% unlist(o$get_series()))
})

test_that("series tags: shared tags, instances tags, module and numpy", {
  o <- orthanc_client()
  s <- inst_series_lena(o)

  shared <- o$get_series_id_shared_tags(s$id)
  expect_equal(shared[["0020,000e"]]$Name, "SeriesInstanceUID")
  expect_equal(shared[["0020,000e"]]$Value, s$uid)
  # The SOPInstanceUID differs between instances: not shared.
  expect_null(shared[["0008,0018"]])
  simple <- o$get_series_id_shared_tags(s$id, params = list(simplify = TRUE))
  expect_equal(simple$SeriesInstanceUID, s$uid)
  expect_equal(simple$Rows, "128")
  expect_null(simple$SOPInstanceUID)
  expect_equal(o$get_series_id_shared_tags(s$id, params = list(short = TRUE))[["0028,0010"]], "128")

  tags <- o$get_series_id_instances_tags(s$id, params = list(simplify = TRUE))
  expect_setequal(names(tags), s$instances)
  expect_equal(length(unique(vapply(tags, `[[`, "", "SOPInstanceUID"))), 3L)
  expect_true(all(vapply(tags, function(x) identical(x$SeriesInstanceUID, s$uid), logical(1))))
  full <- o$get_series_id_instances_tags(s$id)
  expect_equal(full[[s$instances[1]]][["0008,0018"]]$Name, "SOPInstanceUID")
  short <- o$get_series_id_instances_tags(s$id, params = list(short = TRUE))
  expect_equal(short[[s$instances[2]]][["0008,0018"]], tags[[s$instances[2]]]$SOPInstanceUID)

  module <- o$get_series_id_module(s$id)
  expect_equal(module[["0020,000e"]]$Value, s$uid)
  expect_equal(o$get_series_id_module(s$id, params = list(simplify = TRUE))$SeriesInstanceUID, s$uid)

  npy <- o$get_series_id_numpy(s$id)
  expect_identical(npy[1:6], c(as.raw(0x93), charToRaw("NUMPY")))
  header <- rawToChar(npy[11:(10 + as.integer(npy[9]) + 256L * as.integer(npy[10]))])
  expect_match(header, "'shape': (3, 128,128,3)", fixed = TRUE)
  expect_match(header, "'descr': '<u1'", fixed = TRUE)
  npz <- o$get_series_id_numpy(s$id, params = list(compress = TRUE))
  expect_zip(npz)
})

test_that("a series is modified and anonymized, synchronously and as jobs", {
  o <- orthanc_client()
  s <- inst_series_lena(o)

  mod <- o$post_series_id_modify(s$id, json = list(Replace = list(SeriesDescription = "inst modified series")))
  withr::defer(try(o$delete_series_id(mod$ID), silent = TRUE))
  expect_equal(mod$Type, "Series")
  expect_false(identical(mod$ID, s$id))
  expect_equal(mod$Path, paste0("/series/", mod$ID))
  expect_false(mod$IsAnonymization)
  expect_equal(mod$InstancesCount, 3L)
  new <- o$get_series_id(mod$ID)
  expect_equal(new$MainDicomTags$SeriesDescription, "inst modified series")
  expect_false(identical(new$MainDicomTags$SeriesInstanceUID, s$uid))
  expect_length(new$Instances, 3L)
  # The original series is untouched.
  expect_null(o$get_series_id(s$id)$MainDicomTags$SeriesDescription)

  job <- o$post_series_id_modify(s$id, json = list(
    Replace = list(SeriesDescription = "inst async series"), Asynchronous = TRUE
  ))
  expect_match(job$ID, "^[0-9a-f-]{36}$")
  expect_equal(job$Path, paste0("/jobs/", job$ID))
  done <- wait_for_job(o, job$ID, states = c("Success", "Failure"))
  withr::defer(try(o$delete_series_id(done$Content$ID), silent = TRUE))
  expect_equal(done$State, "Success")
  expect_equal(done$Type, "ResourceModification")
  expect_equal(o$get_series_id(done$Content$ID)$MainDicomTags$SeriesDescription, "inst async series")

  anon <- o$post_series_id_anonymize(s$id, json = list(Replace = list(PatientName = "INST^SERIES^ANON")))
  withr::defer(try(o$delete_series_id(anon$ID), silent = TRUE))
  expect_true(anon$IsAnonymization)
  expect_equal(anon$Type, "Series")
  expect_equal(anon$InstancesCount, 3L)
  expect_false(identical(anon$PatientID, s$patient))
  expect_equal(o$get_series_id_patient(anon$ID)$MainDicomTags$PatientName, "INST^SERIES^ANON")
  expect_false(identical(o$get_series_id(anon$ID)$MainDicomTags$SeriesInstanceUID, s$uid))

  ajob <- o$post_series_id_anonymize(s$id, json = list(Asynchronous = TRUE, Keep = I("SeriesDescription")))
  adone <- wait_for_job(o, ajob$ID, states = c("Success", "Failure"))
  withr::defer(try(o$delete_series_id(adone$Content$ID), silent = TRUE))
  expect_equal(adone$State, "Success")
  expect_true(adone$Content$IsAnonymization)
  expect_length(o$get_series_id(adone$Content$ID)$Instances, 3L)
})

test_that("a series is archived and written as DICOMDIR media, synchronously and as jobs", {
  o <- orthanc_client()
  s <- inst_series_lena(o)

  zip <- o$get_series_id_archive(s$id, params = list(filename = "lena.zip"))
  expect_zip(zip)
  expect_match(orthanc_last_response(o)$headers[["content-disposition"]], "lena.zip", fixed = TRUE)
  entries <- zip_entries(zip)
  expect_equal(nrow(entries), 3L)
  expect_true(all(grepl("\\.dcm$", entries$Name)))
  expect_setequal(entries$Length, s$sizes)

  zip2 <- o$post_series_id_archive(s$id, json = list(Synchronous = TRUE))
  expect_zip(zip2)
  expect_equal(nrow(zip_entries(zip2)), 3L)
  # Transcoded on the fly: other file sizes.
  zip3 <- o$get_series_id_archive(s$id, params = list(transcode = "1.2.840.10008.1.2.1"))
  e3 <- zip_entries(zip3)
  expect_equal(nrow(e3), 3L)
  expect_true(all(e3$Length > s$sizes))

  job <- o$post_series_id_archive(s$id, json = list(Asynchronous = TRUE))
  done <- wait_for_job(o, job$ID, states = c("Success", "Failure"))
  expect_equal(done$State, "Success")
  expect_equal(done$Type, "Archive")
  expect_equal(done$Content$InstancesCount, 3L)
  expect_equal(done$Content$UncompressedSize, as.character(sum(s$sizes)))

  media <- o$get_series_id_media(s$id)
  expect_zip(media)
  me <- zip_entries(media)
  expect_true("DICOMDIR" %in% me$Name)
  expect_equal(sum(grepl("^IMAGES/", me$Name)), 3L)
  extended <- o$get_series_id_media(s$id, params = list(extended = TRUE, filename = "media.zip"))
  expect_true("DICOMDIR" %in% zip_entries(extended)$Name)
  expect_match(orthanc_last_response(o)$headers[["content-disposition"]], "media.zip", fixed = TRUE)

  media2 <- o$post_series_id_media(s$id, json = list(Extended = TRUE, Synchronous = TRUE))
  expect_zip(media2)
  expect_true("DICOMDIR" %in% zip_entries(media2)$Name)
  mjob <- o$post_series_id_media(s$id, json = list(Asynchronous = TRUE))
  mdone <- wait_for_job(o, mjob$ID, states = c("Success", "Failure"))
  expect_equal(mdone$State, "Success")
  expect_equal(mdone$Type, "Media")
  expect_equal(mdone$Content$InstancesCount, 3L)
})

test_that("a series is reconstructed", {
  o <- orthanc_client()
  s <- inst_series_lena(o)
  before <- o$get_series_id(s$id)
  expect_null(o$post_series_id_reconstruct(s$id, json = inst_series_empty))
  expect_null(o$post_series_id_reconstruct(s$id, json = list(LimitToThisLevelMainDicomTags = TRUE)))
  after <- o$get_series_id(s$id)
  expect_equal(after$MainDicomTags, before$MainDicomTags)
  expect_setequal(unlist(after$Instances), s$instances)
})
