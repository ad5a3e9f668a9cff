# testthat 3.2 writes an error in a snapshot as "Condition / Error in `call()`: / ! message",
# where 3.1 (Debian 12's R 4.2) wrote "Error <class> / message": the snapshots of errors are
# kept once per format, the 3.2 ones in _snaps/testthat-3.2/ (recorded on Debian 13's R 4.5).
snapshot_variant <- function() {
  if (utils::packageVersion("testthat") >= "3.2.0") "testthat-3.2" else NULL
}
