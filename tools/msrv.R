# Called by ./configure: check that cargo and rustc are available, print their
# versions, and write src/Makevars from src/Makevars.in.
# The minimum Rust version is read from DESCRIPTION's SystemRequirements
# ("rustc >= x.y.z"), as in rextendr's template.
sysreq <- paste(read.dcf("DESCRIPTION", fields = "SystemRequirements"), collapse = " ")
msrv <- regmatches(sysreq, regexpr("rustc[^,]*>= *[0-9]+\\.[0-9]+(\\.[0-9]+)?", sysreq))
msrv <- if (length(msrv)) sub(".*>= *", "", msrv) else "1.80.0"
cargo_home_bin <- file.path(Sys.getenv("HOME"), ".cargo", "bin")
path <- Sys.getenv("PATH")
if (!nzchar(Sys.which("cargo")) && file.exists(file.path(cargo_home_bin, "cargo"))) {
  path <- paste(path, cargo_home_bin, sep = .Platform$path.sep)
  Sys.setenv(PATH = path)
}
if (!nzchar(Sys.which("cargo")) || !nzchar(Sys.which("rustc"))) {
  stop(
    "------------------ RUST TOOLCHAIN NOT FOUND ------------------\n",
    "This package needs cargo and rustc (>= ", msrv, ") to build.\n",
    "Install them from your system's packages or with rustup (https://rustup.rs),\n",
    "then make sure 'cargo' is on the PATH.\n",
    "--------------------------------------------------------------",
    call. = FALSE
  )
}
rustc_version <- system2("rustc", "--version", stdout = TRUE)
cargo_version <- system2("cargo", "--version", stdout = TRUE)
message("using ", rustc_version)
message("using ", cargo_version)
v <- regmatches(rustc_version, regexpr("[0-9]+\\.[0-9]+\\.[0-9]+", rustc_version))
if (length(v) && package_version(v) < package_version(msrv)) {
  stop("rustc ", v, " is older than the minimum supported ", msrv, call. = FALSE)
}
vendored <- file.exists("src/rust/vendor.tar.xz")
env <- sprintf("export PATH=\"%s\" CARGO_HOME=\"$(CARGOTMP)\";", path)
if (!vendored) env <- sprintf("export PATH=\"%s\";", path)
# reqwest uses the platform's TLS: OpenSSL on Linux (as curl does).
openssl_libs <- "-lssl -lcrypto"
if (nzchar(Sys.which("pkg-config"))) {
  libs <- suppressWarnings(system2("pkg-config", c("--libs", "openssl"), stdout = TRUE, stderr = FALSE))
  if (is.null(attr(libs, "status")) && length(libs) == 1L && nzchar(libs)) openssl_libs <- libs
}
if (Sys.info()[["sysname"]] == "Darwin") {
  openssl_libs <- "-framework Security -framework CoreFoundation"
}
message("TLS libraries: ", openssl_libs)
mk <- readLines("src/Makevars.in")
mk <- gsub("@OPENSSL_LIBS@", openssl_libs, mk, fixed = TRUE)
mk <- gsub("@CARGO_ENV@", env, mk, fixed = TRUE)
mk <- gsub("@CARGO_OFFLINE@", if (vendored) "--offline" else "", mk, fixed = TRUE)
writeLines(mk, "src/Makevars")
