# Checks of the files written by retrieve_and_write_*() (test-retrieve.R,
# test-async.R).

# Files under `dir` (relative), hidden ones included.
all_files <- function(dir) list.files(dir, recursive = TRUE, all.files = TRUE, no.. = TRUE)

# Each file written has the bytes of the server's instance, and its size.
expect_tree_identical <- function(client, out) {
  written <- out[out$status == "Written", ]
  server <- vapply(written$id, function(id) md5_of(client$get_instances_id_file(id)), "")
  expect_equal(unname(tools::md5sum(written$path)), unname(server))
  expect_equal(written$size, file.size(written$path))
}
