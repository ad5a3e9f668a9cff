//! The wire: one HTTP client per `Orthanc` object, one request path, streaming up and down.
//! No R types here, so `cargo test` exercises it alone.

use crate::runtime;
use base64::Engine;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE,
};
pub use reqwest::Method;
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// What can go wrong before an HTTP status is known. HTTP error statuses are not errors
/// here: they are answers, and the R side turns them into conditions.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Connection(String),
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    Tls(String),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the request was interrupted")]
    Interrupted,
}

impl Error {
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Connection(_) => "connection",
            Error::Timeout(_) => "timeout",
            Error::Tls(_) => "tls",
            Error::Io(_) => "io",
            Error::Invalid(_) => "argument",
            Error::Interrupted => "interrupt",
        }
    }
}

/// Settings of one client. The password never leaves this struct in clear text: Debug
/// redacts it and nothing formats it.
#[derive(Clone)]
pub struct Config {
    pub base_url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// A bearer token (`Authorization: Bearer`), sent instead of the user name and password.
    pub token: Option<String>,
    pub timeout: Option<Duration>,
    pub retries: u32,
    pub retry_methods: Vec<Method>,
    pub verify: bool,
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub user_agent: String,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("base_url", &self.base_url)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("verify", &self.verify)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            base_url: "http://localhost:8042".into(),
            username: None,
            password: None,
            token: None,
            timeout: Some(Duration::from_secs(60)),
            retries: 2,
            retry_methods: vec![Method::GET],
            verify: true,
            ca_file: None,
            cert_file: None,
            key_file: None,
            user_agent: "orthanc-r".into(),
        }
    }
}

/// Body of a request.
#[derive(Debug, Clone)]
pub enum Body {
    Empty,
    Json(bytes::Bytes),
    Raw(bytes::Bytes),
    Text(bytes::Bytes),
    /// Streamed from disk, never read whole into memory.
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// Path (and optionally query) relative to the base URL, starting with '/'.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    /// When set, a successful answer's body is written to this file (via a temporary name
    /// in the same folder, renamed when complete) instead of memory.
    pub dest: Option<PathBuf>,
}

impl Request {
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Request {
            method,
            path: path.into(),
            query: vec![],
            headers: vec![],
            body: Body::Empty,
            dest: None,
        }
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub content_type: String,
    /// The body, unless it went to `dest`.
    pub body: bytes::Bytes,
    /// Where the body was written, when the request had `dest` and succeeded.
    pub file: Option<PathBuf>,
}

/// Characters that stay as they are in a path segment: unreserved ones (RFC 3986).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Characters encoded in a query name or value: Orthanc does not percent-decode query
/// strings, so only what would break the query's structure (or is not allowed in a URL)
/// is encoded; `;` `,` `/` `:` `@` and the like go as they are (`requested-tags=A;B`).
const QUERY: &AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'<')
    .add(b'=')
    .add(b'>')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Build a query string from (name, value) pairs; an empty value gives a bare name
/// (`?expand`).
pub fn encode_query(pairs: &[(String, String)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.extend(utf8_percent_encode(k, QUERY));
        if !v.is_empty() {
            out.push('=');
            out.extend(utf8_percent_encode(v, QUERY));
        }
    }
    out
}

/// Join path segments, percent-encoding each one (spaces, slashes, unicode, ...).
pub fn encode_segments<S: AsRef<str>>(segments: &[S]) -> String {
    let mut out = String::new();
    for s in segments {
        out.push('/');
        out.extend(utf8_percent_encode(s.as_ref(), SEGMENT));
    }
    out
}

/// Remove any user:password@ part from a URL, for messages.
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => match (url.find("://"), url.rfind('@')) {
            (Some(s), Some(a)) if a > s => format!("{}{}", &url[..s + 3], &url[a + 1..]),
            _ => url.to_string(),
        },
    }
}

/// One client: settings plus a reqwest client (connection pool) that belongs to the
/// process that built it. After a fork the child builds its own.
pub struct Client {
    config: Config,
    /// `config.base_url` parsed once; `base_path` is its path without the trailing '/'.
    base: reqwest::Url,
    base_path: String,
    auth: Option<HeaderValue>,
    inner: Mutex<Option<(u32, reqwest::Client)>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .finish()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // A pool inherited through fork belongs to the parent's runtime: leak it rather than
        // touch it from here.
        if let Ok(mut g) = self.inner.lock() {
            if let Some((pid, c)) = g.take() {
                if pid != std::process::id() {
                    std::mem::forget(c);
                }
            }
        }
    }
}

fn read_file(path: &Path, what: &str) -> Result<Vec<u8>, Error> {
    std::fs::read(path)
        .map_err(|e| Error::Invalid(format!("cannot read the {what} {}: {e}", path.display())))
}

/// The PEM blocks labelled exactly `label` ("CERTIFICATE", "PRIVATE KEY") in `pem`, joined.
fn pem_blocks(pem: &[u8], label: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(pem);
    let (begin, end) = (
        format!("-----BEGIN {label}-----"),
        format!("-----END {label}-----"),
    );
    let mut out = String::new();
    let mut rest = text.as_ref();
    while let Some(b) = rest.find(&begin) {
        let Some(e) = rest[b..].find(&end) else { break };
        out.push_str(&rest[b..b + e + end.len()]);
        out.push('\n');
        rest = &rest[b + e + end.len()..];
    }
    out.into_bytes()
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let t = s.to_string();
        if !msg.contains(&t) {
            msg.push_str(": ");
            msg.push_str(&t);
        }
        src = s.source();
    }
    msg
}

/// A failure while the body of an answer was arriving: the server did answer, then the
/// connection broke.
fn classify_body(e: reqwest::Error) -> Error {
    match classify(e) {
        Error::Connection(m) => {
            Error::Connection(format!("the connection broke during the transfer: {m}"))
        }
        other => other,
    }
}

fn classify(e: reqwest::Error) -> Error {
    let timeout = e.is_timeout();
    let builder = e.is_builder();
    let msg = chain(&e.without_url());
    let lower = msg.to_lowercase();
    if timeout || lower.contains("timed out") {
        Error::Timeout(msg)
    } else if builder {
        Error::Invalid(msg)
    } else if lower.contains("certificate")
        || lower.contains("tls")
        || lower.contains("handshake")
        || lower.contains("alert")
    {
        Error::Tls(msg)
    } else {
        Error::Connection(msg)
    }
}

static PART_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A file being written; removed on drop unless it was completed and renamed.
struct PartFile {
    path: PathBuf,
    done: bool,
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn sniff_content_type(path: &Path) -> &'static str {
    use std::io::Read;
    let mut head = [0u8; 132];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    sniff(&head[..n])
}

/// The content type of a file body from its first bytes: ZIP, DICOM (Part 10) or bytes.
fn sniff(head: &[u8]) -> &'static str {
    if head.len() >= 4 && &head[..4] == b"PK\x03\x04" {
        "application/zip"
    } else if head.len() >= 132 && &head[128..132] == b"DICM" {
        "application/dicom"
    } else {
        "application/octet-stream"
    }
}

/// Files up to this size are read whole and sent from memory: for a small file (a DICOM
/// instance is often some kB) the trips of `tokio::fs` to the blocking pool (open, metadata,
/// each read) cost more than the read. Larger files are streamed from disk.
const SMALL_FILE: u64 = 4 << 20;

impl Client {
    pub fn new(mut config: Config) -> Result<Client, Error> {
        let url = reqwest::Url::parse(&config.base_url)
            .map_err(|e| Error::Invalid(format!("`url` is not a valid URL ({e})")))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(Error::Invalid(format!(
                "`url` must start with http:// or https://, not {}://",
                url.scheme()
            )));
        }
        if url.host_str().is_none() {
            return Err(Error::Invalid("`url` has no host".into()));
        }
        config.base_url = config.base_url.trim_end_matches('/').to_string();
        let base_path = url.path().trim_end_matches('/').to_string();
        let auth = match (&config.token, &config.username, &config.password) {
            (Some(t), _, _) => {
                let mut v = HeaderValue::from_str(&format!("Bearer {t}"))
                    .map_err(|_| Error::Invalid("the token has invalid characters".into()))?;
                v.set_sensitive(true);
                Some(v)
            }
            (None, Some(u), p) => {
                let raw = format!("{}:{}", u, p.as_deref().unwrap_or(""));
                let enc = base64::engine::general_purpose::STANDARD.encode(raw);
                let mut v = HeaderValue::from_str(&format!("Basic {enc}")).map_err(|_| {
                    Error::Invalid("the username or password has invalid characters".into())
                })?;
                v.set_sensitive(true);
                Some(v)
            }
            _ => None,
        };
        let client = Client {
            config,
            base: url,
            base_path,
            auth,
            inner: Mutex::new(None),
        };
        // Build the pool now so that TLS settings are checked when the client is made.
        client.reqwest()?;
        Ok(client)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    fn build(&self) -> Result<reqwest::Client, Error> {
        let c = &self.config;
        let mut b = reqwest::Client::builder()
            .user_agent(c.user_agent.clone())
            .gzip(true)
            .pool_idle_timeout(Duration::from_secs(50))
            .tcp_nodelay(true)
            .tcp_keepalive(Duration::from_secs(30))
            // The platform's TLS (OpenSSL on Linux), as curl: it trusts the system's CA store
            // and, with `ca_file`, a self-signed server certificate given there, even one
            // marked CA:TRUE (as `openssl req -x509` makes them).
            .use_native_tls()
            .danger_accept_invalid_certs(!c.verify);
        if let Some(t) = c.timeout {
            b = b.connect_timeout(t).read_timeout(t);
        }
        if let Some(ca) = &c.ca_file {
            let pem = read_file(ca, "CA bundle")?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| Error::Invalid(format!("cannot use the CA bundle: {}", chain(&e))))?;
            if certs.is_empty() {
                return Err(Error::Invalid(format!(
                    "the CA bundle {} holds no PEM certificate",
                    ca.display()
                )));
            }
            for cert in certs {
                b = b.add_root_certificate(cert);
            }
        }
        match (&c.cert_file, &c.key_file) {
            (Some(cert), key) => {
                let cert_file = read_file(cert, "client certificate")?;
                // Without `key_file`, the key is expected in the certificate's file.
                let key_file = match key {
                    Some(key) => read_file(key, "client key")?,
                    None => cert_file.clone(),
                };
                let cert_pem = pem_blocks(&cert_file, "CERTIFICATE");
                if cert_pem.is_empty() {
                    return Err(Error::Invalid(format!(
                        "the client certificate {} holds no PEM certificate",
                        cert.display()
                    )));
                }
                let key_pem = pem_blocks(&key_file, "PRIVATE KEY");
                if key_pem.is_empty() {
                    let other = String::from_utf8_lossy(&key_file).contains(" PRIVATE KEY-----");
                    return Err(Error::Invalid(if other {
                        "the client key must be a PKCS#8 PEM key (BEGIN PRIVATE KEY); convert it with \
                         `openssl pkcs8 -topk8 -nocrypt -in key.pem -out key-pkcs8.pem`"
                            .into()
                    } else {
                        "no PEM private key found for the client certificate".into()
                    }));
                }
                let id = reqwest::Identity::from_pkcs8_pem(&cert_pem, &key_pem).map_err(|e| {
                    Error::Invalid(format!("cannot use the client certificate: {}", chain(&e)))
                })?;
                b = b.identity(id);
            }
            (None, Some(_)) => {
                return Err(Error::Invalid("`key_file` needs `cert_file` too".into()))
            }
            _ => {}
        }
        b.build()
            .map_err(|e| Error::Invalid(format!("cannot build the HTTP client: {}", chain(&e))))
    }

    /// The pool of this process, built on first use and again after a fork.
    fn reqwest(&self) -> Result<reqwest::Client, Error> {
        let pid = std::process::id();
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((owner, c)) = g.as_ref() {
            if *owner == pid {
                return Ok(c.clone());
            }
        }
        if let Some((_, old)) = g.take() {
            std::mem::forget(old);
        }
        let c = self.build()?;
        *g = Some((pid, c.clone()));
        Ok(c)
    }

    pub fn url_for(&self, path: &str) -> String {
        format!("{}{}", self.config.base_url, path)
    }

    /// The URL of `path` (relative to the base URL, starting with '/'). A path without a
    /// query or fragment only replaces the parsed base URL's path (the host is not parsed
    /// again); other paths are parsed whole.
    fn url_of(&self, path: &str) -> Result<reqwest::Url, Error> {
        if path.starts_with('/') && !path.contains(['?', '#']) {
            let mut url = self.base.clone();
            url.set_query(None);
            url.set_fragment(None);
            if self.base_path.is_empty() {
                url.set_path(path);
            } else {
                url.set_path(&format!("{}{}", self.base_path, path));
            }
            return Ok(url);
        }
        reqwest::Url::parse(&self.url_for(path))
            .map_err(|e| Error::Invalid(format!("`{path}` does not make a valid URL ({e})")))
    }

    fn headers(&self, req: &Request) -> Result<HeaderMap, Error> {
        let mut h = HeaderMap::with_capacity(req.headers.len() + 2);
        if let Some(a) = &self.auth {
            h.insert(AUTHORIZATION, a.clone());
        }
        for (k, v) in &req.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| Error::Invalid(format!("`{k}` is not a valid HTTP header name")))?;
            let value = HeaderValue::from_str(v)
                .map_err(|_| Error::Invalid(format!("the value of header `{k}` is not valid")))?;
            h.append(name, value);
        }
        Ok(h)
    }

    /// The request as reqwest builds it: the client's and the request's headers, and the body
    /// with its default content type (a file small enough is read at once, a larger one
    /// streamed with its length).
    async fn build_request(
        &self,
        http: &reqwest::Client,
        req: &Request,
        url: &reqwest::Url,
    ) -> Result<reqwest::RequestBuilder, Error> {
        let mut headers = self.headers(req)?;
        let rb = http.request(req.method.clone(), url.clone());
        let default_type = |h: &mut HeaderMap, t: &'static str| {
            if !h.contains_key(CONTENT_TYPE) {
                h.insert(CONTENT_TYPE, HeaderValue::from_static(t));
            }
        };
        let rb = match &req.body {
            Body::Empty => rb,
            Body::Json(b) => {
                default_type(&mut headers, "application/json");
                rb.body(b.clone())
            }
            Body::Raw(b) => {
                default_type(&mut headers, "application/octet-stream");
                rb.body(b.clone())
            }
            Body::Text(b) => {
                default_type(&mut headers, "text/plain; charset=utf-8");
                rb.body(b.clone())
            }
            Body::File(p) => {
                let open_error =
                    |e: std::io::Error| Error::Io(format!("cannot open {}: {e}", p.display()));
                let len = std::fs::metadata(p).map_err(open_error)?.len();
                if len <= SMALL_FILE {
                    let bytes = std::fs::read(p).map_err(open_error)?;
                    default_type(&mut headers, sniff(&bytes));
                    rb.body(bytes)
                } else {
                    let file = tokio::fs::File::open(p).await.map_err(open_error)?;
                    let len = file
                        .metadata()
                        .await
                        .map_err(|e| Error::Io(format!("cannot read {}: {e}", p.display())))?
                        .len();
                    default_type(&mut headers, sniff_content_type(p));
                    headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
                    let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024);
                    rb.body(reqwest::Body::wrap_stream(stream))
                }
            }
        };
        Ok(rb.headers(headers))
    }

    async fn send_once(
        &self,
        http: &reqwest::Client,
        req: &Request,
        url: &reqwest::Url,
    ) -> Result<Response, Error> {
        // The runtime runs only while a request is waited for: a pooled connection that the
        // server closed while idle (Orthanc's keep-alive timeout) has not been seen closing.
        // Yielding once lets the runtime poll its sockets first, so that the pool drops that
        // connection instead of sending this request on it (which would fail a POST).
        tokio::task::yield_now().await;
        let mut resp = self
            .build_request(http, req, url)
            .await?
            .send()
            .await
            .map_err(classify)?;
        let mut answer = answer_head(&resp);
        if let (Some(dest), true) = (&req.dest, (200..300).contains(&answer.status)) {
            write_body_to(&mut resp, dest).await?;
            answer.file = Some(dest.clone());
        } else {
            answer.body = resp.bytes().await.map_err(classify_body)?;
        }
        Ok(answer)
    }

    /// Perform a request, retrying idempotent methods on connection failures.
    pub async fn execute(&self, req: &Request) -> Result<Response, Error> {
        let http = self.reqwest()?;
        let mut url = self.url_of(&req.path)?;
        if !req.query.is_empty() {
            let q = encode_query(&req.query);
            let full = match url.query() {
                Some(existing) if !existing.is_empty() => format!("{existing}&{q}"),
                _ => q,
            };
            url.set_query(Some(&full));
        }
        let retry = self.config.retry_methods.contains(&req.method);
        let mut attempt = 0u32;
        loop {
            match self.send_once(&http, req, &url).await {
                Err(Error::Connection(_)) if retry && attempt < self.config.retries => {
                    let wait = Duration::from_millis((100u64 << attempt.min(5)).min(2000));
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Perform a request from synchronous code, polling `interrupted` every 100 ms.
    pub fn perform(
        &self,
        req: &Request,
        interrupted: &dyn Fn() -> bool,
    ) -> Result<Response, Error> {
        block_on(self.execute(req), interrupted)?
    }
}

/// Run a future to completion on this process's runtime, giving up (and dropping the
/// future, which cancels its transfers and removes partial files) when `interrupted()`.
pub fn block_on<F: Future>(fut: F, interrupted: &dyn Fn() -> bool) -> Result<F::Output, Error> {
    // An interrupt that arrived between two requests is seen here, before anything is sent:
    // in a batch of short requests (each done before the first 100 ms tick below) it would
    // otherwise wait for R's own check, which comes only every ~1000 evaluations.
    if interrupted() {
        return Err(Error::Interrupted);
    }
    runtime::block_on(async {
        let mut fut = Box::pin(fut);
        loop {
            tokio::select! {
                biased;
                out = &mut fut => return Ok(out),
                _ = tokio::time::sleep(Duration::from_millis(100)) => {
                    if interrupted() {
                        drop(fut);
                        runtime::settle().await;
                        return Err(Error::Interrupted);
                    }
                }
            }
        }
    })
}

/// The status, final URL, headers and content type (without parameters, lower case) of an
/// answer; its body is read afterwards.
fn answer_head(resp: &reqwest::Response) -> Response {
    let headers: Vec<(String, String)> = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let content_type = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    Response {
        status: resp.status().as_u16(),
        url: resp.url().to_string(),
        headers,
        content_type,
        body: bytes::Bytes::new(),
        file: None,
    }
}

/// Stream the body of an answer into `dest`: written to a hidden part file beside it, then
/// renamed, so that `dest` is complete or absent (the part file is removed on failure).
async fn write_body_to(resp: &mut reqwest::Response, dest: &Path) -> Result<(), Error> {
    let dir = dest
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = PART_COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut part = PartFile {
        path: dir.join(format!(".{name}.part-{}-{n}", std::process::id())),
        done: false,
    };
    let f = tokio::fs::File::create(&part.path)
        .await
        .map_err(|e| Error::Io(format!("cannot create {}: {e}", part.path.display())))?;
    let write_error =
        |e: std::io::Error| Error::Io(format!("cannot write {}: {e}", dest.display()));
    // Chunks arrive in pieces of a few KiB: each write of a tokio file is a trip to the
    // blocking pool, so they are gathered into writes of 1 MiB.
    let mut f = tokio::io::BufWriter::with_capacity(1 << 20, f);
    while let Some(chunk) = resp.chunk().await.map_err(classify_body)? {
        f.write_all(&chunk).await.map_err(write_error)?;
    }
    f.flush().await.map_err(write_error)?;
    drop(f);
    tokio::fs::rename(&part.path, dest).await.map_err(|e| {
        Error::Io(format!(
            "cannot move the download to {}: {e}",
            dest.display()
        ))
    })?;
    part.done = true;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write as _};
    use std::net::TcpListener;

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(
            encode_segments(&["instances", "a b/c", "é"]),
            "/instances/a%20b%2Fc/%C3%A9"
        );
        assert_eq!(encode_segments(&["raw.gz", "x-y_z~"]), "/raw.gz/x-y_z~");
    }

    #[test]
    fn query_keeps_separators_orthanc_reads() {
        let q = |p: &[(&str, &str)]| {
            encode_query(
                &p.iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(
            q(&[("requested-tags", "0008,103E;PatientName")]),
            "requested-tags=0008,103E;PatientName"
        );
        assert_eq!(q(&[("expand", ""), ("limit", "3")]), "expand&limit=3");
        assert_eq!(q(&[("a", "x y&z=1+2#")]), "a=x%20y%26z%3D1%2B2%23");
        assert_eq!(q(&[("f", "caf\u{e9}")]), "f=caf%C3%A9");
    }

    #[test]
    fn pem_blocks_are_picked_by_label() {
        let pem = b"junk\n-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n\
                    -----BEGIN PRIVATE KEY-----\nBBB\n-----END PRIVATE KEY-----\n\
                    -----BEGIN CERTIFICATE-----\nCCC\n-----END CERTIFICATE-----\n";
        let certs = String::from_utf8(pem_blocks(pem, "CERTIFICATE")).unwrap();
        assert_eq!(certs.matches("BEGIN CERTIFICATE").count(), 2);
        assert!(!certs.contains("BBB"));
        let key = String::from_utf8(pem_blocks(pem, "PRIVATE KEY")).unwrap();
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----") && key.contains("BBB"));
        assert!(pem_blocks(
            b"-----BEGIN EC PRIVATE KEY-----\nx\n-----END EC PRIVATE KEY-----",
            "PRIVATE KEY"
        )
        .is_empty());
    }

    #[test]
    fn url_of_matches_parsing_the_whole_url() {
        for base in [
            "http://127.0.0.1:8042",
            "http://h:1/orthanc/",
            "https://x.org/a/b",
        ] {
            let c = Client::new(Config {
                base_url: base.into(),
                ..Config::default()
            })
            .unwrap();
            for path in [
                "/system",
                "/instances/a%2Fb/tags",
                "/a b/\u{e9}",
                "/x/../y",
                "/tools/find?expand",
                "/p#frag",
                "/",
            ] {
                let whole = reqwest::Url::parse(&c.url_for(path)).unwrap();
                assert_eq!(c.url_of(path).unwrap(), whole, "{base} {path}");
            }
        }
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(redact_url("http://u:secret@host:1/x"), "http://host:1/x");
        assert!(!redact_url("weird://u:secret@").contains("secret"));
    }

    #[test]
    fn debug_hides_password() {
        let c = Config {
            password: Some("hunter2".into()),
            ..Config::default()
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        let client = Client::new(c).unwrap();
        assert!(!format!("{client:?}").contains("hunter2"));
    }

    #[test]
    fn bad_urls_are_refused() {
        for u in ["not a url", "ftp://x", "http://"] {
            let c = Config {
                base_url: u.into(),
                ..Config::default()
            };
            assert!(matches!(Client::new(c), Err(Error::Invalid(_))), "{u}");
        }
    }

    fn closed_port() -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }

    #[test]
    fn refused_connection_is_a_connection_error() {
        let c = Client::new(Config {
            base_url: format!("http://127.0.0.1:{}", closed_port()),
            retries: 1,
            ..Config::default()
        })
        .unwrap();
        let r = c.perform(&Request::new(Method::GET, "/system"), &|| false);
        assert!(matches!(r, Err(Error::Connection(_))), "{r:?}");
    }

    /// A one-shot server answering `answer` after reading the request head.
    fn serve_once(answer: &'static [u8], delay: Duration, hold: Duration) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = l.accept() {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                std::thread::sleep(delay);
                let _ = s.write_all(answer);
                std::thread::sleep(hold);
            }
        });
        port
    }

    #[test]
    fn slow_server_is_a_timeout() {
        let port = serve_once(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
            Duration::from_millis(1500),
            Duration::ZERO,
        );
        let c = Client::new(Config {
            base_url: format!("http://127.0.0.1:{port}"),
            timeout: Some(Duration::from_millis(200)),
            ..Config::default()
        })
        .unwrap();
        let r = c.perform(&Request::new(Method::GET, "/"), &|| false);
        assert!(matches!(r, Err(Error::Timeout(_))), "{r:?}");
    }

    #[test]
    fn interrupt_cancels_and_leaves_no_file() {
        let port = serve_once(
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc",
            Duration::ZERO,
            Duration::from_secs(5),
        );
        let c = Client::new(Config {
            base_url: format!("http://127.0.0.1:{port}"),
            ..Config::default()
        })
        .unwrap();
        let dir = std::env::temp_dir().join(format!("orthanc-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dest = dir.join("out.bin");
        let mut req = Request::new(Method::GET, "/");
        req.dest = Some(dest.clone());
        let start = std::time::Instant::now();
        let r = c.perform(&req, &|| start.elapsed() > Duration::from_millis(300));
        assert_eq!(r.unwrap_err(), Error::Interrupted);
        assert!(start.elapsed() < Duration::from_secs(1));
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "no partial file is left"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn truncated_download_leaves_no_file() {
        // The server promises 100 bytes, sends 3, then closes.
        let port = serve_once(
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc",
            Duration::ZERO,
            Duration::ZERO,
        );
        let c = Client::new(Config {
            base_url: format!("http://127.0.0.1:{port}"),
            retries: 0,
            ..Config::default()
        })
        .unwrap();
        let dir = std::env::temp_dir().join(format!("orthanc-test2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut req = Request::new(Method::GET, "/");
        req.dest = Some(dir.join("out.bin"));
        let r = c.perform(&req, &|| false);
        assert!(matches!(r, Err(Error::Connection(_))), "{r:?}");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
