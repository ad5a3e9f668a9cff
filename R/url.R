# The server's URL: credentials inside it, and whether it is this machine.

is_loopback <- function(host) {
  host <- sub("\\.$", "", tolower(host)) # host names are case-insensitive; "localhost." too
  host %in% c("localhost", "::1", "[::1]") || grepl("^127\\.", host)
}

# Split "http://user:pass@host:port/path" into its URL without credentials and
# the credentials.
split_url <- function(url) {
  m <- regmatches(url, regexec("^([A-Za-z][A-Za-z0-9+.-]*://)(([^/@]*)@)?([^/]*)(.*)$", url))[[1]]
  if (!length(m)) {
    return(list(url = url, username = NULL, password = NULL, host = ""))
  }
  userinfo <- m[4]
  user <- pass <- NULL
  if (nzchar(m[3])) {
    up <- strsplit(userinfo, ":", fixed = TRUE)[[1]]
    user <- utils::URLdecode(up[1])
    if (length(up) > 1L) pass <- utils::URLdecode(paste(up[-1], collapse = ":"))
  }
  hostport <- m[5]
  host <- sub(":[0-9]*$", "", hostport)
  list(
    url = sub("/+$", "", paste0(m[2], hostport, m[6])),
    username = user, password = pass, host = host
  )
}
