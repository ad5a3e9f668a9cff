# An Orthanc with the DICOMweb plugin (orthanc-dicomweb) for the tests, served
# at `<url>/dicom-web/`. In order of preference:
# 1. a throwaway server of the test (local_orthanc()) when this machine's
#    Orthanc program has the plugin beside it (Debian: the orthanc-dicomweb
#    package; the Debian 13 chroot of dev/check-r-chroot.sh and CI);
# 2. as root, a throwaway Orthanc started inside the Debian 13 chroot of
#    dev/orthanc-server (ORTHANC_CHROOT, default /var/cache/orthanc-r/trixie),
#    which has the plugin, when the host's Orthanc has not;
# otherwise the test skips, saying why (and fails under CI=true, where the
# plugin is expected). Returns list(client, url): `client` an Orthanc client
# of that server (which is stopped, and its files removed, when the calling
# test ends).
dicomweb_plugin_path <- "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"

dicomweb_config <- list(DicomWeb = list(Enable = TRUE, Root = "/dicom-web/"))

local_dicomweb_orthanc <- function(env = parent.frame()) {
  testthat::skip_if_not_installed("processx")
  if (orthanc_binary_available() && file.exists(dicomweb_plugin_path)) {
    srv <- local_orthanc(plugins = dicomweb_plugin_path, config = dicomweb_config, env = env)
    return(list(client = srv$client, url = srv$url))
  }
  chroot <- Sys.getenv("ORTHANC_CHROOT", "/var/cache/orthanc-r/trixie")
  in_chroot <- function(p) file.path(chroot, sub("^/", "", p))
  usable <- .Platform$OS.type == "unix" && identical(unname(Sys.info()[["effective_user"]]), "root") &&
    file.exists(in_chroot("/usr/sbin/Orthanc")) && file.exists(in_chroot(dicomweb_plugin_path)) &&
    nzchar(Sys.which("chroot"))
  if (!usable) {
    why <- "no Orthanc with the DICOMweb plugin (apt-get install orthanc-dicomweb, or run as root with the chroot of dev/orthanc-server)"
    if (on_ci()) stop("CI=true but ", why)
    testthat::skip(why)
  }
  chroot_dicomweb_orthanc(chroot, env)
}

# Orthanc (the chroot's, 1.12.x) with the plugin, run inside the chroot: its
# configuration and storage in a fresh folder of the chroot's /tmp.
chroot_dicomweb_orthanc <- function(chroot, env) {
  inside <- paste0("/tmp/orthanc-r-dicomweb-", Sys.getpid(), "-", random_int(1e9))
  outside <- file.path(chroot, sub("^/", "", inside))
  dir.create(file.path(outside, "db"), recursive = TRUE, mode = "0700")
  withr::defer(unlink(outside, recursive = TRUE, force = TRUE), envir = env, priority = "last")
  http_port <- free_port()
  password <- random_password()
  settings <- c(list(
    Name = "orthanc-r-dicomweb",
    StorageDirectory = file.path(inside, "db"),
    IndexDirectory = file.path(inside, "db"),
    HttpPort = http_port,
    RemoteAccessAllowed = FALSE,
    AuthenticationEnabled = TRUE,
    RegisteredUsers = list(`orthanc-r` = password),
    DicomServerEnabled = FALSE,
    Plugins = list(dicomweb_plugin_path),
    SaveJobs = FALSE,
    HttpDescribeErrors = TRUE
  ), dicomweb_config)
  conf <- file.path(outside, "orthanc.json")
  file.create(conf)
  Sys.chmod(conf, "0600")
  writeLines(rs_to_json(settings), conf)
  log <- file.path(outside, "orthanc.log")
  # chroot execs Orthanc: the process is Orthanc's, stopped with SIGTERM.
  p <- processx::process$new("chroot", c(chroot, "/usr/sbin/Orthanc", "--no-jobs", file.path(inside, "orthanc.json")),
    stdout = log, stderr = "2>&1", cleanup = TRUE
  )
  withr::defer({
    if (p$is_alive()) {
      try(p$signal(15L), silent = TRUE)
      try(p$wait(10000), silent = TRUE)
      if (p$is_alive()) try(p$kill(), silent = TRUE)
    }
  }, envir = env)
  url <- paste0("http://127.0.0.1:", http_port)
  client <- Orthanc$new(url, "orthanc-r", password, retries = 0, timeout = 60)
  rm(password)
  deadline <- Sys.time() + 30
  repeat {
    if (!p$is_alive()) stop("the Orthanc of the chroot exited:\n", paste(readLines(log), collapse = "\n"))
    if (!is.null(tryCatch(client$get_system(), orthanc_error = function(e) NULL))) break
    if (Sys.time() > deadline) stop("the Orthanc of the chroot did not answer within 30 s")
    Sys.sleep(0.1)
  }
  list(client = client, url = url)
}

# The private request path of a client (the tests exercise its DICOMweb
# plumbing directly; layer code goes through public methods).
private_request <- function(client) client$.__enclos_env__$private$request
