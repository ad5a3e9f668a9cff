# Wrong argument types to every generated endpoint method give an
# orthanc_argument_error before anything is sent: one table-driven test.

endpoint_methods <- function() {
  setdiff(names(Orthanc$public_methods), coverage_core_methods)
}

# Wrong values by argument, each of which must be refused.
wrong_values <- list(
  path = list(NULL, NA_character_, c("a", "b"), list("a"), mean),
  query = list(mean, list(1)),
  params = list("x", list(1), list(a = mean)),
  json = list(mean, new.env()),
  data = list(1:3, c("a", "b")),
  file = list(123, tempfile("missing-")),
  headers = list("x", list(a = mean))
)

arg_kind <- function(arg) {
  switch(arg,
    params = "params", json = "json", data = "data", file = "file", headers = "headers",
    level = , resources = "query",
    "path"
  )
}

# Calls every endpoint method with each wrong value; returns the number of calls.
refuse_wrong_arguments <- function(o) {
  calls <- 0L
  for (m in endpoint_methods()) {
    fmls <- formals(Orthanc$public_methods[[m]])
    # Valid-looking values for the required arguments; NULL for the optional ones.
    valid <- lapply(names(fmls), function(a) if (arg_kind(a) %in% c("path", "query")) "x" else NULL)
    names(valid) <- names(fmls)
    for (a in names(fmls)) {
      for (bad in wrong_values[[arg_kind(a)]]) {
        args <- valid
        args[a] <- list(bad)
        # A NULL path argument is as wrong as any other; a NULL query argument
        # (level, resources) is simply left out by the client.
        if (is.null(bad) && arg_kind(a) == "query") next
        calls <- calls + 1L
        expect_error(
          do.call(o[[m]], args),
          class = "orthanc_argument_error",
          label = paste0(m, "(", a, " = ", paste(deparse(bad), collapse = ""), ")")
        )
      }
    }
  }
  calls
}

test_that("every generated method refuses wrong argument types with a classed error", {
  o <- orthanc_client()
  sent_before <- o$get_statistics()
  expect_gt(refuse_wrong_arguments(o), 1000L)
  # Nothing reached the server: no instance was created by any of these calls.
  expect_equal(o$get_statistics()$CountInstances, sent_before$CountInstances)
})

test_that("wrong argument types are refused before anything is sent (offline, through the mock seam)", {
  sent <- 0L
  local_orthanc_mock(function(req) {
    sent <<- sent + 1L
    orthanc_mock_response(body = list())
  })
  o <- Orthanc$new("http://orthanc.invalid:8042")
  expect_gt(refuse_wrong_arguments(o), 1000L)
  expect_equal(sent, 0L)
})

test_that("one request value describes the request: method, segments, query, headers, body", {
  seen <- NULL
  local_orthanc_mock(function(req) {
    seen <<- req
    orthanc_mock_response(body = list(ok = TRUE))
  })
  o <- Orthanc$new("http://orthanc.invalid:8042")
  expect_equal(o$get_instances_id_tags("a b/c", params = list(short = TRUE)), list(ok = TRUE))
  expect_equal(seen$method, "GET")
  expect_equal(seen$path, "/instances/a%20b%2Fc/tags")
  expect_equal(seen$query, list(short = TRUE))
  o$post_tools_find(json = list(Level = "Study", Query = structure(list(), names = character())))
  expect_equal(seen$method, "POST")
  expect_equal(seen$body_kind, "json")
  expect_equal(seen$body, '{"Level":"Study","Query":{}}')
  # POST routes with a JSON body and no `json` send {} (Orthanc's defaults).
  o$post_tools_find()
  expect_equal(seen$body, "{}")
  o$PUT("/tools/log-level", data = "verbose", headers = list(`X-A` = "1"))
  expect_equal(seen$body_kind, "text")
  expect_equal(seen$headers, list(`X-A` = "1"))
  expect_invisible(o$DELETE("/x"))
})

test_that("argument errors name the argument and the method", {
  o <- orthanc_client()
  err <- expect_error(o$get_instances_id(c("a", "b")), class = "orthanc_argument_error")
  expect_match(conditionMessage(err), "`id` must be a single non-empty string")
  err <- expect_error(o$post_tools_find(json = list(Query = mean)), class = "orthanc_argument_error")
  expect_match(conditionMessage(err), "`json$Query` is a function", fixed = TRUE)
  err <- expect_error(o$get_instances(params = list(limit = mean)), class = "orthanc_argument_error")
  expect_match(conditionMessage(err), "params$limit", fixed = TRUE)
})

test_that("route segments: strings as they are, `path` split at its slashes, numbers formatted by R", {
  skip_if_no_orthanc("ORTHANC_TEST_URL")
  cred <- test_credentials()
  # A plain client, as a user makes it.
  o <- Orthanc$new(Sys.getenv("ORTHANC_TEST_URL"), cred$username, cred$password)
  # A number is formatted by route_segments() before the request is sent.
  err <- expect_error(o$get_instances_id(12345), class = "orthanc_http_error")
  expect_match(err$url, "/instances/12345$")
  expect_identical(err$call, quote(o$get_instances_id(12345)))
  err <- expect_error(o$get_instances_id(1e6), class = "orthanc_http_error")
  expect_match(err$url, "/instances/1000000$")
  # A `path` inside a DICOM file: each part encoded on its own.
  err <- expect_error(
    o$get_instances_id_content_path("no such", path = "/0010-0010//0/a b"),
    class = "orthanc_http_error"
  )
  expect_match(err$url, "/instances/no%20such/content/0010-0010/0/a%20b$")
  # A `path` of slashes only is refused by R, naming the argument and the call.
  err <- expect_error(o$get_instances_id_content_path("x", path = "//"), class = "orthanc_argument_error")
  expect_match(conditionMessage(err), "`path` must be a single non-empty string")
  expect_identical(err$call, quote(o$get_instances_id_content_path("x", path = "//")))
})

test_that("request() sends a value of request_value()'s shape, its route converted only when needed", {
  box <- new.env()
  suppressMessages(trace("mock_answer", where = asNamespace("orthanc"), print = FALSE,
    tracer = bquote(assign("reqs", c(get("reqs", envir = .(box)), list(req)), envir = .(box)))))
  on.exit(suppressMessages(untrace("mock_answer", where = asNamespace("orthanc"))), add = TRUE)
  box$reqs <- list()
  local_orthanc_mock(function(req) orthanc_mock_response(body = list(url = req$url)))
  o <- Orthanc$new("http://orthanc.invalid:8042")
  expect_equal(o$get_instances_id("a b")$url, "http://orthanc.invalid:8042/instances/a%20b")
  # The mock, like Rust, answers "route" to the list; R converts it and sends again.
  expect_length(box$reqs, 2L)
  expect_identical(names(box$reqs[[1]]), names(request_value("GET", "x", TRUE)))
  expect_identical(box$reqs[[1]]$path, list("instances", id = "a b"))
  expect_identical(box$reqs[[2]]$path, c("instances", id = "a b"))
  expect_identical(box$reqs[[2]][names(box$reqs[[2]]) != "path"], box$reqs[[1]][names(box$reqs[[1]]) != "path"])
  box$reqs <- list()
  expect_equal(o$get_instances_id(7)$url, "http://orthanc.invalid:8042/instances/7")
  expect_identical(box$reqs[[2]]$path, c("instances", id = "7"))
  # A route refused by R is sent nowhere a second time.
  box$reqs <- list()
  expect_error(o$get_instances_id(NA_character_), class = "orthanc_argument_error")
  expect_length(box$reqs, 1L)
})

test_that("Rust takes a list route of plain strings as it is, and leaves the others to R", {
  skip_if_no_orthanc("ORTHANC_TEST_URL")
  cred <- test_credentials()
  o <- Orthanc$new(Sys.getenv("ORTHANC_TEST_URL"), cred$username, cred$password)
  h <- o$.__enclos_env__$private$handle
  send <- function(path) .Call(wrap__rs_perform, h, request_value("GET", path, TRUE))
  # Plain strings: sent (an unknown id: Orthanc's 404).
  expect_identical(send(list("instances", id = "nope"))[[1L]], 404L)
  expect_identical(send(list("system"))[[1L]], 200L)
  # Anything else: "route", for R's route_segments(), nothing sent.
  for (v in list(7, NA_character_, "", c("a", "b"), character(), list("a"), NULL)) {
    expect_identical(send(list("instances", id = v))[[1L]], "route")
  }
  expect_identical(send(list("instances", "x", "content", path = "0010-0010"))[[1L]], "route")
  # A string R cannot send is refused by Rust itself, naming the argument.
  bad <- "caf\xe9"
  Encoding(bad) <- "bytes"
  res <- send(list("instances", id = bad))
  expect_identical(res[[1L]], "argument")
  expect_match(res$message, "`id`", fixed = TRUE)
})
