# Parallel R (issue 4, item 5): forked workers (parallel::mclapply) use the
# parent's client, whose runtime and connection pool already exist; a client
# saved with saveRDS() or sent to PSOCK workers is rebuilt there, with the
# password taken from ORTHANC_PASSWORD and never from the serialized object.
# Against the real Orthanc A (ORTHANC_TEST_URL).

test_that("forked mclapply workers use the parent's client: right answers, no deadlock", {
  skip_on_os("windows")
  skip_if_no_orthanc()
  cred <- test_credentials()
  # The whole scenario runs in a child R with a timeout: a deadlock fails the
  # test instead of hanging it.
  res <- callr::r(function(url, user, password, file) {
    library(orthanc)
    o <- Orthanc$new(url, user, password)
    # Used before forking: the runtime and a pooled connection exist.
    up <- o$POST("/instances", file = file)
    on.exit(try(o$DELETE(paste0("/instances/", up$ID)), silent = TRUE))
    md5 <- unname(tools::md5sum(file))
    work <- function(k) {
      out <- list()
      for (j in 1:5) {
        info <- o$GET(paste0("/instances/", up$ID))
        tags <- o$get_instances_id_simplified_tags(up$ID)
        path <- o$stream("GET", paste0("/instances/", up$ID, "/file"))
        same <- identical(unname(tools::md5sum(path)), md5)
        unlink(path)
        out[[j]] <- list(id = info$ID, sop = tags$SOPInstanceUID, file_ok = same)
      }
      list(pid = Sys.getpid(), k = k, out = out)
    }
    # Two workers at most: R CMD check --as-cran limits the cores (_R_CHECK_LIMIT_CORES_).
    workers <- parallel::mclapply(1:4, work, mc.cores = 2)
    one_each <- parallel::mclapply(1:4, work, mc.cores = 2, mc.preschedule = FALSE)
    list(
      parent = Sys.getpid(), id = up$ID,
      sop = o$GET(paste0("/instances/", up$ID))$MainDicomTags$SOPInstanceUID,
      workers = c(workers, one_each),
      # The parent's client still works after its children are gone.
      after = o$GET(paste0("/instances/", up$ID))$ID
    )
  }, list(
    url = Sys.getenv("ORTHANC_TEST_URL"), user = cred$username,
    password = cred$password, file = normalizePath(fixture("Lena-1.dcm"))
  ), timeout = 60, env = fault_child_env())

  expect_length(res$workers, 8L)
  for (w in res$workers) {
    expect_false(inherits(w, "try-error"), info = paste(unlist(w), collapse = " "))
    expect_false(identical(w$pid, res$parent))
    for (x in w$out) {
      expect_equal(x$id, res$id)
      expect_equal(x$sop, res$sop)
      expect_true(x$file_ok)
    }
  }
  expect_gte(length(unique(vapply(res$workers, function(w) w$pid, 1))), 2L)
  expect_equal(res$after, res$id)
})

test_that("after saveRDS()/readRDS() the password comes from ORTHANC_PASSWORD only", {
  skip_if_no_orthanc()
  cred <- test_credentials()
  o <- Orthanc$new(Sys.getenv("ORTHANC_TEST_URL"), cred$username, cred$password)
  version <- o$GET("/system")$Version
  f <- withr::local_tempfile(fileext = ".rds")
  saveRDS(o, f)
  plain <- withr::local_tempfile(fileext = ".rds")
  saveRDS(o, plain, compress = FALSE)
  for (file in c(f, plain)) {
    bytes <- readBin(file, "raw", file.size(file))
    expect_length(grepRaw(cred$password, bytes, fixed = TRUE), 0L)
  }
  bytes <- readBin(plain, "raw", file.size(plain))
  expect_gt(length(grepRaw(cred$username, bytes, fixed = TRUE)), 0L)

  run <- function(file) {
    library(orthanc)
    o <- readRDS(file)
    tryCatch(
      list(ok = TRUE, version = o$GET("/system")$Version),
      orthanc_http_error = function(e) list(ok = FALSE, class = class(e), status = e$status)
    )
  }
  with <- callr::r(run, list(f), env = fault_child_env(ORTHANC_PASSWORD = cred$password), timeout = 60)
  expect_true(with$ok)
  expect_equal(with$version, version)
  without <- callr::r(run, list(f), env = fault_child_env(), timeout = 60)
  expect_false(without$ok)
  expect_equal(without$status, 401L)
  expect_true("orthanc_http_401" %in% without$class)
  wrong <- callr::r(run, list(f), env = fault_child_env(ORTHANC_PASSWORD = "not-the-password"), timeout = 60)
  expect_equal(wrong$status, 401L)
})

test_that("a client exported to a PSOCK cluster works with ORTHANC_PASSWORD in the workers", {
  skip_if_no_orthanc()
  cred <- test_credentials()
  o <- Orthanc$new(Sys.getenv("ORTHANC_TEST_URL"), cred$username, cred$password)
  up <- o$POST("/instances", file = fixture("Lena-1.dcm"))
  withr::defer(try(o$DELETE(paste0("/instances/", up$ID)), silent = TRUE))

  # The workers start without any credentials in their environment.
  withr::local_envvar(ORTHANC_PASSWORD = NA, ORTHANC_USERNAME = NA)
  cl <- parallel::makePSOCKcluster(2, timeout = 60)
  withr::defer(parallel::stopCluster(cl))
  parallel::clusterEvalQ(cl, suppressPackageStartupMessages(library(orthanc)))
  parallel::clusterExport(cl, c("o", "up"), envir = environment())
  status <- parallel::clusterEvalQ(cl, tryCatch(
    o$GET("/system")$Version,
    orthanc_http_error = function(e) e$status
  ))
  expect_equal(unlist(status), c(401L, 401L))

  parallel::clusterCall(cl, Sys.setenv, ORTHANC_PASSWORD = cred$password)
  # A fresh copy of the client (the one above was rebuilt without a password).
  parallel::clusterExport(cl, "o", envir = environment())
  res <- parallel::parLapply(cl, 1:6, function(k) {
    list(
      pid = Sys.getpid(),
      id = o$GET(paste0("/instances/", up$ID))$ID,
      sop = o$get_instances_id_simplified_tags(up$ID)$SOPInstanceUID
    )
  })
  sop <- o$get_instances_id_simplified_tags(up$ID)$SOPInstanceUID
  for (r in res) {
    expect_equal(r$id, up$ID)
    expect_equal(r$sop, sop)
  }
  pids <- unique(vapply(res, function(r) r$pid, 1))
  expect_length(pids, 2L)
  expect_false(Sys.getpid() %in% pids)
})
