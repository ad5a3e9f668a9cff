# Called by ./configure (and ./configure.win on Windows): check that cargo and
# rustc are available and recent enough, print their versions (CRAN asks for
# them in the installation log), check that the OpenSSL development files are
# there (Linux), and write src/Makevars from src/Makevars.in. On Windows (TLS
# there is schannel, no OpenSSL): check that Rust has the x86_64-pc-windows-gnu
# target and write src/Makevars.win from src/Makevars.win.in.
# The minimum Rust version is read from DESCRIPTION's SystemRequirements
# ("rustc >= x.y.z"), as in rextendr's template.
sysreq <- paste(read.dcf("DESCRIPTION", fields = "SystemRequirements"), collapse = " ")
msrv <- regmatches(sysreq, regexpr("rustc[^,]*>= *[0-9]+\\.[0-9]+(\\.[0-9]+)?", sysreq))
msrv <- if (length(msrv)) sub(".*>= *", "", msrv) else "1.80.0"
sysname <- Sys.info()[["sysname"]]
windows <- .Platform$OS.type == "windows"

# What to install, per platform, in the words of each package manager.
how_to_install_rust <- paste0(
  "Install Rust (cargo and rustc >= ", msrv, "), e.g.:\n",
  "  - any platform: rustup, https://rustup.rs\n",
  "  - Debian/Ubuntu: apt-get install cargo (Debian 13 / Ubuntu 24.10 or newer)\n",
  "  - Fedora/RHEL: dnf install cargo\n",
  "  - macOS: brew install rust\n",
  "  - Windows: rustup, with the x86_64-pc-windows-gnu target (rustup target add x86_64-pc-windows-gnu)\n",
  "then make sure 'cargo' and 'rustc' are on the PATH (or in ~/.cargo/bin)."
)
fail <- function(title, ...) {
  line <- strrep("-", 66)
  stop("\n", line, "\n", title, "\n", ..., "\n", line, call. = FALSE)
}

# rustup's default place: ~/.cargo/bin, %USERPROFILE%\.cargo\bin on Windows.
cargo_home_bin <- file.path(Sys.getenv(if (windows) "USERPROFILE" else "HOME"), ".cargo", "bin")
path <- Sys.getenv("PATH")
cargo_home_bin_added <- FALSE
if (!nzchar(Sys.which("cargo")) &&
    file.exists(file.path(cargo_home_bin, if (windows) "cargo.exe" else "cargo"))) {
  path <- paste(path, cargo_home_bin, sep = .Platform$path.sep)
  Sys.setenv(PATH = path)
  cargo_home_bin_added <- TRUE
}
if (!nzchar(Sys.which("cargo")) || !nzchar(Sys.which("rustc"))) {
  missing <- c("cargo", "rustc")[!nzchar(Sys.which(c("cargo", "rustc")))]
  fail(
    "RUST TOOLCHAIN NOT FOUND",
    "This package is written partly in Rust: building it needs ",
    paste(missing, collapse = " and "), ", which ", if (length(missing) > 1) "are" else "is",
    " not on the PATH.\n", how_to_install_rust
  )
}
rustc_version <- system2("rustc", "--version", stdout = TRUE)
cargo_version <- system2("cargo", "--version", stdout = TRUE)
message("using ", rustc_version, " (", Sys.which("rustc"), ")")
message("using ", cargo_version, " (", Sys.which("cargo"), ")")
version_of <- function(x) {
  v <- regmatches(x, regexpr("[0-9]+\\.[0-9]+\\.[0-9]+", x))
  if (length(v)) package_version(v) else NULL
}
for (tool in list(list("rustc", rustc_version), list("cargo", cargo_version))) {
  v <- version_of(tool[[2]])
  if (!is.null(v) && v < package_version(msrv)) {
    fail(
      "RUST TOOLCHAIN TOO OLD",
      tool[[1]], " ", format(v), " is older than the minimum this package needs, ", msrv, ".\n",
      "Update it (rustup update), or: ", how_to_install_rust
    )
  }
}

# Windows: R's toolchain (Rtools) is mingw-w64, so the Rust library is built for
# x86_64-pc-windows-gnu, whose standard library rustup installs separately
# when the default toolchain is MSVC.
if (windows) {
  target <- "x86_64-pc-windows-gnu"
  libdir <- suppressWarnings(system2("rustc", c("--print", "target-libdir", "--target", target),
                                     stdout = TRUE, stderr = FALSE))
  if (!is.null(attr(libdir, "status")) || length(libdir) != 1L ||
      !length(list.files(libdir, "^libstd-.*\\.rlib$"))) {
    fail(
      "RUST TARGET NOT INSTALLED",
      "Rust's standard library for ", target, " (the target of R's Rtools) is missing.\n",
      "Install it with: rustup target add ", target
    )
  }
  message("Rust target: ", target)
}

# reqwest uses the platform's TLS: OpenSSL on Linux and other Unixes (as curl
# does), the Security framework on macOS. openssl-sys finds OpenSSL with
# pkg-config (or OPENSSL_DIR); check here, where the message can be clear.
how_to_install_openssl <- paste0(
  "Install the OpenSSL development files and pkg-config:\n",
  "  - Debian/Ubuntu: apt-get install libssl-dev pkg-config\n",
  "  - Fedora/RHEL: dnf install openssl-devel pkgconf-pkg-config\n",
  "  - Alpine: apk add openssl-dev pkgconf\n",
  "  - openSUSE: zypper install libopenssl-devel pkg-config\n",
  "or set OPENSSL_DIR to an OpenSSL installation."
)
openssl_libs <- "-lssl -lcrypto"
if (windows) {
  # schannel: system libraries only, listed in src/Makevars.win.in.
  openssl_libs <- "schannel (-lcrypt32 -lsecur32 -lncrypt)"
} else if (sysname == "Darwin") {
  openssl_libs <- "-framework Security -framework CoreFoundation"
} else if (nzchar(Sys.getenv("OPENSSL_DIR"))) {
  message("OpenSSL from OPENSSL_DIR=", Sys.getenv("OPENSSL_DIR"))
  openssl_libs <- sprintf("-L%s/lib -lssl -lcrypto", Sys.getenv("OPENSSL_DIR"))
} else if (nzchar(Sys.which("pkg-config"))) {
  ok <- suppressWarnings(system2("pkg-config", c("--exists", "openssl"), stdout = FALSE, stderr = FALSE)) == 0
  if (!ok) {
    fail("OPENSSL NOT FOUND", "pkg-config does not know 'openssl'.\n", how_to_install_openssl)
  }
  version <- suppressWarnings(system2("pkg-config", c("--modversion", "openssl"), stdout = TRUE, stderr = FALSE))
  libs <- suppressWarnings(system2("pkg-config", c("--libs", "openssl"), stdout = TRUE, stderr = FALSE))
  message("using OpenSSL ", paste(version, collapse = " "))
  if (is.null(attr(libs, "status")) && length(libs) == 1L && nzchar(libs)) openssl_libs <- libs
} else {
  headers <- file.path(c("/usr/include", "/usr/local/include"), "openssl", "ssl.h")
  if (!any(file.exists(headers))) {
    fail("OPENSSL NOT FOUND", "Neither pkg-config nor the OpenSSL headers were found.\n", how_to_install_openssl)
  }
  message("pkg-config not found; OpenSSL headers in ", dirname(dirname(headers[file.exists(headers)][1])))
}
message("TLS libraries: ", openssl_libs)

vendored <- file.exists("src/rust/vendor.tar.xz")
message(if (vendored) {
  "Rust dependencies: vendored (src/rust/vendor.tar.xz), offline build"
} else {
  "Rust dependencies: from crates.io (no src/rust/vendor.tar.xz; run dev/vendor.sh to vendor them)"
})
# GNU ld, gold and lld (Linux): export only R_init_orthanc (the Rust library's
# symbols stay internal) and drop unused sections.
link_flags <- if (sysname == "Linux") "-Wl,--exclude-libs,ALL -Wl,--gc-sections" else ""
if (windows) {
  # make runs its recipes with Rtools' sh, whose PATH is POSIX-style
  # (/c/Users/...:/usr/bin): R's PATH (C:\...;C:\...) cannot be exported
  # there, so only rustup's directory is appended, when it was needed.
  env <- ""
  if (cargo_home_bin_added) {
    dir <- normalizePath(cargo_home_bin, winslash = "/")
    dir <- sub("^([A-Za-z]):", "/\\L\\1", dir, perl = TRUE)
    env <- sprintf("export PATH=\"$$PATH:%s\";", dir)
  }
  mk <- readLines("src/Makevars.win.in")
  mk <- gsub("@CARGO_ENV@", env, mk, fixed = TRUE)
  # Binary mode: LF line ends (text mode would write CRLF, which breaks the
  # recipes' line continuations).
  con <- file("src/Makevars.win", "wb")
  writeLines(mk, con)
  close(con)
} else {
  env <- sprintf("export PATH=\"%s\";", path)
  mk <- readLines("src/Makevars.in")
  mk <- gsub("@OPENSSL_LIBS@", openssl_libs, mk, fixed = TRUE)
  mk <- gsub("@CARGO_ENV@", env, mk, fixed = TRUE)
  mk <- gsub("@LINK_FLAGS@", link_flags, mk, fixed = TRUE)
  writeLines(mk, "src/Makevars")
}
