# Records a corpus of real Orthanc JSON answers into tests/testthat/fixtures/json,
# used by tests/testthat/test-json.R to check that the Rust JSON -> R conversion
# is identical() to jsonlite::fromJSON(simplifyVector = FALSE).
# Run from the package root against a scratch server started by
# dev/orthanc-server (it uploads the test fixtures and deletes them after):
#   eval "$(dev/orthanc-server start)" && Rscript dev/record-json-corpus.R
library(orthanc)
o <- Orthanc$new(
  Sys.getenv("ORTHANC_TEST_URL"), Sys.getenv("ORTHANC_TEST_USERNAME"),
  Sys.getenv("ORTHANC_TEST_PASSWORD")
)
files <- list.files("tests/testthat/fixtures", pattern = "\\.dcm$", full.names = TRUE)
ups <- lapply(files, function(f) o$post_instances(file = f))
ids <- vapply(ups, `[[`, "", "ID")
inst <- ids[[1]]
rt <- ups[[grep("RTPLAN", files)]]$ID
info <- o$get_instances_id(inst)
o$put_instances_id_metadata_name(inst, "my-metadata", data = "caf\u00e9 \u2603")
routes <- list(
  system = "/system",
  statistics = "/statistics",
  instances_expand = "/instances?expand",
  instances_full = "/instances?expand&full",
  series_expand = "/series?expand",
  studies_expand = "/studies?expand",
  patients_expand = "/patients?expand",
  instance = paste0("/instances/", inst),
  instance_tags = paste0("/instances/", inst, "/tags"),
  instance_tags_short = paste0("/instances/", inst, "/tags?short"),
  instance_simplified = paste0("/instances/", inst, "/simplified-tags"),
  instance_header = paste0("/instances/", inst, "/header"),
  instance_metadata = paste0("/instances/", inst, "/metadata?expand"),
  rtplan_tags = paste0("/instances/", rt, "/tags"),
  rtplan_simplified = paste0("/instances/", rt, "/simplified-tags"),
  series_shared = paste0("/series/", info$ParentSeries, "/shared-tags"),
  study_statistics = paste0("/studies/", o$get_series_id(info$ParentSeries)$ParentStudy, "/statistics"),
  changes = "/changes?limit=100",
  modalities = "/modalities?expand",
  peers = "/peers?expand",
  jobs = "/jobs?expand",
  tools_now = "/tools/accepted-transfer-syntaxes"
)
dir.create("tests/testthat/fixtures/json", showWarnings = FALSE)
for (n in names(routes)) {
  p <- o$stream("GET", routes[[n]])
  file.copy(p, file.path("tests/testthat/fixtures/json", paste0(n, ".json")), overwrite = TRUE)
  unlink(p)
}
for (id in ids) o$delete_instances_id(id)
message("recorded ", length(routes), " answers")
