# JSON -> R must be identical() to jsonlite::fromJSON(simplifyVector = FALSE);
# R -> JSON follows the rules documented in ?Orthanc.

from_json <- function(x) orthanc:::rs_from_json(x)
to_json <- function(x) {
  out <- orthanc:::rs_to_json(x)
  if (is.list(out)) stop(out$message)
  out
}

test_that("a corpus of real Orthanc answers converts exactly like jsonlite", {
  skip_if_not_installed("jsonlite")
  files <- list.files(fixture("json"), pattern = "\\.json$", full.names = TRUE)
  expect_gte(length(files), 20L)
  for (f in files) {
    txt <- readChar(f, file.size(f), useBytes = TRUE)
    Encoding(txt) <- "UTF-8"
    expect_identical(from_json(txt), jsonlite::fromJSON(txt, simplifyVector = FALSE), label = basename(f))
    # Bytes and text give the same result.
    expect_identical(from_json(readBin(f, "raw", file.size(f))), from_json(txt), label = basename(f))
  }
})

test_that("scalars, nesting and edge values convert exactly like jsonlite", {
  skip_if_not_installed("jsonlite")
  cases <- c(
    "1", "-1", "0", "2147483647", "-2147483647", "-2147483648", "2147483648",
    "1e3", "1.5", "-0.0", "123456789012345678", "1.7976931348623157e308", "5e-324",
    "true", "false", "null", "\"\"", "\"caf\\u00e9 \\ud83d\\ude00\"", "\"a\\nb\\t\\\"c\\\\\"",
    "[]", "{}", "[[]]", "[{}]", "{\"a\":{}}", "[1, \"a\", null, true, 2.5, [1], {\"x\": null}]",
    "{\"a\": 1, \"a\": 2}", "{\"\": 1}", "{\"b\": [null, null]}",
    paste0("[", paste(seq_len(5000), collapse = ","), "]"),
    paste0(strrep("[", 100), strrep("]", 100))
  )
  for (txt in cases) {
    expect_identical(from_json(txt), jsonlite::fromJSON(txt, simplifyVector = FALSE), label = txt)
  }
  expect_identical(from_json("\"\u00e9\""), "\u00e9")
  expect_identical(Encoding(from_json("\"\u00e9\"")), "UTF-8")
})

test_that("strings and names shared within an answer are copied on modify, never changed in place", {
  skip_if_not_installed("jsonlite")
  # Equal strings of one answer are one character(1), and objects with the same keys share
  # one names vector: modifying one element must leave the others as they were.
  txt <- paste0("[", paste(rep('{"Type":"Instance","IsStable":true,"Tags":{"A":"x","B":"y"}}', 3), collapse = ","), "]")
  expected <- jsonlite::fromJSON(txt, simplifyVector = FALSE)
  x <- from_json(txt)
  expect_identical(x, expected)
  x[[1]]$Type[1] <- "Series"
  x[[1]]$Tags$A[1] <- "changed"
  x[[1]]$IsStable[1] <- FALSE
  names(x[[1]]$Tags)[1] <- "Z"
  names(x[[2]])[1] <- "Kind"
  attr(x[[3]]$Tags$B, "note") <- "set"
  expect_identical(x[[1]], list(Type = "Series", IsStable = FALSE, Tags = list(Z = "changed", B = "y")))
  expect_identical(names(x[[2]]), c("Kind", "IsStable", "Tags"))
  expect_identical(x[[2]]$Tags, list(A = "x", B = "y"))
  expect_identical(x[[3]][c("Type", "IsStable")], list(Type = "Instance", IsStable = TRUE))
  expect_identical(x[[3]]$Tags$A, "x")
  expect_identical(attr(x[[3]]$Tags$B, "note"), "set")
  expect_null(attr(x[[2]]$Tags$B, "note"))
  # A value taken out and modified, in a function too, leaves the answer unchanged.
  y <- from_json(txt)
  s <- y[[1]]$Tags$B
  s[1] <- "other"
  f <- function(l) {
    l$Tags$B[1] <- "in f"
    names(l$Tags)[2] <- "F"
    l
  }
  z <- f(y[[2]])
  expect_identical(z$Tags, list(A = "x", F = "in f"))
  expect_identical(y, expected)
  # TRUE and FALSE are R's own shared values.
  y[[1]]$IsStable[1] <- NA
  expect_identical(y[[2]]$IsStable, TRUE)
  expect_identical(c(TRUE, FALSE), !c(FALSE, TRUE))
  # Each call makes its own objects.
  expect_identical(from_json(txt), expected)
})

test_that("invalid or hostile JSON is an error, never a crash", {
  bad <- list(
    "{", "[1,]", "nul", "{\"a\" 1}", "\"\\u0000\"", "1e400", "[1] x",
    strrep("[", 100000), charToRaw("\"\xff\"")
  )
  for (b in bad) {
    res <- from_json(b)
    expect_true(is.list(res) && identical(res$error, "decode"), label = if (is.character(b)) substr(b, 1, 20) else "raw")
  }
})

test_that("R objects are written as JSON by the documented rules", {
  expect_equal(to_json(list(a = 1, b = "x", c = TRUE, d = NULL, e = NA)), '{"a":1,"b":"x","c":true,"d":null,"e":null}')
  expect_equal(to_json(list(1L, 2.5, c("a", "b"))), '[1,2.5,["a","b"]]')
  expect_equal(to_json(c(1, 2, 3)), "[1,2,3]")
  expect_equal(to_json(I("x")), '["x"]')
  expect_equal(to_json(I(1:2)), "[1,2]")
  expect_equal(to_json(structure(list(), names = character())), "{}")
  expect_equal(to_json(list()), "[]")
  expect_equal(to_json(NULL), "null")
  expect_equal(to_json(NA), "null")
  expect_equal(to_json(c(NA, Inf, 1e300, 0.1)), "[null,null,1e+300,0.1]")
  expect_equal(to_json(factor("lvl")), '"lvl"')
  expect_equal(to_json("quote\" \\ \n \u00e9"), '"quote\\" \\\\ \\n \u00e9"')
  expect_equal(to_json(list(Tags = list(PatientName = "M\u00fcller"))), '{"Tags":{"PatientName":"M\u00fcller"}}')
  # Round trip through the parser.
  x <- list(a = list(1L, "b", TRUE), n = NULL, o = structure(list(), names = character()))
  expect_identical(from_json(to_json(x)), x)
  for (bad in list(function() 1, new.env(), as.raw(1), quote(x), 1i, list(a = list(b = mean)))) {
    res <- orthanc:::rs_to_json(bad)
    expect_true(is.list(res) && identical(res$error, "argument"))
  }
  expect_match(orthanc:::rs_to_json(list(a = list(b = mean)))$message, "`json$a$b` is a function", fixed = TRUE)
  # Factors whose codes or levels are not what a factor holds are refused, not read:
  # a code past the levels once read outside them (and crashed R).
  past <- structure(c(1L, 7L), levels = "a", class = "factor")
  expect_match(orthanc:::rs_to_json(list(PatientName = past))$message, "`json$PatientName[2]` is a factor code (7) outside its 1 levels", fixed = TRUE)
  expect_match(orthanc:::rs_to_json(structure(0L, levels = "a", class = "factor"))$message, "factor code (0)", fixed = TRUE)
  expect_match(orthanc:::rs_to_json(structure(1L, levels = 1.5, class = "factor"))$message, "levels are not character")
  expect_match(orthanc:::rs_to_json(structure(1L, class = "factor"))$message, "levels are not character")
  o <- Orthanc$new("http://127.0.0.1:9", retries = 0)
  expect_error(o$post_tools_find(json = list(Level = "Study", Query = list(PatientName = past))),
    class = "orthanc_argument_error"
  )
})

test_that("a large answer (hundreds of expanded instances) converts exactly like jsonlite", {
  skip_if_not_installed("jsonlite")
  o <- orthanc_client()
  pid <- paste0("json-large-", paste(sample(letters, 12), collapse = ""))
  first <- o$post_tools_create_dicom(json = list(Tags = list(
    PatientID = pid, PatientName = "JSON^Large", SOPClassUID = "1.2.840.10008.5.1.4.1.1.7",
    InstanceNumber = "1", SeriesDescription = "caf\u00e9 \u2603"
  )))
  series_id <- o$get_instances_id(first$ID)$ParentSeries
  patient_id <- o$get_instances_id_patient(first$ID)$ID
  withr::defer(o$delete_patients_id(patient_id))
  for (i in 2:300) {
    o$post_tools_create_dicom(json = list(
      Parent = series_id,
      Tags = list(SOPClassUID = "1.2.840.10008.5.1.4.1.1.7", InstanceNumber = as.character(i))
    ))
  }
  path <- o$stream("GET", paste0("/series/", series_id, "/instances"), params = list(expand = TRUE))
  withr::defer(unlink(path))
  txt <- readChar(path, file.size(path), useBytes = TRUE)
  Encoding(txt) <- "UTF-8"
  expect_gt(nchar(txt, "bytes"), 100000)
  parsed <- o$get_series_id_instances(series_id, params = list(expand = TRUE))
  expect_length(parsed, 300L)
  expect_identical(parsed, jsonlite::fromJSON(txt, simplifyVector = FALSE))
})

test_that("strings that cannot be read as UTF-8 are refused with a classed error naming the element", {
  bytes <- "caf\xe9"
  Encoding(bytes) <- "bytes"
  broken <- "caf\xff\xfe"
  Encoding(broken) <- "UTF-8"
  latin1 <- "caf\xe9"
  Encoding(latin1) <- "latin1"
  # Latin-1 is translated; "bytes" (which R refuses to translate, with an R error that
  # would cross the Rust code) and invalid UTF-8 (once sent as "") are refused.
  expect_equal(to_json(list(a = latin1)), '{"a":"caf\u00e9"}')
  res <- orthanc:::rs_to_json(list(Query = list(PatientName = c("ok", bytes))))
  expect_equal(res$error, "argument")
  expect_match(res$message, '`json$Query$PatientName[2]` is a string in "bytes" encoding', fixed = TRUE)
  expect_match(orthanc:::rs_to_json(list(a = broken))$message, "`json$a[1]` is a string that is not valid UTF-8", fixed = TRUE)
  expect_match(orthanc:::rs_to_json(stats::setNames(list(1), bytes))$message, 'A name in `json` is a string in "bytes"', fixed = TRUE)
  lv <- structure(1L, levels = bytes, class = "factor")
  expect_match(orthanc:::rs_to_json(list(f = lv))$message, "The level of `json$f[1]`", fixed = TRUE)
  # Through a client (a dead port: nothing is sent, the error comes first).
  o <- Orthanc$new("http://127.0.0.1:9", retries = 0)
  expect_error(o$post_tools_find(json = list(Query = list(PatientName = bytes))), class = "orthanc_argument_error")
  expect_error(o$get_instances_id(bytes), class = "orthanc_argument_error")
  expect_error(o$get_instances_id(bytes), '`id` is a string in "bytes" encoding', fixed = TRUE)
  expect_error(o$get_instances_id(broken), class = "orthanc_argument_error")
  expect_error(o$GET(bytes), class = "orthanc_argument_error")
  # Query parameters and headers: values and names (extendr's reader took their bytes as
  # UTF-8 unchecked).
  expect_error(o$GET("/system", params = list(x = bytes)), "`params$x[1]` is a string in \"bytes\"", fixed = TRUE, class = "orthanc_argument_error")
  expect_error(o$GET("/system", headers = list(X = broken)), "not valid UTF-8", class = "orthanc_argument_error")
  expect_error(o$GET("/system", params = stats::setNames(list("v"), bytes)), "A name in `params`", class = "orthanc_argument_error")
})

test_that("bodies are written as jsonlite writes them, or refused naming the element", {
  skip_if_not_installed("jsonlite")
  to_json <- function(x) {
    res <- orthanc:::rs_to_json(x)
    if (is.list(res)) stop(res$message) else res
  }
  jl <- function(x) {
    as.character(jsonlite::toJSON(x, auto_unbox = TRUE, null = "null", na = "null", digits = NA))
  }
  same <- list(
    as.Date("2024-02-29"), as.Date(c("1969-12-31", NA)), I(as.Date("1000-01-01")),
    structure(19000.9, class = "Date"), structure(19000L, class = "Date"),
    list(StudyDate = as.Date("2020-01-02"), Tags = list(f = factor(c("b", NA, "a")))),
    structure(1:2, levels = c("x", NA), class = "factor"), jsonlite::unbox("x"),
    list(a = jsonlite::unbox(2L)), list(x = structure(1, foo = "ignored"))
  )
  for (x in same) expect_identical(jsonlite::parse_json(to_json(x)), jsonlite::parse_json(jl(x)))
  o <- Orthanc$new("http://127.0.0.1:9", retries = 0)
  refused <- list(
    list(quote(list(Query = list(StudyDate = Sys.time()))), "`json$Query$StudyDate` is a date-time (POSIXct)"),
    list(quote(list(Query = list(when = as.POSIXlt("2020-01-01")))), "`json$Query$when` is a date-time (POSIXlt)"),
    list(quote(list(d = as.difftime(5, units = "mins"))), "`json$d` is a time difference"),
    list(quote(list(Resources = data.frame(id = "a"))), "`json$Resources` is a data frame"),
    list(quote(list(m = matrix(1:4, 2))), "`json$m` is a matrix or array"),
    list(quote(list(t = table(c("a", "b")))), "`json$t` is an object of class \"table\""),
    list(quote(list(s = structure(list(1), class = "myclass"))), "`json$s` is an object of class \"myclass\""),
    list(quote(list(ts = stats::ts(1:3))), "`json$ts` is an object of class \"ts\""),
    list(quote(list(`Patient Name` = list(mean))), "`json$`Patient Name`[[1]]` is a function"),
    list(quote(list(Query = stats::setNames(list(1, 2), c("a", "")))), "`json$Query` has names, but its element 2 has none"),
    list(quote(list(Query = list(a = 1, a = 2))), "`json$Query` has the name \"a\" more than once"),
    list(quote(list(d = structure(Inf, class = "Date"))), "`json$d[1]` is a date outside the years 1000 to 9999"),
    list(quote(list(x = structure(1:2, class = "scalar"))), "`json$x` has the class \"scalar\"")
  )
  for (r in refused) {
    body <- eval(r[[1]])
    expect_error(o$post_tools_find(json = body), r[[2]], fixed = TRUE, class = "orthanc_argument_error")
  }
  # Nested past 100 levels: refused before Orthanc (whose parser dies near 200) sees it.
  deep <- Reduce(function(acc, i) list(acc), 1:120, 1)
  expect_error(o$post_tools_find(json = deep), "nested more than 100 levels", class = "orthanc_argument_error")
})
