#!/usr/bin/env Rscript
# Probe of the R -> Rust boundary of the orthanc package (issue 16, item 2).
#
#   Rscript dev/boundary-probe.R [--cases N] [--gctorture M] [--seed S] [--lib PATH]
#                                [--batch B] [--jobs J] [--out FILE] [--server-depth D]
#   Rscript dev/boundary-probe.R --case ID --seed S [--lib PATH]   (one case, verbose)
#
# --cases N (3000) generated cases; --gctorture M (30) of them, small ones, also
# run the Rust calls under gctorture(TRUE); --seed S (random, printed); --lib PATH
# is put first in .libPaths() (here and in the children: the probe runs against
# an installed package); --batch B (150) cases per child process; --jobs J (2)
# children at once; --out FILE writes every outcome (TSV); --server-depth D (32):
# JSON nested deeper is never sent to a live server (see below);
# --selftest-crash ID makes the child running case ID kill itself (SIGSEGV): the
# probe must then re-run that batch case by case and report that case as FAIL.
#
# It tries R objects where the package hands them to Rust, and shows that none
# ends the R process or raises an unclassed error:
# 1. named inputs (the ones of the issue: factors whose codes or levels are not a
#    factor's, strings in "bytes" encoding, invalid UTF-8, latin1) as JSON value,
#    JSON name, route segment, query value and name, header, cookie, text body,
#    batch request and client field: one line each, with the condition class and
#    its message, "same as jsonlite", or "accepted (sent: ...)";
# 2. a property test: N objects made by dev/boundary-cases.R (every SEXP type,
#    classes, attributes, encodings, special numbers, deep nesting, odd names,
#    zero length), each sent through every channel of `channels` below: the JSON
#    text (rs_to_json() against jsonlite), `json =` through post_tools_find(),
#    POST() and batch(), query parameters (GET() and an endpoint method), a
#    header, a cookie, route segments (get_instances_id(), GET(),
#    orthanc_request()), and rs_perform() given x directly where R's checks would
#    stop it (query, headers, segments, path, body).
#
# Each case runs in a child R process; a child runs a batch of cases, and when it
# dies (or hangs) every case of its batch is run again alone, to name the input
# that killed it.
#
# Outcomes. A channel either sends the request (the conversion succeeded: the
# answer, or an HTTP or connection error, is "sent"), or raises a condition
# inheriting "orthanc_error" ("classed": its first class is recorded; for the
# direct rs_perform() calls, the error list it returns). Anything else is a
# FAIL: the child died (segfault, abort, hang), an error without the class
# orthanc_error, a refusal where the type rules of ?Orthanc write the value, a
# string that cannot be read as UTF-8 (in "bytes" encoding, or marked UTF-8 but
# not valid) sent or written instead of refused, or JSON that differs from
# jsonlite's (below). Named inputs holding such strings must be refused.
#
# "Same JSON" (the `json` channel): orthanc:::rs_to_json(x) (the text sent for
# `json = x`) against jsonlite::toJSON(x, auto_unbox = TRUE, null = "null",
# na = "null", digits = NA). Both texts are parsed (jsonlite::parse_json) and
# compared as values: same structure (array vs object, key order, duplicated
# keys kept), same strings byte for byte, same true/false/null, and numbers equal
# to 15 significant digits (sprintf("%.15g"), with -0 equal to 0, and jsonlite's
# 1.79769313486232e+308, which reads back as Inf, equal to .Machine$double.xmax).
# The reason: jsonlite's digits = NA writes 15 significant digits ("%.15g":
# 0.1 + 0.2 is 0.3, 2^53 + 2 is 9.00719925474099e+15), while the package writes
# the shortest text that reads back as the same double (0.30000000000000004,
# 9007199254740994); 1 vs 1.0 or 1e+300 vs 1e300 are the same number. Where
# jsonlite cannot write an object only because of R's C stack (it recurses
# deeply; ~500 levels of nesting fail), its answer is built from its answers for
# the parts (plain lists only). The package's text must also be valid JSON.
#
# Where the package writes something else than jsonlite, the first node where
# the two differ is found and named by a rule (`divergence_rules` below). A rule
# that ?Orthanc ("JSON and R") states is reported as "differs from jsonlite:
# <rule>"; a rule it does not state is a FAIL ("undocumented"), and so is a
# difference that no rule explains, or output that does not follow the type rules
# of ?Orthanc (checked against ref_json(), an R implementation of those rules).
#
# Without ORTHANC_TEST_URL the client points at a closed port (127.0.0.1:9): the
# conversion happens before anything is sent, so a connection error proves the
# input was accepted. With it (server A of the tests, credentials from
# ORTHANC_TEST_USERNAME / ORTHANC_TEST_PASSWORD) the requests reach Orthanc; they
# are read-only (GET /system, GET /instances/<x>, POST /tools/lookup,
# POST /tools/find). Inputs nested deeper than --server-depth go to the closed
# port instead: a JSON body nested ~200 deep makes Orthanc's JSON parser
# overflow the stack of its HTTP thread and the server dies (seen with 1.10.1
# and 1.12.7).
#
# Exit status 1 when any FAIL; the last line is
#   boundary probe: N cases, N same as jsonlite, N classed errors, N differ by documented rule, N FAIL
# (N cases counts the named inputs and the generated cases; a case is a FAIL
# when any of its channels fails, else it counts by its json outcome.)

# ---------------------------------------------------------------------------
# Options

probe_args <- function(args = commandArgs(trailingOnly = TRUE)) {
  opts <- list(
    cases = 3000L, gctorture = 30L, seed = NA, lib = NULL, batch = 150L, jobs = 2L,
    out = NULL, child = FALSE, ids = NULL, gct_ids = "", named = FALSE, case = NA,
    timeout = 60, server_depth = 32L, selftest_crash = NA
  )
  i <- 1L
  while (i <= length(args)) {
    a <- args[[i]]
    key <- gsub("-", "_", sub("^--", "", sub("=.*$", "", a)))
    if (grepl("=", a, fixed = TRUE)) {
      val <- sub("^[^=]*=", "", a)
    } else if (key %in% c("child", "named")) {
      val <- "TRUE"
    } else {
      i <- i + 1L
      val <- if (i <= length(args)) args[[i]] else stop("--", key, " needs a value")
    }
    if (!key %in% names(opts)) stop("unknown option --", key, call. = FALSE)
    opts[[key]] <- switch(key,
      cases = , gctorture = , batch = , jobs = , case = , server_depth = , selftest_crash = as.integer(val),
      seed = as.numeric(val), timeout = as.numeric(val),
      child = , named = as.logical(val),
      val
    )
    i <- i + 1L
  }
  opts
}

probe_script_path <- function() {
  f <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  if (length(f)) normalizePath(sub("^--file=", "", f[[1L]])) else normalizePath("dev/boundary-probe.R")
}

# ---------------------------------------------------------------------------
# Text helpers

# Printable ASCII text of any string (its encoding mark ignored): non-ASCII
# characters as <U+XXXX>, bytes that are not UTF-8 as \xNN, tabs and newlines as
# spaces.
safe_text <- function(s, width = Inf) {
  if (is.null(s) || !length(s)) return("")
  s <- s[[1L]]
  if (is.na(s)) return("NA")
  out <- probe_ascii(s)
  out <- gsub("[\t\r\n]+", " ", out)
  out <- gsub("[[:cntrl:]]", "?", out)
  if (nchar(out) > width) out <- paste0(substr(out, 1L, width - 3L), "...")
  out
}

cnd_text <- function(e, width = 300) {
  msg <- tryCatch(conditionMessage(e), error = function(err) "<conditionMessage() failed>")
  safe_text(paste(msg, collapse = " / "), width)
}

# ---------------------------------------------------------------------------
# JSON: jsonlite's text, the package's text, the reference of the type rules,
# and the comparison.

jsonlite_text <- function(x, by_parts = TRUE) {
  res <- tryCatch(
    withCallingHandlers(
      list(ok = TRUE, text = as.character(jsonlite::toJSON(x,
        auto_unbox = TRUE, null = "null", na = "null", digits = NA
      ))),
      warning = function(w) invokeRestart("muffleWarning")
    ),
    error = function(e) list(ok = FALSE, msg = conditionMessage(e))
  )
  if (by_parts && !res$ok && grepl("C stack|too deeply|infinite recursion|protect\\(\\)", res$msg)) {
    parts <- jsonlite_by_parts(x)
    if (!is.null(parts)) return(list(ok = TRUE, text = parts, by_parts = TRUE))
  }
  res
}

# jsonlite's text for a plain list (no class, no attribute but good names)
# written from jsonlite's text of its elements: what jsonlite writes when its
# recursion does not run out of C stack. NULL when x is not such a list. Chains
# of one-element lists (deep nesting) are walked in a loop, not by recursion.
jsonlite_by_parts <- function(x) {
  plain <- function(x) {
    nm <- names(x)
    is.list(x) && !is.object(x) && all(names(attributes(x)) %in% "names") &&
      (is.null(nm) || !(anyNA(nm) || !all(nzchar(nm)) || anyDuplicated(nm)))
  }
  key <- function(k) as.character(jsonlite::toJSON(k, auto_unbox = TRUE))
  pre <- character()
  while (plain(x) && length(x) == 1L && !is.null(x[[1L]])) {
    pre <- c(pre, if (is.null(names(x))) "[" else paste0("{", key(names(x)), ":"))
    x <- x[[1L]]
  }
  post <- paste(rev(ifelse(startsWith(pre, "["), "]", "}")), collapse = "")
  pre <- paste(pre, collapse = "")
  if (!is.list(x)) {
    r <- jsonlite_text(x, by_parts = FALSE)
    return(if (isTRUE(r$ok)) paste0(pre, r$text, post) else NULL)
  }
  if (!plain(x)) return(NULL)
  parts <- character(length(x))
  for (i in seq_along(x)) {
    p <- if (is.null(x[[i]])) "null" else jsonlite_by_parts(x[[i]])
    if (is.null(p)) return(NULL)
    parts[i] <- p
  }
  inner <- if (is.null(names(x))) {
    paste0("[", paste(parts, collapse = ","), "]")
  } else if (!length(x)) {
    "{}"
  } else {
    paste0("{", paste0(vapply(names(x), key, ""), ":", parts, collapse = ","), "}")
  }
  paste0(pre, inner, post)
}

# The package's text for `json = x`: list(ok, text) or list(ok = FALSE, refused
# = TRUE, msg) for its refusal (an error list); an R error raised by the
# conversion itself is list(ok = FALSE, raised = condition).
package_text <- function(x, gct = FALSE) {
  if (gct) {
    gctorture(TRUE)
    on.exit(gctorture(FALSE))
  }
  res <- tryCatch(orthanc:::rs_to_json(x), error = function(e) e)
  gctorture(FALSE)
  if (inherits(res, "condition")) return(list(ok = FALSE, raised = res))
  if (is.list(res) && !is.null(res$error)) {
    return(list(ok = FALSE, refused = TRUE, kind = res$error, msg = res$message))
  }
  if (!is.character(res) || length(res) != 1L) {
    return(list(ok = FALSE, raised = simpleError(paste("rs_to_json() returned", typeof(res)))))
  }
  list(ok = TRUE, text = res)
}

# The JSON text that the type rules of ?Orthanc ("JSON and R") give for x, or
# an error (class "ref_refused") where they give none. Rules: NULL -> null; a
# list with names -> object (every name a non-empty string, none repeated),
# without -> array; logical, integer, double, character: length 1 -> scalar,
# otherwise (or with class AsIs) -> array; NA/NaN/Inf -> null; a factor
# (integer with class "factor") -> its levels (codes checked against them, an
# NA level -> null); a Date (double or integer) -> "YYYY-MM-DD" (NA -> null,
# years outside 1000-9999 refused); class "scalar" -> a scalar (length 1 only);
# any other class, an S4 object, a dim attribute, any other type: refused;
# strings that cannot be read as UTF-8 (bytes, marked UTF-8 but invalid)
# refused, native strings translated as R does (bytes that are not UTF-8 as
# "<e9>"); nested more than 100 levels refused.
ref_check <- function(x, refuse) {
  t <- typeof(x)
  if (t == "NULL") return(invisible())
  if (!t %in% c("list", "logical", "integer", "double", "character")) refuse(t)
  if (isS4(x)) refuse("S4")
  cls <- attr(x, "class", exact = TRUE)
  if (!is.null(cls)) {
    if (typeof(cls) != "character" || anyNA(cls)) refuse("class")
    own <- switch(t, character = "character", logical = "logical", integer = c("integer", "numeric"), double = "numeric", character())
    if (any(!cls %in% c("factor", "AsIs", "Date", "scalar", own))) refuse("class")
    if ("factor" %in% cls && t != "integer") refuse("factor type")
    if ("Date" %in% cls && (!t %in% c("integer", "double") || "factor" %in% cls)) refuse("Date type")
    if ("scalar" %in% cls && (length(unclass(x)) != 1L || t == "list")) refuse("scalar")
  }
  if (!is.null(attr(x, "dim", exact = TRUE))) refuse("dim")
  if (t == "list") {
    nm <- attr(x, "names", exact = TRUE)
    if (!is.null(nm)) {
      # A name that cannot be read as UTF-8 is refused before emptiness counts.
      for (k in nm[!is.na(nm)]) ref_string(k, refuse)
      if (anyNA(nm) || !all(nzchar(nm)) || anyDuplicated(enc2utf8(nm))) refuse("names")
    }
  }
  invisible()
}

ref_json <- function(x, depth = 0L) {
  refuse <- function(why) stop(structure(class = c("ref_refused", "error", "condition"), list(message = why, call = NULL)))
  # Chains of one-element lists (deep nesting) in a loop, not by recursion.
  pre <- character()
  while (typeof(x) == "list" && length(unclass(x)) == 1L) {
    if (depth > 100L) refuse("too deep")
    ref_check(x, refuse)
    nm <- attr(x, "names", exact = TRUE)
    pre <- c(pre, if (is.null(nm)) "[" else paste0("{", ref_string(nm, refuse), ":"))
    x <- .subset2(x, 1L)
    depth <- depth + 1L
  }
  if (length(pre)) {
    post <- paste(rev(ifelse(startsWith(pre, "["), "]", "}")), collapse = "")
    return(paste0(paste(pre, collapse = ""), ref_json(x, depth), post))
  }
  if (depth > 100L) refuse("too deep")
  ref_check(x, refuse)
  t <- typeof(x)
  if (t == "NULL") return("null")
  if (t == "list") {
    n <- length(unclass(x))
    parts <- vapply(seq_len(n), function(i) ref_json(.subset2(x, i), depth + 1L), "")
    nm <- attr(x, "names", exact = TRUE)
    if (is.null(nm)) return(paste0("[", paste(parts, collapse = ","), "]"))
    if (!n) return("{}")
    keys <- vapply(seq_along(nm), function(i) ref_string(nm[i], refuse), "")
    return(paste0("{", paste0(keys, ":", parts, collapse = ","), "}"))
  }
  asis <- inherits(x, "AsIs")
  factor <- inherits(x, "factor")
  date <- inherits(x, "Date")
  v <- unclass(x)
  attributes(v) <- NULL
  n <- length(v)
  vals <- if (factor) {
    lev <- attr(x, "levels", exact = TRUE)
    if (typeof(lev) != "character") refuse("levels")
    if (any(!is.na(v) & (v < 1L | v > length(lev)))) refuse("codes")
    vapply(v, function(code) if (is.na(code) || is.na(lev[[code]])) "null" else ref_string(lev[[code]], refuse), "")
  } else if (date) {
    vapply(as.double(v), function(d) {
      if (is.nan(d) || is.na(d)) return("null")
      if (!is.finite(d) || abs(d) >= 1e9) refuse("date range")
      txt <- format(as.Date(floor(d), origin = "1970-01-01"), "%Y-%m-%d")
      y <- as.integer(format(as.Date(floor(d), origin = "1970-01-01"), "%Y"))
      if (is.na(y) || y < 1000L || y > 9999L) refuse("date range")
      paste0('"', txt, '"')
    }, "")
  } else {
    switch(t,
      logical = ifelse(is.na(v), "null", ifelse(v, "true", "false")),
      integer = ifelse(is.na(v), "null", as.character(v)),
      double = ifelse(is.finite(v), sprintf("%.17g", v), "null"),
      character = vapply(v, function(s) if (is.na(s)) "null" else ref_string(s, refuse), "", USE.NAMES = FALSE)
    )
  }
  if (n == 1L && !asis) vals else paste0("[", paste(vals, collapse = ","), "]")
}

# A JSON string for one R string (refused when it cannot be read as UTF-8).
ref_string <- function(s, refuse, na_text = NULL) {
  if (is.na(s)) {
    if (is.null(na_text)) refuse("NA string")
    s <- na_text
  }
  enc <- Encoding(s)
  if (enc == "bytes") refuse("bytes")
  if (enc == "latin1") s <- enc2utf8(s)
  if (enc == "UTF-8" && !validUTF8(s)) refuse("invalid UTF-8")
  # A native string (no mark) that is not valid UTF-8: R's translation to UTF-8
  # writes each byte it cannot translate as "<e9>".
  if (!validUTF8(s)) s <- iconv(s, "", "UTF-8", sub = "byte")
  cps <- utf8ToInt(s)
  if (!length(cps)) return('""')
  bad <- cps < 32L | cps == 34L | cps == 92L
  if (!any(bad)) return(paste0('"', s, '"'))
  chars <- intToUtf8(cps, multiple = TRUE)
  chars[bad] <- sprintf("\\u%04x", cps[bad])
  paste0('"', paste(chars, collapse = ""), '"')
}

# A canonical text of a parsed JSON value (see the header: numbers to 15
# significant digits, -0 as 0; strings by their bytes).
canon <- function(v) {
  if (is.list(v) && length(v) == 1L) {
    # Chains of one-element arrays or objects in a loop, not by recursion.
    pre <- character()
    while (is.list(v) && length(v) == 1L) {
      pre <- c(pre, if (is.null(names(v))) "[" else paste0("{", canon_str(names(v)), ":"))
      v <- v[[1L]]
    }
    post <- paste(rev(ifelse(startsWith(pre, "["), "]", "}")), collapse = "")
    return(paste0(paste(pre, collapse = ""), canon(v), post))
  }
  if (is.null(v)) return("null")
  if (is.list(v)) {
    inner <- vapply(v, canon, "", USE.NAMES = FALSE)
    nm <- names(v)
    if (is.null(nm)) return(paste0("[", paste(inner, collapse = ","), "]"))
    if (!length(v)) return("{}")
    return(paste0("{", paste0(canon_str(nm), ":", inner, collapse = ","), "}"))
  }
  if (is.logical(v)) return(if (is.na(v)) "null" else if (v) "true" else "false")
  if (is.numeric(v)) {
    # A number that reads as infinite can only come from jsonlite rounding
    # .Machine$double.xmax up to 15 digits (1.79769313486232e+308): the same
    # number to 15 digits. (Neither writer writes Inf: both write null.)
    v <- as.double(v)
    if (is.infinite(v)) v <- sign(v) * .Machine$double.xmax
    return(sprintf("%.15g", v + 0))
  }
  canon_str(v)
}

canon_str <- function(s) {
  s <- enc2utf8(s)
  paste0("s", nchar(s, "bytes"), ":", s)
}

parse_json_safely <- function(txt) {
  tryCatch(list(ok = TRUE, value = jsonlite::parse_json(txt, simplifyVector = FALSE)),
    error = function(e) list(ok = FALSE, msg = conditionMessage(e))
  )
}

# The rules by which the package's JSON may differ from jsonlite's. `documented`:
# ?Orthanc ("JSON and R") states the rule in words; only those are accepted
# ("differs from jsonlite: <rule>"), the others are FAILs until the rule is
# documented (then set TRUE here) or the package writes what jsonlite writes.
# Since the JSON writer refuses what it does not write as jsonlite does, none is
# documented: each entry names, for the report, a difference the package once
# had, should it come back.
divergence_rules <- list(
  data_frame = list(documented = FALSE, text = "a data frame is written as an object of columns (named list), jsonlite writes an array of row objects"),
  matrix = list(documented = FALSE, text = "a matrix or array is written as one flat array in column order (its dim ignored), jsonlite writes nested arrays row by row"),
  dimnames_1d = list(documented = FALSE, text = "a 1-d list array with dimnames is written as an object keyed by its dimnames"),
  Date = list(documented = FALSE, text = "a Date is written as its number of days since 1970-01-01, jsonlite writes \"YYYY-MM-DD\""),
  POSIXct = list(documented = FALSE, text = "a POSIXct is written as its number of seconds since 1970-01-01, jsonlite writes \"YYYY-MM-DD hh:mm:ss\""),
  POSIXlt = list(documented = FALSE, text = "a POSIXlt is written as an object of its fields (sec, min, hour, ...), jsonlite writes \"YYYY-MM-DD hh:mm:ss\""),
  difftime = list(documented = FALSE, text = "a difftime is written as its number (jsonlite refuses it)"),
  names = list(documented = FALSE, text = "list names are keys as given: \"\" kept, NA written \"NA\", duplicates kept; jsonlite writes the position for an empty or NA name and de-duplicates (\"a.1\")"),
  factor_na_level = list(documented = FALSE, text = "a factor code pointing at an NA level is written \"NA\", jsonlite writes null"),
  factor_odd = list(documented = FALSE, text = "a factor with duplicated levels or a code that jsonlite's as.character() reads otherwise"),
  s3_class = list(documented = FALSE, text = "an S3 class that jsonlite has no method for (table, ts, myclass, ...) is ignored: the object is written by its type"),
  s4 = list(documented = FALSE, text = "an S4 object with a data part (numeric, character, list) is written as its data part; jsonlite refuses S4 objects"),
  scalar_class = list(documented = FALSE, text = "jsonlite's class \"scalar\" (unbox) is ignored: a length-1 vector is a scalar anyway, a longer one an array")
)

# The rule explaining the first place where the package's text and jsonlite's
# differ: x (the R object), a (package's parsed value), b (jsonlite's parsed
# value, or NULL when jsonlite refused x, jl_msg its message).
explain_divergence <- function(x, a, b, jl_failed = FALSE) {
  descend <- function(x) typeof(x) == "list" && !is.object(x) && is.null(dim(x))
  repeat {
    moved <- FALSE
    if (!jl_failed && descend(x) && is.list(a) && is.list(b) && length(a) == length(b) &&
          length(a) == length(x) && identical(names(a), names(b))) {
      for (i in seq_along(a)) {
        if (!identical(canon(a[[i]]), canon(b[[i]]))) {
          x <- .subset2(x, i)
          a <- a[[i]]
          b <- b[[i]]
          moved <- TRUE
          break
        }
      }
    } else if (jl_failed && descend(x)) {
      # jsonlite refused the whole object: find the part it refuses.
      for (i in seq_along(x)) {
        if (!isTRUE(jsonlite_text(.subset2(x, i))$ok)) {
          x <- .subset2(x, i)
          moved <- TRUE
          break
        }
      }
    }
    if (!moved) break
  }
  node_rule(x, a, b)
}

node_rule <- function(x, a, b) {
  if (is.data.frame(x)) return("data_frame")
  if (inherits(x, "POSIXlt")) return("POSIXlt")
  if (inherits(x, "Date")) return("Date")
  if (inherits(x, "POSIXct")) return("POSIXct")
  if (inherits(x, "difftime")) return("difftime")
  if (is.factor(x)) {
    lev <- levels(x)
    if (anyNA(lev)) return("factor_na_level")
    return("factor_odd")
  }
  if (length(dim(x)) >= 2L) return("matrix")
  if (length(dim(x)) == 1L && typeof(x) == "list" && !is.null(dimnames(x))) return("dimnames_1d")
  if (isS4(x)) return("s4")
  if (inherits(x, "scalar")) return("scalar_class")
  cls <- setdiff(class(x), c("AsIs", "list", "numeric", "integer", "character", "logical", "double"))
  if (length(attr(x, "class"))) {
    if (length(cls)) return("s3_class")
  }
  if (typeof(x) == "list") {
    nm <- attr(x, "names", exact = TRUE)
    if (!is.null(nm) && (anyNA(nm) || !all(nzchar(nm)) || anyDuplicated(nm))) return("names")
    if (length(dim(x)) >= 1L) return("matrix")
  }
  if (length(dim(x)) >= 1L) return("matrix")
  NA_character_
}

# Whether a character vector holds a string that cannot be read as UTF-8: in
# "bytes" encoding, or marked UTF-8 and not valid UTF-8. NA is fine, latin1 is
# translated. A string in the native encoding (no mark) is translated by R,
# which writes the bytes it cannot translate as "<e9>" (jsonlite does the same,
# through enc2utf8()): not counted here.
bad_string <- function(s) {
  s <- s[!is.na(s)]
  if (!length(s)) return(FALSE)
  enc <- Encoding(s)
  any(enc == "bytes") || any(enc == "UTF-8" & !validUTF8(s))
}

# Whether the package, writing x as JSON, reads a string that cannot be read as
# UTF-8: in a character vector, a list's names, or a level a factor code points
# at. (A walk with a stack: deep nesting needs no recursion.)
json_bad_strings <- function(x) {
  tryCatch(json_bad_strings_1(x), error = function(e) FALSE)
}

json_bad_strings_1 <- function(x) {
  stack <- list(x)
  while (length(stack)) {
    v <- stack[[length(stack)]]
    stack[length(stack)] <- NULL
    t <- typeof(v)
    if (t == "list") {
      nm <- attr(v, "names", exact = TRUE)
      if (!is.null(nm) && bad_string(nm)) return(TRUE)
      n <- length(unclass(v))
      if (n) stack <- c(stack, lapply(seq_len(n), function(i) .subset2(v, i)))
    } else if (t == "character") {
      if (bad_string(v)) return(TRUE)
    } else if (t == "integer" && inherits(v, "factor")) {
      lev <- attr(v, "levels", exact = TRUE)
      codes <- unclass(v)
      attributes(codes) <- NULL
      if (is.character(lev)) {
        codes <- codes[!is.na(codes) & codes >= 1L & codes <= length(lev)]
        if (bad_string(lev[codes])) return(TRUE)
      }
    }
  }
  FALSE
}

# The `json` channel: list(status, class, detail, pkg, jl).
probe_json <- function(x, gct = FALSE) {
  pkg <- package_text(x, gct)
  if (!is.null(pkg$raised)) {
    return(list(status = "FAIL", class = "unclassed", detail = paste0(
      "rs_to_json() raised ", paste(class(pkg$raised), collapse = "/"), ": ", cnd_text(pkg$raised)
    )))
  }
  if (!pkg$ok) {
    if (!identical(pkg$kind, "argument")) {
      return(list(status = "FAIL", class = "error kind", detail = paste0(
        "rs_to_json() refused with error kind ", safe_text(pkg$kind), " (not \"argument\")"
      )))
    }
    # (Any error of ref_json(): e.g. R's missing argument inside a list cannot
    # even be looked at by R code.)
    ref <- tryCatch(ref_json(x), error = function(e) NULL)
    if (!is.null(ref)) {
      return(list(status = "FAIL", class = "refused", detail = paste0(
        "refused although the type rules of ?Orthanc write it (", safe_text(ref, 80), "): ", safe_text(pkg$msg, 200)
      )))
    }
    return(list(status = "classed", class = "orthanc_argument_error", detail = safe_text(pkg$msg, 200), refused = TRUE))
  }
  if (json_bad_strings(x)) {
    return(list(status = "FAIL", class = "not UTF-8 accepted", detail = paste0(
      "wrote a string that cannot be read as UTF-8 (\"bytes\" or invalid) instead of refusing it: ", safe_text(pkg$text, 120)
    )))
  }
  parsed <- parse_json_safely(pkg$text)
  if (!parsed$ok) {
    return(list(status = "FAIL", class = "invalid JSON", detail = paste0(
      "the package wrote invalid JSON: ", safe_text(pkg$text, 120), " (", safe_text(parsed$msg, 80), ")"
    )))
  }
  jl <- jsonlite_text(x)
  jl_parsed <- if (isTRUE(jl$ok)) parse_json_safely(jl$text) else list(ok = FALSE)
  if (jl_parsed$ok && identical(canon(parsed$value), canon(jl_parsed$value))) {
    how <- if (identical(pkg$text, jl$text)) "identical text" else "same value"
    if (isTRUE(jl$by_parts)) how <- paste(how, "(jsonlite by parts)")
    return(list(status = "same", class = how, detail = ""))
  }
  # A difference: must follow the type rules of ?Orthanc, and be named by a rule.
  ref <- tryCatch(ref_json(x), error = function(e) NULL)
  ref_parsed <- if (!is.null(ref)) parse_json_safely(ref) else list(ok = FALSE)
  follows <- ref_parsed$ok && identical(canon(parsed$value), canon(ref_parsed$value))
  jl_what <- if (isTRUE(jl$ok)) safe_text(jl$text, 100) else paste0("<jsonlite error: ", safe_text(jl$msg, 80), ">")
  texts <- paste0("package ", safe_text(pkg$text, 100), " vs jsonlite ", jl_what)
  if (!follows) {
    return(list(status = "FAIL", class = "differs", detail = paste0(
      "differs from jsonlite and from the type rules of ?Orthanc (",
      if (is.null(ref)) "which refuse it" else paste0("which give ", safe_text(ref, 60)), "): ", texts
    )))
  }
  rule <- tryCatch(explain_divergence(x, parsed$value, if (jl_parsed$ok) jl_parsed$value, jl_failed = !jl_parsed$ok),
    error = function(e) NA_character_
  )
  if (is.na(rule)) {
    return(list(status = "FAIL", class = "differs", detail = paste0("differs from jsonlite, no rule explains it: ", texts)))
  }
  if (!isTRUE(divergence_rules[[rule]]$documented)) {
    return(list(status = "FAIL", class = paste0("undocumented:", rule), detail = texts))
  }
  list(status = "differs", class = rule, detail = texts)
}

# ---------------------------------------------------------------------------
# Request channels

probe_client <- function(live = TRUE) {
  url <- Sys.getenv("ORTHANC_TEST_URL")
  if (live && nzchar(url)) {
    user <- Sys.getenv("ORTHANC_TEST_USERNAME")
    pass <- Sys.getenv("ORTHANC_TEST_PASSWORD")
    orthanc::Orthanc$new(url, if (nzchar(user)) user, if (nzchar(pass)) pass, retries = 0, timeout = 30)
  } else {
    orthanc::Orthanc$new("http://127.0.0.1:9", retries = 0, timeout = 10)
  }
}

# How deeply lists nest in x (counted up to `cap`), walked with a stack.
list_depth <- function(x, cap = 1000L) {
  stack <- list(list(x, 0L))
  deepest <- 0L
  while (length(stack)) {
    top <- stack[[length(stack)]]
    stack[length(stack)] <- NULL
    v <- top[[1L]]
    d <- top[[2L]]
    deepest <- max(deepest, d)
    if (deepest >= cap) break
    if (typeof(v) == "list") {
      n <- length(unclass(v))
      if (n) stack <- c(stack, lapply(seq_len(n), function(i) list(.subset2(v, i), d + 1L)))
    }
  }
  deepest
}

# Run f(); list(status, class, detail). A value, or an HTTP/connection/timeout
# error, means the request was sent; orthanc_argument_error and other
# orthanc_error classes are "classed"; anything else is a FAIL.
probe_call <- function(f) {
  warned <- character()
  res <- tryCatch(
    withCallingHandlers(list(value = f()), warning = function(w) {
      warned <<- c(warned, paste(class(w)[1L], cnd_text(w, 80)))
      invokeRestart("muffleWarning")
    }),
    error = function(e) list(error = e)
  )
  out <- if (!is.null(res$error)) {
    cnd_outcome(res$error)
  } else {
    v <- res$value
    # A batch returns conditions as values.
    if (is.list(v) && length(v) == 1L && inherits(v[[1L]], "condition")) cnd_outcome(v[[1L]]) else list(status = "sent", class = "answer", detail = "")
  }
  if (length(warned)) out$warning <- paste(warned, collapse = "; ")
  out
}

sent_classes <- c("orthanc_http_error", "orthanc_connection_error", "orthanc_timeout_error")

cnd_outcome <- function(e) {
  cls <- class(e)
  if (!inherits(e, "orthanc_error")) {
    return(list(status = "FAIL", class = "unclassed", detail = paste0(
      "unclassed error ", paste(cls, collapse = "/"), ": ", cnd_text(e, 200)
    )))
  }
  sent <- intersect(sent_classes, cls)
  if (length(sent)) {
    return(list(status = "sent", class = if (inherits(e, "orthanc_http_error")) cls[1L] else sent[1L], detail = ""))
  }
  list(status = "classed", class = cls[1L], detail = cnd_text(e, 200))
}

# Call the Rust entry point directly (no R checks in front): the outcome of
# rs_perform() on a request value, under gctorture() when asked.
probe_rs_perform <- function(o, req, gct = FALSE) {
  handle <- o$.__enclos_env__$private$handle
  if (gct) {
    gctorture(TRUE)
    on.exit(gctorture(FALSE))
  }
  res <- tryCatch(orthanc:::rs_perform(handle, req), error = function(e) e)
  gctorture(FALSE)
  if (inherits(res, "condition")) {
    return(list(status = "FAIL", class = "unclassed", detail = paste0(
      "rs_perform() raised ", paste(class(res), collapse = "/"), ": ", cnd_text(res, 200)
    )))
  }
  if (!is.list(res)) {
    return(list(status = "FAIL", class = "bad answer", detail = paste("rs_perform() returned", typeof(res))))
  }
  if (is.character(res[[1L]])) {
    kind <- res[[1L]]
    if (kind %in% c("connection", "timeout", "tls")) return(list(status = "sent", class = kind, detail = ""))
    return(list(status = "classed", class = paste0("error list: ", safe_text(kind)), detail = safe_text(res$message, 200)))
  }
  list(status = "sent", class = "answer", detail = "")
}

rs_request <- function(path, encode, query = NULL, headers = NULL, cookies = NULL, body_kind = "none", body = NULL,
                       method = "GET") {
  list(
    method = method, path = path, encode = encode, query = query, headers = headers,
    cookies = cookies, body_kind = body_kind, body = body, dest = NULL
  )
}

# The channels of the property test: name -> function(o, x, name, gct).
channels <- list(
  json = function(o, x, name, gct) probe_json(x, gct),
  `json: post_tools_find()` = function(o, x, name, gct) probe_call(function() o$post_tools_find(json = x)),
  `json: POST()` = function(o, x, name, gct) probe_call(function() o$POST("/tools/lookup", json = x)),
  `json: batch()` = function(o, x, name, gct) probe_call(function() {
    o$batch(list(orthanc::orthanc_request("POST", "/tools/lookup", json = x)))
  }),
  `query: GET()` = function(o, x, name, gct) probe_call(function() o$GET("/system", params = stats::setNames(list(x), name))),
  `query: get_instances_id()` = function(o, x, name, gct) {
    probe_call(function() o$get_instances_id("boundary-probe", params = stats::setNames(list(x), name)))
  },
  header = function(o, x, name, gct) {
    hname <- if (identical(name, "p")) "X-Probe" else name
    probe_call(function() o$GET("/system", headers = stats::setNames(list(x), hname)))
  },
  cookie = function(o, x, name, gct) probe_call(function() o$GET("/system", cookies = stats::setNames(list(x), name))),
  `segment: get_instances_id()` = function(o, x, name, gct) probe_call(function() o$get_instances_id(x)),
  `route: GET()` = function(o, x, name, gct) probe_call(function() o$GET(x)),
  `segments: orthanc_request()` = function(o, x, name, gct) probe_call(function() {
    o$batch(list(orthanc::orthanc_request("GET", c("instances", x))))
  }),
  # The Rust entry point given x where R's checks would not let it through.
  `rs_perform: json` = function(o, x, name, gct) {
    probe_rs_perform(o, rs_request("/tools/lookup", FALSE, body_kind = "json", body = x, method = "POST"), gct)
  },
  `rs_perform: query` = function(o, x, name, gct) probe_rs_perform(o, rs_request("/system", FALSE, query = x), gct),
  `rs_perform: headers` = function(o, x, name, gct) {
    probe_rs_perform(o, rs_request("/system", FALSE, headers = stats::setNames(list(x), name)), gct)
  },
  `rs_perform: segments` = function(o, x, name, gct) {
    probe_rs_perform(o, rs_request(list("instances", id = x), TRUE), gct)
  },
  `rs_perform: path` = function(o, x, name, gct) probe_rs_perform(o, rs_request(x, FALSE), gct)
)

# Whether what a channel reads of (x, name) holds a string that cannot be read
# as UTF-8: such a request must be refused, never sent.
channel_bad_strings <- function(ch, x, name) {
  chr <- function(v) is.character(v) && bad_string(v)
  hname <- if (identical(name, "p")) "X-Probe" else name
  if (startsWith(ch, "json")) return(json_bad_strings(x))
  if (startsWith(ch, "query") || ch == "cookie") return(bad_string(name) || chr(x))
  if (ch == "header") return(bad_string(hname) || chr(x))
  if (ch %in% c("segment: get_instances_id()", "route: GET()", "segments: orthanc_request()")) return(chr(x))
  FALSE
}

# Under gctorture() only the Rust calls run (R code is GC-safe by construction
# and far too slow under torture).
gct_channels <- c("json", "rs_perform: json", "rs_perform: query", "rs_perform: headers", "rs_perform: segments",
                  "rs_perform: path")

# ---------------------------------------------------------------------------
# Named inputs (the ones of the issue)

named_inputs <- function() {
  bytes <- probe_mark("caf\xc3\xa9", "bytes")
  invalid <- probe_mark("\xff", "UTF-8")
  latin1 <- probe_mark("caf\xe9", "latin1")
  past <- structure(c(1L, 7L), levels = "a", class = "factor")
  json <- function(x) {
    force(x)
    function(o) list(json = x)
  }
  call <- function(f) {
    force(f)
    function(o) list(call = function() f(o))
  }
  rs <- function(req) {
    force(req)
    function(o) list(rs = req)
  }
  strings <- list(`"bytes" string` = bytes, `invalid UTF-8 string ("\\xff" marked UTF-8)` = invalid,
                  `latin1 string` = latin1)
  out <- list(
    `factor whose codes go past its levels, as JSON value` = json(past),
    `factor whose codes go past its levels, in json$Query$PatientName` = json(list(Query = list(PatientName = past))),
    `factor without levels, as JSON value` = json(structure(1:2, class = "factor")),
    `factor with numeric levels, as JSON value` = json(structure(1L, levels = 1.5, class = "factor")),
    `factor with the code 0, as JSON value` = json(structure(0L, levels = "a", class = "factor")),
    `factor with a negative code, as JSON value` = json(structure(-1L, levels = "a", class = "factor")),
    `factor with an NA level, as JSON value` = json(addNA(factor(c("a", NA)))[2L]),
    `factor with a level in "bytes" encoding, as JSON value` = json(structure(1L, levels = bytes, class = "factor"))
  )
  for (s in names(strings)) {
    more <- local({
      v <- strings[[s]]
      list(
      json(v), json(stats::setNames(list(1), v)), json(list(Query = list(PatientName = c("ok", v)))),
      call(function(o) o$get_instances_id(v)),
      call(function(o) o$GET(v)),
      call(function(o) o$GET("/system", params = list(p = v))),
      call(function(o) o$GET("/system", params = stats::setNames(list("v"), v))),
      call(function(o) o$get_instances_id("x", params = list(p = v))),
      call(function(o) o$GET("/system", params = stats::setNames(list(NA), v))),
      call(function(o) o$GET("/system", headers = list(`X-Probe` = v))),
      call(function(o) o$GET("/system", headers = stats::setNames(list("v"), v))),
      call(function(o) o$GET("/system", cookies = list(c = v))),
      call(function(o) o$GET("/system", cookies = stats::setNames(list("v"), v))),
      call(function(o) o$POST("/tools/lookup", data = v)),
      call(function(o) o$batch(list(orthanc::orthanc_request("POST", "/tools/lookup", json = v)))),
      call(function(o) o$batch(list(orthanc::orthanc_request("GET", c("instances", v))))),
      call(function(o) o$stream("GET", v)),
      call(function(o) orthanc::Orthanc$new(v)),
      call(function(o) orthanc::Orthanc$new(paste0("http://127.0.0.1:9/", v))),
      call(function(o) orthanc::Orthanc$new("http://127.0.0.1:9", username = v, password = "pw")),
      call(function(o) orthanc::Orthanc$new("http://127.0.0.1:9", username = "me", password = v)),
      call(function(o) orthanc::Orthanc$new("http://127.0.0.1:9", user_agent = v)),
      call(function(o) orthanc::Orthanc$new("https://127.0.0.1:9", ca_file = v)),
      rs(rs_request("/system", FALSE, query = stats::setNames(list("v"), v))),
      rs(rs_request(list("instances", id = v), TRUE)),
      rs(rs_request("/system", FALSE, cookies = list(c = v)))
      )
    })
    if (s != "latin1 string") {
      # Strings that cannot be read as UTF-8 must be refused wherever they go.
      more <- lapply(more, function(f) structure(f, expect = "refused"))
    }
    names(more) <- paste0(s, c(
      ", as JSON value", ", as JSON name", ", in json$Query$PatientName[2]",
      ", as route segment: o$get_instances_id(x)", ", as route: o$GET(x)",
      ", as query value", ", as query name", ", as query value of an endpoint method",
      ", as the name of an NA query value", ", as header value", ", as header name",
      ", as cookie value", ", as cookie name", ", as text body (data =)",
      ", as JSON value of a batch request", ", as route segment of a batch request",
      ", as route of o$stream()", ", as the URL of Orthanc$new()", ", in the URL path of Orthanc$new()",
      ", as username", ", as password", ", as user_agent", ", as ca_file",
      ", as query name given to rs_perform()", ", as route segment given to rs_perform()",
      ", as cookie value given to rs_perform()"
    ))
    out <- c(out, more)
  }
  # (file.path() refuses to build such a name: paste0() does not translate.)
  odd_file <- paste0(tempdir(), "/probe-\xff.dcm")
  out[["a file whose name is not valid UTF-8, given to upload()"]] <- call(function(o) {
    writeBin(as.raw(1:10), odd_file)
    on.exit(unlink(odd_file))
    orthanc::upload(o, odd_file, check_before_upload = TRUE)
  })
  out[["a file whose name is not valid UTF-8, as file = body"]] <- call(function(o) {
    writeBin(as.raw(1:10), odd_file)
    on.exit(unlink(odd_file))
    o$POST("/tools/lookup", file = odd_file)
  })
  out
}

# One named input: list(status, class, detail). An input that must be refused
# (attribute "expect") and is sent is a FAIL.
run_named <- function(o, spec) {
  r <- run_named_1(o, spec)
  if (identical(attr(spec, "expect"), "refused") && r$status %in% c("sent", "same", "differs")) {
    r <- list(status = "FAIL", class = "not UTF-8 accepted", detail = paste0(
      "a string that cannot be read as UTF-8 was accepted (", r$status, ": ", r$class, ") instead of refused"
    ))
  }
  r
}

run_named_1 <- function(o, spec) {
  what <- spec(o)
  if (!is.null(what$json)) {
    x <- what$json
    j <- probe_json(x)
    api <- probe_call(function() o$post_tools_find(json = x))
    if (j$status == "classed") {
      # The refusal the user sees is the request path's: check and show it.
      if (api$status != "classed") {
        return(list(status = "FAIL", class = "inconsistent", detail = paste(
          "rs_to_json() refuses it but post_tools_find() gave", api$status, api$class, api$detail
        )))
      }
      return(api)
    }
    if (j$status %in% c("same", "differs") && api$status != "sent") {
      return(list(status = "FAIL", class = "inconsistent", detail = paste(
        "rs_to_json() writes it but post_tools_find() gave", api$status, api$class, api$detail
      )))
    }
    if (api$status == "FAIL") return(api)
    return(j)
  }
  if (!is.null(what$rs)) return(probe_rs_perform(o, what$rs))
  probe_call(what$call)
}

# ---------------------------------------------------------------------------
# Child: run cases, one line per channel and case, then DONE.

child_main <- function(opts) {
  if (!is.null(opts$lib)) .libPaths(c(opts$lib, .libPaths()))
  options(expressions = 50000, warn = 1, orthanc.progress = FALSE)
  suppressPackageStartupMessages(loadNamespace("orthanc"))
  o_live <- probe_client()
  # Orthanc's JSON parser overflows the stack of its HTTP thread on bodies nested
  # ~200 deep (1.10.1 and 1.12.7 die with a segfault): deeper inputs go to a
  # closed port, never to a live server.
  o_closed <- if (nzchar(Sys.getenv("ORTHANC_TEST_URL"))) probe_client(live = FALSE) else o_live
  out <- opts$out
  emit <- function(...) cat(paste(..., sep = "\t"), "\n", file = out, append = TRUE, sep = "")
  ids <- as.integer(strsplit(opts$ids, ",", fixed = TRUE)[[1L]])
  gct_ids <- as.integer(strsplit(opts$gct_ids, ",", fixed = TRUE)[[1L]])
  if (isTRUE(opts$named)) {
    specs <- named_inputs()
    for (id in ids) {
      r <- tryCatch(run_named(o_live, specs[[id]]), error = function(e) list(
        status = "FAIL", class = "probe error", detail = paste("the probe itself failed:", cnd_text(e))
      ))
      emit("N", id, "named", safe_text(names(specs)[id]), r$status, safe_text(r$class), safe_text(r$detail, 400), "")
    }
  } else {
    for (id in ids) {
      # --selftest-crash ID: this child kills itself (SIGSEGV) at case ID, to
      # check that a dead child is seen and its cases re-run alone.
      if (identical(id, opts$selftest_crash)) tools::pskill(Sys.getpid(), 11L)
      cs <- probe_case(id, opts$seed)
      gct <- id %in% gct_ids && isTRUE(cs$small)
      o <- if (tryCatch(list_depth(cs$x, opts$server_depth + 1L), error = function(e) Inf) > opts$server_depth) o_closed else o_live
      desc <- NULL
      json_refused <- NA
      for (ch in names(channels)) {
        r <- tryCatch(channels[[ch]](o, cs$x, cs$name, FALSE), error = function(e) list(
          status = "FAIL", class = "probe error", detail = paste("the probe itself failed:", cnd_text(e))
        ))
        if (ch == "json") {
          json_refused <- if (isTRUE(r$refused) || identical(r$class, "refused")) TRUE else if (r$class %in% c("unclassed", "error kind", "probe error")) NA else FALSE
        } else if (startsWith(ch, "json") && !is.na(json_refused) && r$status %in% c("sent", "classed") &&
                     (r$status == "sent") == json_refused) {
          # The request paths must convert as rs_to_json() does.
          r <- list(status = "FAIL", class = "inconsistent", detail = paste0(
            "rs_to_json() ", if (json_refused) "refuses" else "writes", " it but this path ",
            if (json_refused) "sent it" else paste("refused it:", r$class, r$detail)
          ))
        }
        if (r$status == "sent" && channel_bad_strings(ch, cs$x, cs$name)) {
          r <- list(status = "FAIL", class = "not UTF-8 sent", detail = paste0(
            "sent (", r$class, ") a value or name holding a string that cannot be read as UTF-8, instead of refusing it"
          ))
        }
        if (r$status %in% c("FAIL", "differs") && is.null(desc)) desc <- probe_describe(cs$x)
        emit("R", id, cs$kind, ch, r$status, safe_text(r$class), safe_text(r$detail, 400),
             if (r$status %in% c("FAIL", "differs")) safe_text(desc) else "", safe_text(cs$name_kind),
             safe_text(r$warning %||% ""))
      }
      if (gct) {
        for (ch in gct_channels) {
          r <- channels[[ch]](o, cs$x, cs$name, TRUE)
          if (r$status == "FAIL" && is.null(desc)) desc <- probe_describe(cs$x)
          emit("R", id, cs$kind, paste0(ch, " [gctorture]"), r$status, safe_text(r$class),
               safe_text(r$detail, 400), if (r$status == "FAIL") safe_text(desc) else "", safe_text(cs$name_kind), "")
        }
      }
    }
  }
  cat("DONE\n", file = out, append = TRUE)
}

`%||%` <- function(a, b) if (is.null(a)) b else a

# ---------------------------------------------------------------------------
# Parent: run batches in children, re-run the cases of a dead batch alone.

rscript <- function() file.path(R.home("bin"), if (.Platform$OS.type == "windows") "Rscript.exe" else "Rscript")

start_child <- function(opts, ids, gct_ids, named, dir) {
  tag <- paste0(if (named) "named-" else "cases-", ids[1L], "-", length(ids), "-", sample.int(1e9, 1L))
  out <- file.path(dir, paste0(tag, ".tsv"))
  err <- file.path(dir, paste0(tag, ".err"))
  file.create(out)
  args <- c(probe_script_path(), "--child", "--seed", format(opts$seed, scientific = FALSE),
            "--server_depth", opts$server_depth,
            if (!is.na(opts$selftest_crash)) c("--selftest_crash", opts$selftest_crash),
            "--ids", paste(ids, collapse = ","), "--out", out,
            "--gct_ids", paste(intersect(gct_ids, ids), collapse = ","))
  if (named) args <- c(args, "--named")
  if (!is.null(opts$lib)) args <- c(args, "--lib", opts$lib)
  p <- processx::process$new(rscript(), args, stdout = err, stderr = "2>&1", cleanup = TRUE)
  list(p = p, ids = ids, named = named, out = out, err = err, start = Sys.time())
}

finish_child <- function(ch, timed_out = FALSE) {
  status <- if (timed_out) NA_integer_ else ch$p$get_exit_status()
  lines <- readLines(ch$out, warn = FALSE)
  done <- identical(utils::tail(lines, 1L), "DONE")
  err <- if (file.exists(ch$err)) readLines(ch$err, warn = FALSE) else character()
  list(ok = !timed_out && identical(status, 0L) && done, status = status, timed_out = timed_out,
       lines = grep("^[RN]\t", lines, value = TRUE), err = err)
}

# Run batches (a list of id vectors) with at most `jobs` children at once.
# Returns list(lines, deaths): lines of the batches that finished, and one entry
# per dead batch.
run_batches <- function(opts, batches, gct_ids, named, dir, timeout) {
  pending <- batches
  running <- list()
  lines <- character()
  deaths <- list()
  while (length(pending) || length(running)) {
    while (length(pending) && length(running) < opts$jobs) {
      running[[length(running) + 1L]] <- start_child(opts, pending[[1L]], gct_ids, named, dir)
      pending <- pending[-1L]
    }
    Sys.sleep(0.05)
    keep <- logical(length(running))
    for (i in seq_along(running)) {
      ch <- running[[i]]
      alive <- ch$p$is_alive()
      late <- alive && as.numeric(difftime(Sys.time(), ch$start, units = "secs")) > timeout
      if (late) {
        ch$p$kill_tree()
      }
      if (alive && !late) {
        keep[i] <- TRUE
        next
      }
      if (!late) ch$p$wait()
      res <- finish_child(ch, timed_out = late)
      if (res$ok) {
        lines <- c(lines, res$lines)
      } else {
        deaths[[length(deaths) + 1L]] <- c(res, list(ids = ch$ids))
      }
    }
    running <- running[keep]
  }
  list(lines = lines, deaths = deaths)
}

death_text <- function(d) {
  how <- if (isTRUE(d$timed_out)) {
    "hung (killed after the time limit)"
  } else if (!is.na(d$status) && d$status < 0L) {
    paste0("killed by signal ", -d$status)
  } else {
    paste0("exit status ", d$status)
  }
  tail_err <- utils::tail(grep("\\S", d$err, value = TRUE), 4L)
  paste0("the R process died (", how, ")", if (length(tail_err)) paste0(": ", safe_text(paste(tail_err, collapse = " | "), 300)))
}

# Run batches; the ids of a batch that died are run again, each alone. Returns
# result lines, with a FAIL line for each case that dies alone and for a batch
# whose death no single case reproduces.
run_all <- function(opts, ids, batch, gct_ids, named, dir) {
  batches <- split(ids, ceiling(seq_along(ids) / batch))
  # Time limit of a child: opts$timeout, plus 2 s a case (20 under gctorture).
  limit <- function(n) opts$timeout + n * if (length(gct_ids)) 20 else 2
  first <- run_batches(opts, unname(batches), gct_ids, named, dir, limit(batch))
  lines <- first$lines
  for (d in first$deaths) {
    cat(sprintf("  a child died (%s) running %d case(s) %s: re-running each alone\n",
                death_text(d), length(d$ids), paste(range(d$ids), collapse = "..")))
    again <- run_batches(opts, as.list(d$ids), gct_ids, named, dir, limit(1L))
    lines <- c(lines, again$lines)
    for (dd in again$deaths) {
      kind <- if (named) "named" else probe_kinds[(dd$ids - 1L) %% length(probe_kinds) + 1L]
      desc <- if (named) "" else tryCatch(safe_text(probe_describe(probe_case(dd$ids, opts$seed)$x)), error = function(e) "")
      lines <- c(lines, paste(if (named) "N" else "R", dd$ids, kind, "process", "FAIL", "died",
                              safe_text(death_text(dd), 400), desc, "", "", sep = "\t"))
    }
    if (!length(again$deaths) && length(d$ids) > 1L) {
      lines <- c(lines, paste(if (named) "N" else "R", d$ids[1L], if (named) "named" else "?", "process", "FAIL",
                              "batch died", safe_text(paste0("the batch of cases ", paste(d$ids, collapse = ","),
                                " died (", death_text(d), ") but no case dies alone"), 400), "", "", "", sep = "\t"))
    }
  }
  lines
}

read_lines_table <- function(lines) {
  if (!length(lines)) {
    return(data.frame(tag = character(), id = integer(), kind = character(), channel = character(),
                      status = character(), class = character(), detail = character(), desc = character(),
                      name_kind = character(), warning = character()))
  }
  parts <- strsplit(lines, "\t", fixed = TRUE)
  parts <- lapply(parts, function(p) c(p, rep("", max(0L, 10L - length(p))))[1:10])
  m <- do.call(rbind, parts)
  data.frame(tag = m[, 1], id = as.integer(m[, 2]), kind = m[, 3], channel = m[, 4], status = m[, 5],
             class = m[, 6], detail = m[, 7], desc = m[, 8], name_kind = m[, 9], warning = m[, 10],
             stringsAsFactors = FALSE)
}

# ---------------------------------------------------------------------------
# Report

print_table <- function(m, title) {
  cat("\n", title, "\n", sep = "")
  m <- cbind(rownames(m), m)
  colnames(m)[1L] <- ""
  w <- pmax(nchar(colnames(m)), apply(m, 2L, function(col) max(nchar(col))))
  fmt <- function(row) paste(formatC(row, width = w, flag = "-"), collapse = "  ")
  fmt <- function(row) paste(vapply(seq_along(row), function(i) formatC(row[[i]], width = w[[i]], flag = "-"), ""), collapse = "  ")
  cat("  ", fmt(colnames(m)), "\n", sep = "")
  for (i in seq_len(nrow(m))) cat("  ", fmt(m[i, ]), "\n", sep = "")
}

case_outcomes <- function(res) {
  # Per case: FAIL if any channel fails, else the json channel's status.
  by_case <- split(res, res$id)
  out <- vapply(by_case, function(r) {
    if (any(r$status == "FAIL")) return("FAIL")
    j <- r$status[r$channel == "json"]
    if (!length(j)) return("FAIL")
    j[[1L]]
  }, "")
  kinds <- vapply(by_case, function(r) r$kind[r$kind != "?"][1L] %||% "?", "")
  data.frame(id = as.integer(names(by_case)), kind = kinds, outcome = out, stringsAsFactors = FALSE)
}

report <- function(named_res, res, opts, n_cases, elapsed, specs_names) {
  fails <- 0L
  cat("\nNamed inputs (", nrow(named_res), "):\n", sep = "")
  for (i in seq_len(nrow(named_res))) {
    r <- named_res[i, ]
    line <- switch(r$status,
      same = "same as jsonlite",
      differs = paste0("differs from jsonlite: ", divergence_rules[[r$class]]$text),
      sent = if (r$class == "answer") "accepted (returned a value)" else paste0("accepted (sent: ", r$class, ")"),
      classed = paste0(r$class, " -- ", r$detail),
      paste0("FAIL: ", r$class, ": ", r$detail)
    )
    if (r$status == "FAIL") {
      fails <- fails + 1L
      cat("FAIL: ", r$channel, ": ", r$class, ": ", r$detail, "\n", sep = "")
    } else {
      cat(r$channel, ": ", line, "\n", sep = "")
    }
  }

  cat("\nProperty test: ", n_cases, " cases, seed ", format(opts$seed, scientific = FALSE),
      " (", length(unique(res$id[grepl("gctorture", res$channel)])), " with the Rust calls under gctorture)\n", sep = "")
  co <- case_outcomes(res)
  co$kind <- factor(co$kind, levels = unique(c(probe_kinds, co$kind)))
  tab <- table(co$kind, factor(co$outcome, levels = c("same", "differs", "classed", "FAIL")))
  tab <- tab[rowSums(tab) > 0, , drop = FALSE]
  m <- unclass(tab)
  m <- cbind(m, total = rowSums(m))
  colnames(m)[1:4] <- c("same as jsonlite", "differs (documented)", "classed error", "FAIL")
  print_table(matrix(as.character(m), nrow(m), dimnames = dimnames(m)), "Outcome per kind of input (json channel; FAIL if any channel fails):")

  # Classes per channel.
  cat("\nOutcome per channel (status: class = count):\n")
  for (ch in unique(res$channel)) {
    r <- res[res$channel == ch, ]
    t <- sort(table(paste0(r$status, ": ", r$class)), decreasing = TRUE)
    cat("  ", ch, ": ", paste0(names(t), " = ", t, collapse = ", "), "\n", sep = "")
  }
  # Classes of the refusals per kind (json channel).
  j <- res[res$channel == "json" & res$status == "classed", ]
  if (nrow(j)) {
    tt <- table(j$kind, j$class)
    print_table(matrix(as.character(unclass(tt)), nrow(tt), dimnames = dimnames(tt)),
                "Classed errors of the json channel per kind:")
  }
  w <- res[nzchar(res$warning), ]
  if (nrow(w)) {
    cat("\nWarnings raised by the package (not failures): ", nrow(w), "\n", sep = "")
    t <- sort(table(paste(w$channel, w$warning, sep = ": ")), decreasing = TRUE)
    for (k in utils::head(names(t), 10L)) cat("  ", t[[k]], " x ", k, "\n", sep = "")
  }

  # Divergences from jsonlite, by rule, with examples.
  dv <- res[res$channel == "json" & (res$status == "differs" | grepl("^undocumented:", res$class)), ]
  if (nrow(dv)) {
    cat("\nDivergences from jsonlite, by rule:\n")
    dv$rule <- sub("^undocumented:", "", dv$class)
    for (rule in unique(dv$rule)) {
      r <- dv[dv$rule == rule, ]
      doc <- isTRUE(divergence_rules[[rule]]$documented)
      cat(sprintf("  %s: %s (%d cases) -- %s\n", if (doc) "differs from jsonlite" else "FAIL: differs from jsonlite (undocumented)",
                  rule, nrow(r), divergence_rules[[rule]]$text))
      for (k in utils::head(seq_len(nrow(r)), 3L)) {
        cat(sprintf("      case %d (%s): %s\n        %s\n", r$id[k], r$kind[k], r$desc[k], r$detail[k]))
      }
    }
  }

  f <- res[res$status == "FAIL" & !grepl("^undocumented:", res$class), ]
  if (nrow(f)) {
    cat("\nFAILs (other than undocumented divergences):\n")
    f$key <- paste(f$channel, f$class, sub("[0-9]+", "#", substr(f$detail, 1L, 60L)))
    for (key in unique(f$key)) {
      r <- f[f$key == key, ]
      cat(sprintf("  FAIL: %s: %s (%d cases, e.g. case %s)\n", r$channel[1L], r$class[1L], nrow(r),
                  paste(utils::head(unique(r$id), 5L), collapse = ", ")))
      cat(sprintf("      %s\n      input: %s\n", r$detail[1L], r$desc[1L]))
    }
    cat(sprintf("  Reproduce one: Rscript dev/boundary-probe.R --case ID --seed %s%s\n",
                format(opts$seed, scientific = FALSE), if (!is.null(opts$lib)) paste(" --lib", opts$lib) else ""))
  }

  counts <- table(factor(co$outcome, levels = c("same", "differs", "classed", "FAIL")))
  fails <- fails + counts[["FAIL"]]
  cat(sprintf("\nElapsed: %.1f s (%d named inputs, %d cases, %d channels each, %d jobs)\n",
              elapsed, nrow(named_res), n_cases, length(channels), opts$jobs))
  cat(sprintf("boundary probe: %d cases, %d same as jsonlite, %d classed errors, %d differ by documented rule, %d FAIL\n",
              n_cases + nrow(named_res),
              counts[["same"]] + sum(named_res$status == "same"),
              counts[["classed"]] + sum(named_res$status == "classed"),
              counts[["differs"]] + sum(named_res$status == "differs"),
              fails))
  fails
}

# One case, in this process, verbosely.
one_case <- function(opts) {
  if (!is.null(opts$lib)) .libPaths(c(opts$lib, .libPaths()))
  options(expressions = 50000)
  suppressPackageStartupMessages(loadNamespace("orthanc"))
  cs <- probe_case(opts$case, opts$seed)
  o <- probe_client(live = list_depth(cs$x, opts$server_depth + 1L) <= opts$server_depth)
  cat("case ", opts$case, " (seed ", format(opts$seed, scientific = FALSE), "), kind ", cs$kind,
      ", name kind ", cs$name_kind, "\n", sep = "")
  cat("  source(\"dev/boundary-cases.R\"); x <- probe_case(", opts$case, ", ", format(opts$seed, scientific = FALSE), ")$x\n", sep = "")
  cat("  x: ", probe_describe(cs$x, 300), "\n", sep = "")
  pkg <- package_text(cs$x)
  cat("  rs_to_json(x): ", if (pkg$ok) safe_text(pkg$text, 400) else if (!is.null(pkg$raised)) paste("raised", cnd_text(pkg$raised)) else paste("refused:", safe_text(pkg$msg)), "\n", sep = "")
  jl <- jsonlite_text(cs$x)
  cat("  jsonlite:      ", if (isTRUE(jl$ok)) safe_text(jl$text, 400) else paste("error:", safe_text(jl$msg)), "\n", sep = "")
  ref <- tryCatch(ref_json(cs$x), ref_refused = function(e) paste("<refused:", conditionMessage(e), ">"))
  cat("  type rules:    ", safe_text(ref, 400), "\n", sep = "")
  for (ch in names(channels)) {
    r <- channels[[ch]](o, cs$x, cs$name, FALSE)
    cat(sprintf("  %-28s %s %s %s\n", ch, r$status, safe_text(r$class), safe_text(r$detail, 300)))
  }
}

main <- function() {
  opts <- probe_args()
  here <- dirname(probe_script_path())
  source(file.path(here, "boundary-cases.R"), local = globalenv())
  if (isTRUE(opts$child)) return(invisible(child_main(opts)))
  if (is.na(opts$seed)) opts$seed <- sample.int(1e6, 1L)
  if (!is.na(opts$case)) return(invisible(one_case(opts)))
  if (!is.null(opts$lib)) {
    opts$lib <- normalizePath(opts$lib)
    .libPaths(c(opts$lib, .libPaths()))
  }
  for (p in c("orthanc", "jsonlite", "processx")) {
    if (!requireNamespace(p, quietly = TRUE)) stop("the package ", p, " is needed", call. = FALSE)
  }
  target <- if (nzchar(Sys.getenv("ORTHANC_TEST_URL"))) Sys.getenv("ORTHANC_TEST_URL") else "http://127.0.0.1:9 (closed port)"
  cat("orthanc ", format(utils::packageVersion("orthanc")), " from ", dirname(find.package("orthanc")),
      "; R ", format(getRversion()), "; jsonlite ", format(utils::packageVersion("jsonlite")), "\n", sep = "")
  cat("server: ", target, "; seed ", format(opts$seed, scientific = FALSE), "\n", sep = "")
  t0 <- Sys.time()
  dir <- tempfile("boundary-probe-")
  dir.create(dir)
  on.exit(unlink(dir, recursive = TRUE), add = TRUE)

  specs <- names(named_inputs())
  nl <- run_all(opts, seq_along(specs), length(specs), integer(), TRUE, dir)
  named_res <- read_lines_table(nl)
  named_res$channel <- ifelse(named_res$channel == "process", specs[named_res$id], named_res$channel)
  named_res <- named_res[order(named_res$id), ]

  ids <- seq_len(opts$cases)
  set.seed(opts$seed)
  gct_ids <- if (opts$gctorture > 0L) sort(sample(ids, min(opts$gctorture, length(ids)))) else integer()
  plain <- setdiff(ids, gct_ids)
  lines <- c(
    run_all(opts, plain, opts$batch, integer(), FALSE, dir),
    if (length(gct_ids)) run_all(opts, gct_ids, max(1L, opts$batch %/% 15L), gct_ids, FALSE, dir)
  )
  res <- read_lines_table(lines)
  if (!is.null(opts$out)) {
    utils::write.table(res, opts$out, sep = "\t", quote = FALSE, row.names = FALSE)
    cat("results of every channel and case written to ", opts$out, "\n", sep = "")
  }
  elapsed <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
  fails <- report(named_res, res, opts, length(ids), elapsed, specs)
  if (fails > 0L) quit(status = 1L)
}

if (sys.nframe() == 0L) main()
