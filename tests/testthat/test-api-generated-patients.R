# The /patients endpoint methods of patients only, against a live Orthanc (server "a").
# Listing, info, relatives, tags, anonymize/modify, archive/media, reconstruct/delete
# (the same tests as for studies), labels, metadata and attachments:
# test-api-generated-levels.R.
# Fixtures: study_local_patient() in helper-uncovered-study.R.

test_that("a patient is protected against recycling and unprotected", {
  o <- orthanc_client()
  x <- study_local_patient(o, series = 1)

  expect_equal(o$get_patients_id_protected(x$patient), "0")
  # json = 1 is sent as the JSON body `1`, json = TRUE as `true`; Orthanc takes both.
  expect_null(o$put_patients_id_protected(x$patient, json = 1))
  expect_equal(o$get_patients_id_protected(x$patient), "1")
  o$put_patients_id_protected(x$patient, json = 0)
  expect_equal(o$get_patients_id_protected(x$patient), "0")
  o$put_patients_id_protected(x$patient, json = TRUE)
  expect_equal(o$get_patients_id_protected(x$patient), "1")
  o$put_patients_id_protected(x$patient, json = FALSE)
  expect_equal(o$get_patients_id_protected(x$patient), "0")
})
