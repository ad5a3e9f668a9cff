# Coverage of the endpoint methods (R/api-generated.R) by the tests.
#
# A method counts as covered only where a test CHECKED its answer, not where it
# was merely called:
# * RecordingOrthanc's hook (record_endpoint_call(), helper-server.R) counts the
#   endpoint methods the tests call in `endpoint_calls` and remembers each
#   answer (the value returned, or the condition raised) with
#   coverage_remember_answer(): the answer and every part of it (the elements
#   of a list, recursively), known by their address in memory.
# * setup-coverage.R traces testthat's quasi_label() and quasi_capture(), through
#   which every expectation gets the value it looks at (expect_equal(),
#   expect_identical(), expect_s3_class(), expect_length(), expect_match(),
#   expect_error(class = ), ...). When that value is a remembered answer or a
#   part of one (the same object, not an equal one: `o$get_system()$Version`
#   is, `nchar(o$get_system()$Version)` is not), the method that answered it
#   is marked checked in `endpoint_checks`. A condition counts when the
#   expectation looked for a class or a message more specific than "error".
# * The answers are kept alive (up to `coverage_keep` of the latest) while they
#   can be matched, so that an address never stands for another object. An
#   object found in two answers at once (R shares some: NULL, TRUE, FALSE, NA,
#   the empty string, the code of a call) is never matched.
# The helper-uncovered-*.R files list, with not_exercised(), the methods the
# tests do not call, each with its reason. setup-coverage.R has
# coverage_report() run once after all test files, whatever their order: it
# prints "endpoint methods whose answer a test checked: N of M", the methods
# called whose answer no test checked, and the methods not exercised; it fails
# the run when the live servers are there (ORTHANC_TEST_URL) and every test
# file ran, but a method is neither called nor listed with a reason.

endpoint_checks <- new.env(parent = emptyenv())

coverage_keep <- 400L
coverage_max_parts <- 5000L
coverage_memory <- new.env(parent = emptyenv())
coverage_memory$slots <- vector("list", coverage_keep)
coverage_memory$next_slot <- 1L
# address -> the method whose answer holds that object, or NA when the object
# is in more than one answer (R shares some objects: they are never matched).
coverage_memory$owner <- new.env(parent = emptyenv(), hash = TRUE, size = 65536L)
# address -> in how many of the answers kept it is.
coverage_memory$count <- new.env(parent = emptyenv(), hash = TRUE, size = 65536L)

coverage_address <- function(x) rlang::obj_address(x)

# Objects R shares across the session (NULL, the logical scalars TRUE, FALSE,
# NA), the empty string, code (calls, symbols), never an answer's own.
coverage_shared <- function(x) {
  is.null(x) || is.language(x) || is.function(x) || is.environment(x) ||
    (is.atomic(x) && length(x) == 1L && is.null(attributes(x)) && (is.logical(x) || identical(x, "")))
}

# The addresses of an answer and of its parts (list elements, recursively; at
# most coverage_max_parts of them), each once.
coverage_parts <- function(value) {
  # A queue with a moving head (not todo[-1L] and c(out, ...): those copy the
  # whole queue at each step, minutes for a test that lists 1,000 studies
  # page after page).
  out <- character(coverage_max_parts)
  n <- 0L
  todo <- vector("list", 1024L)
  todo[1L] <- list(value)
  head <- 1L
  tail <- 1L
  while (head <= tail && n < coverage_max_parts) {
    x <- todo[[head]]
    todo[head] <- list(NULL)
    head <- head + 1L
    if (!coverage_shared(x)) {
      n <- n + 1L
      out[n] <- coverage_address(x)
    }
    if (is.list(x) && length(x)) {
      k <- length(x)
      if (tail + k > length(todo)) length(todo) <- max(2L * length(todo), tail + k)
      todo[tail + seq_len(k)] <- unclass(x)
      tail <- tail + k
    }
  }
  unique(out[seq_len(n)])
}

# The answers are numbered: an empty answer (NULL, the same object for every
# one) is checked by an expectation that gets NULL from an expression during
# whose evaluation that answer came, last (expect_null(o$put_...(...))).
coverage_memory$answers <- 0L
coverage_memory$last <- NULL
coverage_answer_number <- function() coverage_memory$answers

coverage_remember_answer <- function(method, value) {
  m <- coverage_memory
  m$answers <- m$answers + 1L
  m$last <- list(number = m$answers, method = method, empty = is.null(value))
  # Large downloads (raw vectors, long texts) are not kept.
  if (coverage_shared(value) || is.atomic(value) && length(value) > 4e6) return(invisible())
  old <- m$slots[[m$next_slot]]
  for (a in old$parts) {
    n <- m$count[[a]] - 1L
    if (n == 0L) {
      rm(list = a, envir = m$count)
      rm(list = a, envir = m$owner)
    } else {
      m$count[[a]] <- n
    }
  }
  parts <- coverage_parts(value)
  for (a in parts) {
    n <- get0(a, envir = m$count, inherits = FALSE, ifnotfound = 0L)
    m$count[[a]] <- n + 1L
    m$owner[[a]] <- if (n == 0L) method else NA_character_
  }
  m$slots[m$next_slot] <- list(list(value = value, parts = parts))
  m$next_slot <- m$next_slot %% coverage_keep + 1L
  invisible()
}

# An expectation looked at `x`: if it is a remembered answer or a part of one,
# its method is checked.
coverage_seen <- function(x) {
  if (coverage_shared(x)) return(invisible())
  method <- get0(coverage_address(x), envir = coverage_memory$owner, inherits = FALSE)
  if (is.character(method) && !is.na(method)) {
    endpoint_checks[[method]] <- (endpoint_checks[[method]] %||% 0L) + 1L
  }
  invisible()
}

# The exit of testthat's quasi_label(): the value an expectation compares;
# `since`: the number of answers when it started evaluating it.
coverage_seen_label <- function(act, since = NULL) {
  if (!is.list(act)) return(invisible())
  last <- coverage_memory$last
  if (is.null(act$val) && is.numeric(since) && !is.null(last) && last$number > since && last$empty) {
    endpoint_checks[[last$method]] <- (endpoint_checks[[last$method]] %||% 0L) + 1L
  } else {
    coverage_seen(act$val)
  }
  invisible()
}

# The exit of testthat's quasi_capture(): the condition an expectation caught
# (expect_error(), expect_condition(), ...), when it looked for more than "an
# error" (a class or a message); its `matches` argument is testthat's matcher.
coverage_seen_capture <- function(act, dots) {
  cap <- if (is.list(act)) act$cap
  if (!inherits(cap, "condition")) return(invisible())
  # testthat 3e's matcher knows the class and the message looked for (2e
  # checks them after the capture: not counted).
  matcher <- dots$matches
  if (!is.function(matcher)) return(invisible())
  env <- environment(matcher)
  class <- get0("class", envir = env, inherits = FALSE)
  pattern <- get0("pattern", envir = env, inherits = FALSE)
  specific <- (is.character(class) && !all(class %in% c("error", "condition", "warning", "message"))) ||
    (is.character(pattern) && !is.na(pattern[1L]))
  if (!specific) return(invisible())
  # testthat may add a backtrace to the condition (a modified copy): its
  # fields are still the answer's own objects.
  owner <- coverage_memory$owner
  for (x in c(list(cap), unclass(cap))) {
    if (coverage_shared(x)) next
    method <- get0(coverage_address(x), envir = owner, inherits = FALSE)
    if (is.character(method) && !is.na(method)) {
      endpoint_checks[[method]] <- (endpoint_checks[[method]] %||% 0L) + 1L
      break
    }
  }
  invisible()
}

# Trace testthat's two functions through which expectations take their values.
coverage_trace_expectations <- function() {
  ns <- asNamespace("testthat")
  suppressMessages({
    # The functions themselves go into the traced code: it runs in testthat's
    # namespace, which does not see the test helpers.
    trace("quasi_label",
      tracer = bquote(.coverage_since <- .(coverage_answer_number)()),
      exit = bquote(.(coverage_seen_label)(returnValue(), .coverage_since)),
      where = ns, print = FALSE
    )
    trace("quasi_capture", exit = bquote(.(coverage_seen_capture)(returnValue(), list(...))), where = ns, print = FALSE)
  })
  invisible()
}

coverage_untrace_expectations <- function() {
  ns <- asNamespace("testthat")
  suppressMessages({
    untrace("quasi_label", where = ns)
    untrace("quasi_capture", where = ns)
  })
  invisible()
}

uncovered_endpoints <- new.env(parent = emptyenv())

not_exercised <- function(method, reason) {
  assign(method, reason, envir = uncovered_endpoints)
}

# The methods of the Orthanc class that are not endpoint methods.
coverage_core_methods <- c("initialize", "GET", "DELETE", "POST", "PUT", "stream", "batch", "print")

# The endpoint method names derived from the pinned OpenAPI description: one
# per operation that is not deprecated, named verb_path (braces dropped, "/"
# and "-" as "_"), as tools/generate-api.R names them.
coverage_spec_methods <- function() {
  file <- system.file("openapi", "orthanc-openapi-1.12.10.json", package = "orthanc")
  if (!nzchar(file)) stop("coverage: inst/openapi/orthanc-openapi-1.12.10.json is not installed")
  spec <- jsonlite::fromJSON(file, simplifyVector = FALSE)
  methods <- character()
  for (path in names(spec$paths)) {
    for (verb in names(spec$paths[[path]])) {
      if (isTRUE(spec$paths[[path]][[verb]]$deprecated)) next
      route <- gsub("[/-]", "_", gsub("[{}]", "", sub("^/", "", path)))
      methods <- c(methods, paste0(verb, "_", route))
    }
  }
  methods
}

# Did this run source every test file of the directory? testthat does not say
# it openly: test_files_serial(), test_files() and test_dir() hold the files of
# the run in `test_paths`, and the teardown of the run happens while they are
# on the call stack. When it cannot be told, the run counts as complete.
coverage_complete_run <- function(test_dir) {
  all <- list.files(test_dir, pattern = "^test.*\\.[rR]$")
  for (frame in rev(sys.frames())) {
    if (exists("test_paths", envir = frame, inherits = FALSE)) {
      ran <- basename(get("test_paths", envir = frame, inherits = FALSE))
      return(all(all %in% ran))
    }
  }
  TRUE
}

# Print the coverage of the endpoint methods; stop() on an inconsistency, and
# on a method without test nor reason when the servers are there and the run
# is complete.
coverage_report <- function(test_dir) {
  if (!requireNamespace("jsonlite", quietly = TRUE)) {
    message("endpoint coverage not computed: jsonlite is not installed")
    return(invisible())
  }
  endpoints <- coverage_spec_methods()
  class_methods <- setdiff(names(Orthanc$public_methods), coverage_core_methods)
  problems <- character()
  problem <- function(what, methods) {
    if (length(methods)) problems <<- c(problems, paste0(what, ": ", paste(methods, collapse = ", ")))
  }
  problem("the spec names methods twice", endpoints[duplicated(endpoints)])
  problem("operations of the spec without an Orthanc method", setdiff(endpoints, class_methods))
  problem(
    "Orthanc methods that are neither core nor an operation of the spec",
    setdiff(class_methods, endpoints)
  )
  called <- intersect(ls(endpoint_calls), endpoints)
  checked <- intersect(ls(endpoint_checks), endpoints)
  skipped <- ls(uncovered_endpoints)
  problem("not_exercised() names unknown methods", setdiff(skipped, endpoints))
  # A method with a reason not to be exercised must really not be called.
  problem("methods listed with not_exercised() but called", intersect(called, skipped))
  missing <- setdiff(endpoints, c(called, skipped))
  complete <- coverage_complete_run(test_dir)
  message(
    "endpoint methods whose answer a test checked: ", length(checked), " of ", length(endpoints),
    if (!complete) " (not every test file ran)"
  )
  unchecked <- setdiff(called, checked)
  message(
    "endpoint methods called: ", length(called), "; called but no test checked their answer: ",
    length(unchecked), if (length(unchecked)) paste0(" (", paste(sort(unchecked), collapse = ", "), ")")
  )
  if (length(skipped)) {
    message("not exercised, with reasons:")
    for (m in sort(skipped)) message("  ", m, ": ", uncovered_endpoints[[m]])
  }
  if (length(missing) && complete) {
    message("not exercised and without a reason: ", paste(missing, collapse = ", "))
  } else if (length(missing)) {
    message(length(missing), " endpoint methods not called by the test files that ran")
  }
  if (nzchar(Sys.getenv("ORTHANC_TEST_URL")) && complete) {
    problem(
      "endpoint methods neither called by a test nor listed with a reason (not_exercised() in helper-uncovered-*.R)",
      missing
    )
    # At most a tenth of the endpoint methods may go without a test.
    if (length(skipped) > length(endpoints) %/% 10L) {
      problem(paste("more than a tenth of the", length(endpoints), "endpoint methods are not exercised"), skipped)
    }
  }
  if (length(problems)) {
    stop("endpoint coverage: ", paste(problems, collapse = "; "), call. = FALSE)
  }
  invisible()
}
