# Case generator of dev/boundary-probe.R: R objects of every SEXP type, with
# attributes, classes, string encodings, special numbers, deep nesting and odd
# names, made from (seed, id) alone so that a child R process can rebuild any case
# without the parent sending the object (external pointers, environments and
# strings that are not valid UTF-8 do not survive serialisation unchanged).
#
#   source("dev/boundary-cases.R"); cs <- probe_case(17, seed = 1)
#   cs$kind; cs$x; cs$desc
#
# Every case: list(id, kind, x, desc, name, name_kind, small). `name` is a string
# from the same pool of odd strings, used as the name of the query parameter,
# header and cookie that carry `x` (mostly "p", sometimes odd). `small`: the case
# is cheap enough to run under gctorture().

# The kinds, in the order cases cycle through them: case `id` is of kind
# probe_kinds[(id - 1) %% length(probe_kinds) + 1], so each kind gets its share.
probe_kinds <- c(
  "NULL", "logical", "integer", "double", "complex", "character", "raw",
  "list", "named list", "closure", "builtin", "environment", "symbol",
  "language", "formula", "expression", "S4", "externalptr", "pairlist",
  "rare type", "factor", "malformed factor", "Date", "POSIXct", "POSIXlt",
  "difftime", "data.frame", "matrix/array", "AsIs", "S3 class", "ALTREP",
  "deep nesting", "zero length", "strings", "odd names", "mixed list"
)

# ---------------------------------------------------------------------------
# Pools of values

probe_mark <- function(s, enc) {
  Encoding(s) <- enc
  s
}

# Strings: list(kind, value). The kinds that cannot be read as UTF-8 ("bytes",
# invalid) are what the package must refuse; latin1 must be converted.
probe_strings <- function() {
  list(
    ascii = "PatientName",
    empty = "",
    space = " a b ",
    utf8 = "caf\u00e9 \u00fc\u00df",
    cjk = "\u75c5\u4eba",
    emoji = "\U0001f600",
    nonchar = "\uffff\ufffe",
    bom = "\ufeffx",
    ls = "a\u2028b\u2029c",
    control = "a\nb\tc\rd\001e\037f",
    quote = "q\"uo\\te/",
    braces = "{x}{.fn f}}{",
    cli = "{.arg p} {{x}}",
    percent = "%2F%00%zz ?#&=+",
    slash = "a/b",
    dots = "..",
    dot = ".",
    long = strrep("abcdefghij", 1000),
    latin1 = probe_mark("caf\xe9 \xfc\xdf \xa0\xff", "latin1"),
    latin1_ascii = probe_mark("plain", "latin1"),
    bytes = probe_mark("caf\xc3\xa9", "bytes"),
    bytes_high = probe_mark("\xff\xfe", "bytes"),
    bytes_ascii = probe_mark("abc", "bytes"),
    invalid = probe_mark("\xff", "UTF-8"),
    invalid_mid = probe_mark("ok\xc3(ok", "UTF-8"),
    surrogate = probe_mark("\xed\xa0\x80", "UTF-8"),
    overlong = probe_mark("\xc0\xaf", "UTF-8"),
    truncated = probe_mark("\xe2\x82", "UTF-8"),
    native_utf8 = probe_mark("caf\xc3\xa9", "unknown"),
    native_invalid = probe_mark("caf\xe9", "unknown"),
    na = NA_character_
  )
}

probe_string_weights <- function(kinds) {
  w <- rep(1, length(kinds))
  w[kinds %in% c("ascii", "utf8")] <- 6
  w[kinds %in% c("long")] <- 0.3
  w
}

probe_pick_string <- function(pool = probe_strings()) {
  k <- sample(names(pool), 1L, prob = probe_string_weights(names(pool)))
  list(kind = k, value = pool[[k]])
}

probe_doubles <- c(
  0, -0, 1, -1, 0.5, 0.1 + 0.2, 1 / 3, pi, -2.5e-8, 1e-5, 100, 1e15, 9e15,
  9.1e15, 2^53, 2^53 + 2, 1e16, 123456789012345678, 1e300, -1e300,
  .Machine$double.xmax, -.Machine$double.xmax, .Machine$double.xmin, 5e-324,
  1e-320, .Machine$double.eps, 2147483647, 2147483648, -2147483648, 4294967296,
  NA_real_, NaN, Inf, -Inf
)

probe_integers <- c(
  0L, 1L, -1L, 42L, .Machine$integer.max, -.Machine$integer.max,
  .Machine$integer.max - 1L, 65536L, NA_integer_
)

probe_len <- function() {
  sample(c(0L, 1L, 1L, 1L, 2L, 3L, 5L, 20L, 1000L), 1L, prob = c(2, 4, 4, 4, 3, 2, 2, 1, 0.3))
}

probe_dbl <- function(n) {
  if (n == 0L) return(double())
  v <- sample(probe_doubles, n, replace = TRUE)
  r <- stats::runif(n) < 0.3
  v[r] <- stats::rnorm(sum(r)) * 10^sample(-10:10, sum(r), replace = TRUE)
  v
}

probe_int <- function(n) {
  if (n == 0L) return(integer())
  v <- sample(probe_integers, n, replace = TRUE)
  r <- stats::runif(n) < 0.4
  v[r] <- sample.int(1e6, sum(r), replace = TRUE) - 500000L
  v
}

probe_lgl <- function(n) sample(c(TRUE, FALSE, NA), n, replace = TRUE)

probe_chr <- function(n, pool = probe_strings()) {
  if (n == 0L) return(character())
  # Long vectors of strings: mostly plain ones.
  out <- vapply(seq_len(n), function(i) {
    if (n > 20L && stats::runif(1) < 0.95) return(paste0("s", i))
    probe_pick_string(pool)$value
  }, "")
  # vapply() keeps each element's encoding mark (CHARSXPs are copied as they are).
  out
}

# Names for a vector or list of length n: NULL, good, empty, NA, duplicated or
# odd strings (bytes, latin1, invalid...).
probe_names <- function(n, mode = sample(c("none", "good", "empty", "na", "dup", "odd", "all_empty"), 1L,
                                          prob = c(3, 5, 1, 1, 1, 2, 0.5))) {
  if (mode == "none") return(list(mode = mode, names = NULL))
  nm <- if (n) paste0("k", seq_len(n)) else character()
  if (n) {
    i <- sample.int(n, 1L)
    switch(mode,
      empty = nm[i] <- "",
      na = nm[i] <- NA_character_,
      dup = nm[i] <- nm[1L],
      odd = nm[i] <- probe_pick_string()$value,
      all_empty = nm[] <- "",
      NULL
    )
  }
  list(mode = mode, names = nm)
}

# ---------------------------------------------------------------------------
# Objects of each kind. `depth`: nesting level of the current list (to bound
# recursion in "list"/"mixed list").

probe_atomic <- function(type = sample(c("logical", "integer", "double", "character"), 1L), n = probe_len()) {
  switch(type,
    logical = probe_lgl(n),
    integer = probe_int(n),
    double = probe_dbl(n),
    character = probe_chr(n)
  )
}

# Random extra attributes on an atomic vector or list.
probe_attrs <- function(x) {
  r <- stats::runif(1)
  if (r < 0.55) return(x)
  nm <- probe_names(length(x))
  if (!is.null(nm$names)) names(x) <- nm$names
  if (stats::runif(1) < 0.2) attr(x, "note") <- "extra attribute"
  if (stats::runif(1) < 0.1) comment(x) <- "a comment"
  x
}

probe_s4_classes <- function() {
  if (!methods::isClass("ProbeS4")) {
    methods::setClass("ProbeS4", methods::representation(a = "numeric", b = "character"), where = globalenv())
    methods::setClass("ProbeS4Num", contains = "numeric", where = globalenv())
    methods::setClass("ProbeS4Chr", contains = "character", where = globalenv())
    methods::setClass("ProbeS4List", contains = "list", where = globalenv())
    methods::setRefClass("ProbeRef", fields = list(v = "numeric"), where = globalenv())
  }
}

probe_factor <- function() {
  n <- sample(c(0L, 1L, 1L, 2L, 5L), 1L)
  lv_pool <- c("a", "b", "c", "caf\u00e9")
  lv <- sample(lv_pool, sample(1:4, 1L))
  f <- factor(sample(c(lv, NA), n, replace = TRUE), levels = lv, exclude = NULL)
  switch(sample(c("plain", "ordered", "na_level", "odd_level", "named", "asis"), 1L),
    plain = f,
    ordered = factor(f, ordered = TRUE),
    na_level = addNA(f),
    odd_level = {
      s <- probe_pick_string()$value
      if (is.na(s) || s %in% levels(f)) f else {
        levels(f)[1L] <- s
        f
      }
    },
    named = {
      if (length(f)) names(f) <- paste0("n", seq_along(f))
      f
    },
    asis = I(f)
  )
}

probe_malformed_factor <- function() {
  # (R refuses the class "factor" on anything but an integer vector.)
  lv <- c("a", "b")
  switch(sample(c("past", "zero", "negative", "nolevels", "numlevels", "na_past", "ordered_past",
                  "dup_levels", "na_levels", "bytes_level", "invalid_level", "list_levels",
                  "huge_code", "not_factor"), 1L),
    past = structure(c(1L, 7L), levels = "a", class = "factor"),
    zero = structure(0L, levels = lv, class = "factor"),
    negative = structure(c(-1L, 1L), levels = lv, class = "factor"),
    nolevels = structure(1:2, class = "factor"),
    numlevels = structure(1:2, levels = c(1.5, 2.5), class = "factor"),
    na_past = structure(c(NA, 3L), levels = "a", class = "factor"),
    ordered_past = structure(5L, levels = "a", class = c("ordered", "factor")),
    dup_levels = structure(c(1L, 2L), levels = c("a", "a"), class = "factor"),
    na_levels = structure(c(1L, 2L), levels = c("a", NA), class = "factor"),
    bytes_level = structure(1L, levels = probe_mark("caf\xc3\xa9", "bytes"), class = "factor"),
    invalid_level = structure(1L, levels = probe_mark("\xff", "UTF-8"), class = "factor"),
    list_levels = structure(1L, levels = list("a"), class = "factor"),
    not_factor = structure(1:2, levels = lv, class = "myfactor"),
    huge_code = structure(.Machine$integer.max, levels = lv, class = "factor")
  )
}

probe_data_frame <- function(depth) {
  n <- sample(c(0L, 1L, 2L, 3L), 1L)
  cols <- list(
    int = probe_int(n), dbl = probe_dbl(n), chr = probe_chr(n), lgl = probe_lgl(n),
    fac = factor(sample(c("x", "y"), n, replace = TRUE)),
    date = as.Date("2024-02-29") + probe_int(n) %% 1000L
  )
  keep <- sample(names(cols), sample(0:4, 1L))
  df <- as.data.frame(cols[keep], stringsAsFactors = FALSE)
  if (!length(keep)) df <- data.frame(matrix(nrow = n, ncol = 0))
  switch(sample(c("plain", "list_col", "nested_df", "matrix_col", "rownames", "malformed", "empty"), 1L),
    plain = df,
    list_col = {
      df$l <- lapply(seq_len(nrow(df)), function(i) probe_leaf(depth + 1L))
      df
    },
    nested_df = {
      df$inner <- data.frame(v = seq_len(nrow(df)))
      df
    },
    matrix_col = {
      df$m <- matrix(seq_len(nrow(df) * 2L), ncol = 2L)
      df
    },
    rownames = {
      if (nrow(df)) rownames(df) <- paste0("r", seq_len(nrow(df)))
      df
    },
    malformed = structure(list(a = 1:3, b = "x"), class = "data.frame"),
    empty = data.frame()
  )
}

probe_matrix <- function() {
  switch(sample(c("int", "dbl", "chr", "lgl", "list", "array3", "dimnames", "one", "empty", "1d",
                  "1d_named", "table"), 1L),
    int = matrix(probe_int(6L), 2L),
    dbl = matrix(probe_dbl(4L), 2L),
    chr = matrix(probe_chr(4L), 2L),
    lgl = matrix(probe_lgl(6L), 3L),
    list = matrix(list(1, "a", TRUE, NULL), 2L),
    array3 = array(1:8, c(2L, 2L, 2L)),
    dimnames = matrix(1:4, 2L, dimnames = list(c("r1", "r2"), c("c1", "c2"))),
    one = matrix(1),
    empty = matrix(numeric(), 0L, 3L),
    `1d` = array(1:3, 3L),
    `1d_named` = array(list(1, "b"), 2L, dimnames = list(c("x", "y"))),
    table = table(c("a", "b", "a"))
  )
}

probe_time <- function(kind) {
  n <- sample(c(0L, 1L, 1L, 2L), 1L)
  days <- sample(c(0, 19000, -1, 1e5, NA, Inf, 19000.5), n, replace = TRUE)
  switch(kind,
    Date = {
      d <- structure(days, class = "Date")
      if (stats::runif(1) < 0.2) d <- structure(as.integer(floor(ifelse(is.finite(days), days, NA))), class = "Date")
      d
    },
    POSIXct = structure(days * 86400 + 0.25, class = c("POSIXct", "POSIXt"),
                        tzone = sample(c("UTC", "", "Europe/Brussels"), 1L)),
    POSIXlt = as.POSIXlt(structure(days * 86400, class = c("POSIXct", "POSIXt")), tz = "UTC"),
    difftime = structure(probe_dbl(n), units = sample(c("secs", "mins", "days"), 1L), class = "difftime")
  )
}

probe_s4 <- function() {
  probe_s4_classes()
  switch(sample(c("plain", "num", "chr", "list", "ref", "generic", "extptr"), 1L),
    plain = methods::new("ProbeS4", a = 1, b = "x"),
    num = methods::new("ProbeS4Num", c(1.5, 2)),
    chr = methods::new("ProbeS4Chr", "a"),
    list = methods::new("ProbeS4List", list(a = 1)),
    ref = methods::new("ProbeRef", v = 1),
    generic = methods::getGeneric("show"),
    extptr = methods::new("externalptr")
  )
}

probe_rare <- function() {
  switch(sample(c("bytecode", "dots", "missing_arg", "promise_env", "weakref", "special",
                  "srcref", "char_in_list"), 1L),
    bytecode = compiler::compile(quote(1 + 2)),
    dots = get("...", envir = (function(...) environment())(1, b = 2)),
    missing_arg = alist(a = ),
    promise_env = (function(x) environment())(stop("never forced")),
    weakref = if (requireNamespace("rlang", quietly = TRUE)) rlang::new_weakref(new.env()) else new.env(),
    special = .Primitive("if"),
    srcref = attr(eval(parse(text = "function() 1", keep.source = TRUE)), "srcref"),
    char_in_list = list(quote(expr = ))
  )
}

probe_altrep <- function() {
  n <- sample(c(0L, 1L, 3L, 1000L), 1L)
  switch(sample(c("seq", "seq_desc", "deferred_chr", "wrapper", "seq_dbl"), 1L),
    seq = seq_len(n),
    seq_desc = if (n) n:1 else integer(),
    deferred_chr = as.character(seq_len(n)),
    wrapper = {
      x <- seq_len(n) + 0.5
      y <- structure(x, note = "wrapped")
      y
    },
    seq_dbl = as.numeric(seq_len(n))
  )
}

probe_zero <- function() {
  sample(list(
    NULL, logical(), integer(), double(), complex(), character(), raw(), list(),
    structure(list(), names = character()), factor(character()), as.Date(character()),
    data.frame(), matrix(numeric(), 0L, 0L), I(character()), I(list()),
    structure(character(), names = character()), expression(), new.env()
  ), 1L)[[1L]]
}

probe_strings_case <- function() {
  n <- sample(c(1L, 1L, 2L, 3L), 1L)
  x <- vapply(seq_len(n), function(i) probe_pick_string()$value, "")
  if (stats::runif(1) < 0.3) x <- list(s = x)
  if (stats::runif(1) < 0.2) x <- I(x)
  x
}

probe_odd_names <- function() {
  n <- sample(1:4, 1L)
  x <- lapply(seq_len(n), function(i) probe_leaf(1L))
  nm <- probe_names(n, sample(c("empty", "na", "dup", "odd", "all_empty"), 1L))
  names(x) <- nm$names
  if (stats::runif(1) < 0.3) {
    # Names on an atomic vector (dropped by both writers).
    y <- probe_atomic(n = n)
    names(y) <- nm$names
    return(y)
  }
  x
}

# A leaf: any non-list value (for lists and data frame list columns).
probe_leaf <- function(depth) {
  k <- sample(c("atomic", "atomic", "atomic", "NULL", "string", "factor", "Date", "named",
                "unnamed", "asis", "zero", "odd"), 1L)
  if (depth > 4L && k %in% c("named", "unnamed")) k <- "atomic"
  switch(k,
    atomic = probe_attrs(probe_atomic()),
    `NULL` = NULL,
    string = probe_pick_string()$value,
    factor = probe_factor(),
    Date = probe_time("Date"),
    named = probe_list(depth + 1L, named = TRUE),
    unnamed = probe_list(depth + 1L, named = FALSE),
    asis = I(probe_atomic(n = sample(0:2, 1L))),
    zero = probe_zero(),
    odd = probe_any(depth + 1L)
  )
}

probe_list <- function(depth, named = stats::runif(1) < 0.5) {
  n <- sample(c(0L, 1L, 2L, 3L, 5L), 1L)
  x <- lapply(seq_len(n), function(i) probe_leaf(depth))
  if (named) {
    nm <- probe_names(n, sample(c("good", "good", "good", "empty", "na", "dup", "odd"), 1L))
    names(x) <- nm$names
    if (n == 0L) x <- structure(list(), names = character())
  }
  x
}

probe_deep <- function() {
  d <- sample(c(10L, 100L, 300L, 500L, 510L, 511L, 512L, 513L, 514L, 600L, 2000L), 1L)
  x <- probe_atomic(n = sample(0:2, 1L))
  named <- stats::runif(1) < 0.5
  for (i in seq_len(d)) x <- if (named) list(a = x) else list(x)
  x
}

# Any object (used for the odd leaves of lists).
probe_any <- function(depth = 0L) {
  k <- sample(setdiff(probe_kinds, c("deep nesting", "mixed list", "list", "named list")), 1L)
  probe_make(k, depth)
}

probe_make <- function(kind, depth = 0L) {
  switch(kind,
    `NULL` = NULL,
    logical = probe_attrs(probe_atomic("logical")),
    integer = probe_attrs(probe_atomic("integer")),
    double = probe_attrs(probe_atomic("double")),
    complex = complex(real = probe_dbl(1L), imaginary = 1),
    character = probe_attrs(probe_atomic("character")),
    raw = as.raw(sample(0:255, probe_len(), replace = TRUE)),
    list = probe_list(depth, named = FALSE),
    `named list` = probe_list(depth, named = TRUE),
    closure = sample(list(function(x) x + 1, mean, function() NULL), 1L)[[1L]],
    builtin = sample(list(sum, length, `[`, .Primitive("c")), 1L)[[1L]],
    environment = sample(list(new.env(), globalenv(), emptyenv(), baseenv(),
                              structure(new.env(), class = "R6")), 1L)[[1L]],
    symbol = sample(list(as.name("x"), as.name("caf\u00e9"), quote(`if`)), 1L)[[1L]],
    language = sample(list(quote(f(x, 1)), call("sum", 1, 2), quote(a$b)), 1L)[[1L]],
    formula = sample(list(y ~ x + z, ~a, stats::as.formula("PatientName ~ 1")), 1L)[[1L]],
    expression = sample(list(expression(1 + 2, x), expression()), 1L)[[1L]],
    S4 = probe_s4(),
    externalptr = sample(list(methods::new("externalptr"),
                              probe_native_address()), 1L)[[1L]],
    pairlist = sample(list(pairlist(a = 1, 2), formals(function(a, b = 2) NULL), pairlist(1)), 1L)[[1L]],
    `rare type` = probe_rare(),
    factor = probe_factor(),
    `malformed factor` = probe_malformed_factor(),
    Date = probe_time("Date"),
    POSIXct = probe_time("POSIXct"),
    POSIXlt = probe_time("POSIXlt"),
    difftime = probe_time("difftime"),
    data.frame = probe_data_frame(depth),
    `matrix/array` = probe_matrix(),
    AsIs = I(probe_attrs(probe_atomic(n = sample(0:3, 1L)))),
    `S3 class` = structure(sample(list(probe_atomic(n = 1L), list(a = 1), "[1,2]"), 1L)[[1L]],
                           class = sample(c("myclass", "json", "scalar", "ts"), 1L)),
    ALTREP = probe_altrep(),
    `deep nesting` = probe_deep(),
    `zero length` = probe_zero(),
    strings = probe_strings_case(),
    `odd names` = probe_odd_names(),
    `mixed list` = {
      n <- sample(1:4, 1L)
      x <- lapply(seq_len(n), function(i) probe_any(depth + 1L))
      if (stats::runif(1) < 0.5) names(x) <- paste0("m", seq_len(n))
      x
    },
    stop("unknown kind ", kind)
  )
}

# An external pointer with an address (a registered routine of the package when
# it is loaded).
probe_native_address <- function() {
  tryCatch(getNativeSymbolInfo("wrap__rs_to_json", "orthanc")$address,
    error = function(e) methods::new("externalptr")
  )
}

# A short description of an object, safe to print whatever its strings hold.
probe_describe <- function(x, width = 70L) {
  d <- tryCatch({
    txt <- utils::capture.output(utils::str(x, max.level = 2L, vec.len = 2L, nchar.max = 40L,
                                            list.len = 4L, give.attr = TRUE))
    paste(trimws(txt), collapse = " ")
  }, error = function(e) paste0("<", typeof(x), ">"))
  d <- probe_ascii(d)
  if (nchar(d) > width) d <- paste0(substr(d, 1L, width - 3L), "...")
  d
}

# Printable ASCII text of a string, whatever its encoding mark: non-ASCII
# characters as <U+XXXX>, bytes that are not UTF-8 as \xNN. (Not iconv(): with
# sub = "Unicode" it loops forever on U+FFFF in glibc.)
probe_ascii <- function(s) {
  if (is.na(s)) return("NA")
  r <- charToRaw(s)
  if (!length(r)) return("")
  u <- rawToChar(r)
  Encoding(u) <- "UTF-8"
  if (!validUTF8(u)) {
    return(paste(ifelse(r < as.raw(0x80), rawToChar(r, multiple = TRUE), sprintf("\\x%02x", as.integer(r))), collapse = ""))
  }
  cps <- utf8ToInt(u)
  if (all(cps < 128L)) return(u)
  chars <- intToUtf8(cps, multiple = TRUE)
  chars[cps >= 128L] <- sprintf("<U+%04X>", cps[cps >= 128L])
  paste(chars, collapse = "")
}

# The case `id` of the run seeded with `seed`.
probe_case <- function(id, seed) {
  kind <- probe_kinds[(id - 1L) %% length(probe_kinds) + 1L]
  set.seed((as.numeric(seed) * 1000003 + id) %% 2147483647)
  x <- probe_make(kind)
  nm <- if (stats::runif(1) < 0.8) list(kind = "plain", value = "p") else probe_pick_string()
  small <- !kind %in% c("deep nesting") && tryCatch(object.size(x) < 20000, error = function(e) TRUE)
  list(id = id, kind = kind, x = x, name = nm$value, name_kind = nm$kind, small = small)
}
