//! The extendr boundary of the `orthanc` R package: a handful of functions. Transport lives
//! in `http`, JSON <-> R in `json`; errors cross as data (a list with `error`) and the R side
//! raises the classed condition.
//!
//! The R wrappers of these functions (R/extendr-wrappers.R) are generated from this module by
//! `Rscript dev/update-wrappers.R`, which asks the compiled library for them
//! (`wrap__make_orthanc_wrappers`), as rextendr::document() does.

use extendr_api::prelude::*;
use extendr_ffi::{
    cetype_t, R_NaString, R_NamesSymbol, R_NilValue, R_PreserveObject, Rf_ScalarInteger,
    Rf_allocVector, Rf_getAttrib, Rf_mkCharLenCE, Rf_protect, Rf_setAttrib, Rf_unprotect, LOGICAL,
    RAW, SET_STRING_ELT, SET_VECTOR_ELT, SEXP, SEXPTYPE, STRING_ELT, TYPEOF, VECTOR_ELT, XLENGTH,
};
use orthanc_core::http::{self, Body, Client, Config, Error, Method, Request, Response};
use orthanc_core::npy;
use std::path::PathBuf;
use std::time::Duration;

pub mod json;
mod rapi;

fn error_list(kind: &str, message: &str) -> Robj {
    list!(error = kind, message = message).into()
}

/// A transport error, with the URL it happened on.
fn error_at(kind: &str, message: &str, url: &str) -> Robj {
    let mut l = list!(error = kind, message = message, url = url);
    let _ = l.set_class(&["orthanc_transport_error"]);
    l.into()
}

fn opt_string(x: &Robj) -> Option<String> {
    if x.is_null() {
        None
    } else {
        x.as_str().map(|s| s.to_string())
    }
}

/// Text of a number for a query string or a header: whole numbers without a decimal point.
fn real_text(v: f64) -> Option<String> {
    if !v.is_finite() {
        None
    } else if v == v.trunc() && v.abs() < 9.0e15 {
        Some((v as i64).to_string())
    } else {
        Some(v.to_string())
    }
}

/// The values of an atomic vector as text (None for NA); None when `x` is not atomic.
/// Strings are read by `char_to_str()` (not extendr's reader, which takes the bytes as
/// UTF-8 unchecked): one in "bytes" encoding or not valid UTF-8 is refused, named `what`.
fn atom_texts(
    x: &Robj,
    what: impl std::fmt::Display,
) -> std::result::Result<Option<Vec<Option<String>>>, String> {
    Ok(match x.rtype() {
        Rtype::Strings => {
            // SAFETY: `x` is a character vector (checked above), alive for this call; its
            // elements are CHARSXPs.
            let sx = unsafe { x.get() };
            let mut out = Vec::with_capacity(x.len());
            for i in 0..x.len() {
                let ch = unsafe { STRING_ELT(sx, i as isize) };
                if ch == unsafe { R_NaString } {
                    out.push(None);
                } else {
                    let s = unsafe { char_str(ch, format_args!("`{what}[{}]`", i + 1)) }?;
                    out.push(Some(s.to_string()));
                }
            }
            Some(out)
        }
        Rtype::Logicals => x.as_logical_slice().map(|s| {
            s.iter()
                .map(|b| (!b.is_na()).then(|| if b.is_true() { "true" } else { "false" }.into()))
                .collect()
        }),
        Rtype::Integers => x.as_integer_slice().map(|s| {
            s.iter()
                .map(|&v| (v != i32::MIN).then(|| v.to_string()))
                .collect()
        }),
        Rtype::Doubles => x
            .as_real_slice()
            .map(|s| s.iter().map(|&v| real_text(v)).collect()),
        _ => None,
    })
}

/// The names of `x` as text ("NA" for NA), read by `char_to_str()`; None without names.
fn names_of(x: &Robj, what: &str) -> std::result::Result<Option<Vec<String>>, String> {
    // SAFETY: `x` is alive for this call; R's names attribute is NULL or a character vector.
    unsafe {
        let names = Rf_getAttrib(x.get(), R_NamesSymbol);
        if TYPEOF(names) != SEXPTYPE::STRSXP {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(XLENGTH(names) as usize);
        for i in 0..XLENGTH(names) {
            let ch = STRING_ELT(names, i);
            out.push(if ch == R_NaString {
                "NA".to_string()
            } else {
                char_str(ch, format_args!("A name in `{what}`"))?.to_string()
            });
        }
        Ok(Some(out))
    }
}

/// Named list or named atomic vector -> (name, value) pairs. NULL elements are dropped; an
/// element of length > 1 gives one pair per value. (R has checked that names are there.)
fn pairs(x: &Robj, what: &str) -> std::result::Result<Vec<(String, String)>, String> {
    if x.is_null() {
        return Ok(vec![]);
    }
    let names: Vec<String> = match names_of(x, what)? {
        Some(n) => n,
        None if x.len() == 0 => return Ok(vec![]),
        None => return Err(format!("`{what}` must be a named list")),
    };
    let mut out = Vec::with_capacity(names.len());
    if let Some(list) = x.as_list() {
        for (name, v) in names.iter().zip(list.values()) {
            if v.is_null() {
                continue;
            }
            let texts = atom_texts(&v, format_args!("{what}${name}"))?.ok_or_else(|| {
                format!("`{what}${name}` must be a string, number or logical value")
            })?;
            for t in texts {
                let t = t.ok_or_else(|| format!("`{what}${name}` must not be NA or infinite"))?;
                out.push((name.clone(), t));
            }
        }
    } else {
        let texts = atom_texts(x, what)?.ok_or_else(|| format!("`{what}` must be a named list"))?;
        for (name, t) in names.into_iter().zip(texts) {
            if let Some(t) = t {
                out.push((name, t));
            }
        }
    }
    Ok(out)
}

/// The live client behind an external pointer made by `rs_client_new()`. A pointer restored
/// by readRDS() (or from another session) has a NULL address: the error "stale" tells the R
/// side to reconnect. No `Robj` is made: this runs for every request.
fn client_of(x: SEXP) -> std::result::Result<&'static Client, Robj> {
    unsafe {
        if TYPEOF(x) != SEXPTYPE::EXTPTRSXP {
            return Err(error_list("argument", "not an Orthanc client"));
        }
        // ExternalPtr<T> stores a Box<Box<dyn Any>> (extendr-api 0.9, externalptr.rs).
        let addr = extendr_ffi::R_ExternalPtrAddr(x) as *const Box<dyn std::any::Any>;
        if addr.is_null() {
            return Err(error_list(
                "stale",
                "the client is not connected (made in another R session)",
            ));
        }
        // The object stays alive while R holds the pointer, i.e. during this call.
        (*addr)
            .downcast_ref::<Client>()
            .ok_or_else(|| error_list("argument", "not an Orthanc client"))
    }
}

/// The UTF-8 text of a CHARSXP (not NA) of the request value; `what` names it in the refusal
/// of a string that is in "bytes" encoding or not valid UTF-8.
/// `what` is formatted only for a refusal (callers pass `format_args!`: nothing is allocated
/// on the path of every request).
unsafe fn char_str<'a>(
    ch: SEXP,
    what: impl std::fmt::Display,
) -> std::result::Result<&'a str, String> {
    json::char_to_str(ch).map_err(|w| format!("{what} is {w}, which cannot be sent"))
}

/// A string element of a character vector of length >= 1, or None.
unsafe fn sexp_str<'a>(
    x: SEXP,
    what: impl std::fmt::Display,
) -> std::result::Result<Option<&'a str>, String> {
    if TYPEOF(x) == SEXPTYPE::STRSXP && XLENGTH(x) >= 1 && STRING_ELT(x, 0) != R_NaString {
        char_str(STRING_ELT(x, 0), what).map(Some)
    } else {
        Ok(None)
    }
}

/// The segments of a route: a character vector, converted and checked by the R function
/// `route_segments()`; its names are the arguments the user's values came from (empty for
/// the literal parts), so that a refused string is named as the user wrote it.
unsafe fn route_segments<'a>(v: SEXP) -> std::result::Result<Vec<&'a str>, String> {
    if TYPEOF(v) != SEXPTYPE::STRSXP {
        return Err("`path` must be a character vector".into());
    }
    let names = Rf_getAttrib(v, R_NamesSymbol);
    let named = TYPEOF(names) == SEXPTYPE::STRSXP;
    (0..XLENGTH(v))
        .map(|j| {
            let name = if named && STRING_ELT(names, j) != R_NaString {
                char_str(STRING_ELT(names, j), "A name of the route")?
            } else {
                ""
            };
            if STRING_ELT(v, j) == R_NaString {
                return Err("A part of the route is NA".to_string());
            }
            if name.is_empty() {
                char_str(STRING_ELT(v, j), "A part of the route")
            } else {
                char_str(STRING_ELT(v, j), format_args!("`{name}`"))
            }
        })
        .collect()
}

/// The one request value of the R side, parsed once:
/// `list(method, path, encode, query, headers, cookies, body_kind, body, dest)`.
/// `path` is a route (`encode = FALSE`) or the segments of one, percent-encoded here.
/// Read through raw SEXPs: no `Robj` (and no entry in extendr's ownership table) is made
/// unless there are query parameters, headers or cookies.
fn parse_request(x: SEXP) -> std::result::Result<Request, String> {
    unsafe {
        if TYPEOF(x) != SEXPTYPE::VECSXP {
            return Err("the request must be a list".into());
        }
        let names = Rf_getAttrib(x, R_NamesSymbol);
        if TYPEOF(names) != SEXPTYPE::STRSXP {
            return Err("the request must be a named list".into());
        }
        let mut method = None;
        let mut segments: Vec<&str> = vec![];
        let mut encode = false;
        let (mut query, mut headers, mut cookies) = (vec![], vec![], vec![]);
        let mut body_kind = "none";
        let mut body = R_NilValue;
        let mut dest = None;
        let as_robj = |v: SEXP| Robj::from_sexp(v);
        for i in 0..XLENGTH(x) {
            let v = VECTOR_ELT(x, i);
            let field = if STRING_ELT(names, i) == R_NaString {
                ""
            } else {
                char_str(STRING_ELT(names, i), "A name of the request")?
            };
            match field {
                "method" => method = sexp_str(v, "`method`")?.map(|m| m.to_ascii_uppercase()),
                "path" => segments = route_segments(v)?,
                "encode" => {
                    encode = TYPEOF(v) == SEXPTYPE::LGLSXP && XLENGTH(v) >= 1 && *LOGICAL(v) == 1
                }
                "query" if v != R_NilValue => query = pairs(&as_robj(v), "params")?,
                "headers" if v != R_NilValue => headers = pairs(&as_robj(v), "headers")?,
                "cookies" if v != R_NilValue => cookies = pairs(&as_robj(v), "cookies")?,
                "body_kind" => body_kind = sexp_str(v, "`body_kind`")?.unwrap_or("none"),
                "body" => body = v,
                "dest" => dest = sexp_str(v, "The destination file's path")?.map(PathBuf::from),
                _ => {}
            }
        }
        let method = method.ok_or("the request has no method")?;
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|_| format!("`{method}` is not an HTTP method"))?;
        let path = if encode {
            http::encode_segments(&segments)
        } else {
            let p = segments.first().copied().unwrap_or_default();
            if p.starts_with('/') {
                p.to_string()
            } else {
                format!("/{p}")
            }
        };
        let mut req = Request::new(method, path);
        req.query = query;
        req.headers = headers;
        if !cookies.is_empty() {
            let v: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            req.headers.push(("cookie".into(), v.join("; ")));
        }
        req.body = match body_kind {
            "none" => Body::Empty,
            "json" => Body::Json(json::sexp_to_json(body).map_err(|e| e.0)?.into()),
            "raw" => {
                if TYPEOF(body) != SEXPTYPE::RAWSXP {
                    return Err("`data` must be a raw vector".into());
                }
                let n = XLENGTH(body) as usize;
                let bytes: &[u8] = if n == 0 {
                    &[]
                } else {
                    std::slice::from_raw_parts(RAW(body), n)
                };
                Body::Raw(bytes::Bytes::copy_from_slice(bytes))
            }
            "text" => Body::Text(bytes::Bytes::copy_from_slice(
                sexp_str(body, "`data`")?
                    .ok_or("`data` must be a string")?
                    .as_bytes(),
            )),
            "file" => Body::File(PathBuf::from(
                sexp_str(body, "`file`")?.ok_or("`file` must be a path")?,
            )),
            other => return Err(format!("unknown body kind `{other}`")),
        };
        req.dest = dest;
        Ok(req)
    }
}

/// Make a client. Returns an external pointer, or an error list.
#[extendr]
#[allow(clippy::too_many_arguments)]
fn rs_client_new(
    url: &str,
    username: Robj,
    password: Robj,
    timeout: f64,
    retries: i32,
    retry_methods: Strings,
    verify: bool,
    ca_file: Robj,
    cert_file: Robj,
    key_file: Robj,
    user_agent: &str,
) -> Robj {
    let mut methods = Vec::new();
    for m in retry_methods.iter() {
        match Method::from_bytes(m.to_ascii_uppercase().as_bytes()) {
            Ok(m) => methods.push(m),
            Err(_) => {
                return error_list(
                    "argument",
                    &format!("`{}` is not an HTTP method", m.as_ref()),
                )
            }
        }
    }
    let config = Config {
        base_url: url.to_string(),
        username: opt_string(&username),
        password: opt_string(&password),
        timeout: if timeout.is_finite() && timeout > 0.0 {
            Some(Duration::from_secs_f64(timeout))
        } else {
            None
        },
        retries: retries.max(0) as u32,
        retry_methods: methods,
        verify,
        ca_file: opt_string(&ca_file).map(PathBuf::from),
        cert_file: opt_string(&cert_file).map(PathBuf::from),
        key_file: opt_string(&key_file).map(PathBuf::from),
        user_agent: user_agent.to_string(),
    };
    match Client::new(config) {
        Ok(c) => ExternalPtr::new(c).into(),
        Err(e) => error_list(e.kind(), &e.to_string()),
    }
}

/// TRUE when `ptr` is a live client of this session (FALSE after saveRDS()/readRDS()).
#[extendr]
fn rs_client_valid(ptr: Robj) -> bool {
    if ptr.rtype() != Rtype::ExternalPtr {
        return false;
    }
    unsafe { !extendr_ffi::R_ExternalPtrAddr(ptr.get()).is_null() }
}

/// A CHARSXP in UTF-8 (for text that is known to hold no NUL).
unsafe fn mk_char(s: &str) -> SEXP {
    Rf_mkCharLenCE(s.as_ptr() as *const _, s.len() as i32, cetype_t::CE_UTF8)
}

/// A character(1), unprotected.
unsafe fn mk_string(s: &str) -> SEXP {
    scalar_string(mk_char(s))
}

/// A character(1) holding the CHARSXP `ch` (protected here meanwhile), unprotected.
unsafe fn scalar_string(ch: SEXP) -> SEXP {
    let ch = Rf_protect(ch);
    let out = Rf_allocVector(SEXPTYPE::STRSXP, 1);
    SET_STRING_ELT(out, 0, ch);
    Rf_unprotect(1);
    out
}

/// Decode an answer's body by its content type: JSON -> R objects, text -> character(1),
/// empty -> NULL, anything else -> raw vector. The result is unprotected.
unsafe fn decode_body(content_type: &str, body: &[u8]) -> std::result::Result<SEXP, String> {
    if body.is_empty() {
        return Ok(R_NilValue);
    }
    if content_type == "application/json" || content_type.ends_with("+json") {
        return json::json_to_r(body)
            .map_err(|e| format!("the answer is not the JSON it claims to be: {e}"));
    }
    if content_type.starts_with("text/") {
        return match std::str::from_utf8(body) {
            Ok(s) if !s.contains('\0') && s.len() <= i32::MAX as usize => Ok(mk_string(s)),
            Ok(s) if s.contains('\0') => Err("the text answer contains a NUL character".into()),
            Ok(_) => Err("the text answer is longer than R allows".into()),
            Err(e) => Err(format!("the text answer is not valid UTF-8 ({e})")),
        };
    }
    let out = Rf_allocVector(SEXPTYPE::RAWSXP, body.len() as isize);
    std::ptr::copy_nonoverlapping(body.as_ptr(), RAW(out), body.len());
    Ok(out)
}

/// The CHARSXPs of the short strings every answer repeats (header names and most values,
/// the URL, the content type), in a small direct-mapped table kept for the session: a slot
/// holds the last string that hashed there, so a changing value (`content-length`) only
/// replaces its own slot. A hit costs a hash and a comparison instead of R's own lookup
/// (`Rf_mkCharLenCE` checks, hashes and searches R's global string cache). Main thread only.
const ANSWER_STRS: usize = 64;
const ANSWER_STR_MAX: usize = 128;

struct AnswerStrings {
    keys: Vec<Box<[u8]>>,
    store: SEXP,
}

thread_local! {
    static ANSWER_STRINGS: std::cell::RefCell<Option<AnswerStrings>> =
        const { std::cell::RefCell::new(None) };
}

/// The CHARSXP of `s` (unprotected; a cached one is kept alive by the table).
unsafe fn answer_char(s: &str) -> SEXP {
    if s.len() > ANSWER_STR_MAX {
        return mk_char(s);
    }
    // FNV-1a: the strings are short.
    let h = s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let slot = (h >> 58) as usize % ANSWER_STRS;
    ANSWER_STRINGS.with(|cell| {
        let mut guard = cell.borrow_mut();
        let t = guard.get_or_insert_with(|| {
            let store = Rf_allocVector(SEXPTYPE::STRSXP, ANSWER_STRS as isize);
            R_PreserveObject(store);
            AnswerStrings {
                keys: vec![Box::default(); ANSWER_STRS],
                store,
            }
        });
        if *t.keys[slot] == *s.as_bytes() && !s.is_empty() {
            return STRING_ELT(t.store, slot as isize);
        }
        let ch = mk_char(s);
        SET_STRING_ELT(t.store, slot as isize, ch);
        t.keys[slot] = s.as_bytes().into();
        ch
    })
}

/// A character(1) of `s` through `answer_char()`, unprotected.
unsafe fn answer_string(s: &str) -> SEXP {
    scalar_string(answer_char(s))
}

/// The names of an answer's list, made once and kept for the session (a names attribute
/// may be shared: R copies it before any change).
fn answer_names() -> SEXP {
    use std::sync::atomic::{AtomicPtr, Ordering};
    static NAMES: AtomicPtr<extendr_ffi::SEXPREC> = AtomicPtr::new(std::ptr::null_mut());
    let p = NAMES.load(Ordering::Relaxed);
    if !p.is_null() {
        return p as SEXP;
    }
    unsafe {
        let fields = ["status", "url", "content_type", "headers", "body", "file"];
        let names = Rf_protect(Rf_allocVector(SEXPTYPE::STRSXP, fields.len() as isize));
        for (i, f) in fields.iter().enumerate() {
            SET_STRING_ELT(names, i as isize, mk_char(f));
        }
        R_PreserveObject(names);
        Rf_unprotect(1);
        NAMES.store(names as *mut _, Ordering::Relaxed);
        names
    }
}

/// An answer (or a transport error) as the R side reads it:
/// list(status, url, content_type, headers, body, file), or
/// list(error, message, url[, status, text]). The answer is built from raw SEXPs under
/// Rf_protect (no `Robj`, no entry in extendr's ownership table).
fn result_to_r(client: &Client, path: &str, result: std::result::Result<Response, Error>) -> Robj {
    let resp = match result {
        Ok(r) => r,
        Err(e) => return error_at(e.kind(), &e.to_string(), &client.url_for(path)),
    };
    let status = resp.status as i32;
    // The final URL only holds credentials when a redirect put them there.
    let url = if resp.url.contains('@') {
        http::redact_url(&resp.url)
    } else {
        resp.url.clone()
    };
    // Orthanc sends its error descriptions as JSON labelled text/plain.
    let content_type = if status >= 400 && resp.body.first() == Some(&b'{') {
        "application/json"
    } else {
        resp.content_type.as_str()
    };
    unsafe {
        let body = match decode_body(content_type, &resp.body) {
            Ok(body) => body,
            // An error status with an undecodable body: report the status, with the text.
            Err(_) if status >= 400 => mk_string(
                &String::from_utf8_lossy(&resp.body[..resp.body.len().min(2000)]).replace('\0', ""),
            ),
            Err(msg) => {
                let text =
                    String::from_utf8_lossy(&resp.body[..resp.body.len().min(2000)]).into_owned();
                return list!(
                    error = "decode",
                    message = msg,
                    status = status,
                    url = url,
                    text = text
                )
                .into();
            }
        };
        let body = Rf_protect(body);
        let out = Rf_protect(Rf_allocVector(SEXPTYPE::VECSXP, 6));
        SET_VECTOR_ELT(out, 4, body);
        SET_VECTOR_ELT(out, 0, Rf_ScalarInteger(status));
        SET_VECTOR_ELT(out, 1, answer_string(&url));
        SET_VECTOR_ELT(out, 2, answer_string(content_type));
        let n = resp.headers.len() as isize;
        let hv = Rf_allocVector(SEXPTYPE::STRSXP, n);
        SET_VECTOR_ELT(out, 3, hv);
        let hn = Rf_allocVector(SEXPTYPE::STRSXP, n);
        Rf_setAttrib(hv, R_NamesSymbol, hn);
        for (i, (k, v)) in resp.headers.iter().enumerate() {
            // Header names and values hold no NUL (the http crate refuses them).
            SET_STRING_ELT(hn, i as isize, answer_char(k));
            SET_STRING_ELT(hv, i as isize, answer_char(v));
        }
        if let Some(p) = &resp.file {
            SET_VECTOR_ELT(out, 5, mk_string(p.to_string_lossy().as_ref()));
        }
        Rf_setAttrib(out, R_NamesSymbol, answer_names());
        Rf_unprotect(2);
        Robj::from_sexp(out)
    }
}

/// Perform one request, described by one value (see the R function `request_value()`).
/// Returns list(status, url, content_type, headers, body, file) or
/// list(error, message, url[, status]).
#[extendr]
fn rs_perform(client: Robj, request: Robj) -> Robj {
    let client = match client_of(unsafe { client.get() }) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let req = match parse_request(unsafe { request.get() }) {
        Ok(r) => r,
        Err(e) => return error_at("argument", &e, client.config().base_url.as_str()),
    };
    let result = client.perform(&req, &rapi::user_interrupted);
    result_to_r(client, &req.path, result)
}

/// Perform many requests (a list of request values), at most `concurrency` at once.
/// `progress`: NULL or an R function of (done, total), called from this thread at most every
/// 100 ms. Returns a list with one result per request (as `rs_perform()`'s), or one error
/// list when the batch was interrupted.
#[extendr]
fn rs_perform_batch(client: Robj, requests: List, concurrency: i32, progress: Robj) -> Robj {
    let client = match client_of(unsafe { client.get() }) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let base = client.config().base_url.clone();
    let parsed: Vec<std::result::Result<Request, String>> = requests
        .values()
        .map(|r| parse_request(unsafe { r.get() }))
        .collect();
    let valid: Vec<Request> = parsed
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .cloned()
        .collect();
    let mut report = |done: usize, total: usize| {
        if let Some(f) = progress.as_function() {
            let _ = f.call(pairlist!(done as f64, total as f64));
        }
    };
    let results = match orthanc_core::batch::perform_all(
        client,
        &valid,
        concurrency.max(1) as usize,
        &rapi::user_interrupted,
        &mut report,
    ) {
        Ok(r) => r,
        Err(e) => return error_at(e.kind(), &e.to_string(), &base),
    };
    let mut results = results.into_iter();
    let out: Vec<Robj> = parsed
        .iter()
        .map(|p| match p {
            Ok(req) => match results.next() {
                Some(r) => result_to_r(client, &req.path, r),
                None => error_at("io", "the request was not performed", &base),
            },
            Err(e) => error_at("argument", e, &base),
        })
        .collect();
    List::from_values(out).into()
}

/// Encode R objects as JSON text (the rules used for `json =` bodies).
#[extendr]
fn rs_to_json(x: Robj) -> Robj {
    match json::r_to_json(&x) {
        Ok(b) => String::from_utf8_lossy(&b).as_ref().into(),
        Err(e) => error_list("argument", &e.0),
    }
}

/// Parse JSON text or bytes into R objects (the rules used for answers).
#[extendr]
fn rs_from_json(x: Robj) -> Robj {
    let bytes: &[u8] = if let Some(b) = x.as_raw_slice() {
        b
    } else if let Some(s) = x.as_str() {
        s.as_bytes()
    } else {
        return error_list("argument", "expected a string or a raw vector");
    };
    match json::json_to_r(bytes) {
        Ok(s) => unsafe { Robj::from_sexp(s) },
        Err(e) => error_list("decode", &e),
    }
}

/// Decode pixel data answered by Orthanc into an R array (integer when every value fits,
/// double otherwise). `format`: `"npy"` (a `.npy` file), `"pam"` or `"pam-signed"` (a PAM
/// image, 16-bit samples read as unsigned or two's complement). `axes`: NULL, or the
/// 1-based permutation of the decoded axes (as for `aperm()`): for a `.npy` file the axes
/// are the file's (C order or not), for PAM (rows, columns, samples). Returns the array, or
/// an error list.
#[extendr]
fn rs_decode_pixels(bytes: Robj, format: &str, axes: Robj) -> Robj {
    let Some(bytes) = bytes.as_raw_slice() else {
        return error_list("decode", "the pixel data is not a raw vector");
    };
    let decoded = match format {
        "npy" => npy::decode_npy(bytes),
        "pam" => npy::decode_pam(bytes, false),
        "pam-signed" => npy::decode_pam(bytes, true),
        other => return error_list("argument", &format!("unknown pixel format `{other}`")),
    };
    let array = match decoded {
        Ok(a) => a,
        Err(e) => return error_list("decode", &e.0),
    };
    let array = if axes.is_null() {
        Ok(array)
    } else {
        let axes: Vec<usize> = match axes.as_integer_slice() {
            Some(a) if a.iter().all(|&v| v >= 1) => a.iter().map(|&v| (v - 1) as usize).collect(),
            _ => return error_list("argument", "`axes` must be positive integers"),
        };
        array.permuted(&axes)
    };
    let array = match array {
        Ok(a) => a,
        Err(e) => return error_list("decode", &e.0),
    };
    let mut dims = Vec::with_capacity(array.shape.len());
    for &d in &array.shape {
        match i32::try_from(d) {
            Ok(d) => dims.push(d),
            Err(_) => return error_list("decode", "a dimension is too large for R"),
        }
    }
    let mut out: Robj = match array.values {
        npy::Values::Int(v) => v.into(),
        npy::Values::Real(v) => v.into(),
    };
    if !dims.is_empty() && out.set_attrib("dim", dims).is_err() {
        return error_list("decode", "cannot set the dimensions");
    }
    out
}

/// The Orthanc identifiers of local DICOM files, read from their tags without the server
/// (orthanc_core::dicom_ids). Returns list(patient, study, series, instance,
/// sop_instance_uid, message): one element per path in each; NA ids and a message for a file
/// that cannot be read.
#[extendr]
fn rs_dicom_ids(paths: Strings) -> Robj {
    let n = paths.len();
    let (mut patient, mut study, mut series, mut instance, mut sop, mut message) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for (i, path) in paths.iter().enumerate() {
        if i % 64 == 63 && rapi::user_interrupted() {
            return error_list("interrupt", "interrupted");
        }
        let result = if path.is_na() {
            Err("the path is NA".to_string())
        } else {
            let path: &str = path;
            orthanc_core::dicom_ids::read_uids(std::path::Path::new(path))
                .map_err(|e| e.to_string())
        };
        match result {
            Ok(uids) => {
                let ids = uids.orthanc_ids();
                sop.push(Some(uids.sop_instance_uid));
                patient.push(Some(ids.patient));
                study.push(Some(ids.study));
                series.push(Some(ids.series));
                instance.push(Some(ids.instance));
                message.push(None);
            }
            Err(e) => {
                patient.push(None);
                study.push(None);
                series.push(None);
                instance.push(None);
                sop.push(None);
                message.push(Some(e));
            }
        }
    }
    let strings = |v: Vec<Option<String>>| -> Robj {
        v.into_iter()
            .map(|s| match s {
                Some(s) => Rstr::from(s),
                None => Rstr::na(),
            })
            .collect::<Strings>()
            .into()
    };
    list!(
        patient = strings(patient),
        study = strings(study),
        series = strings(series),
        instance = strings(instance),
        sop_instance_uid = strings(sop),
        message = strings(message)
    )
    .into()
}

/// Panics on purpose: the tests check that a Rust panic becomes an R error and never
/// aborts the R session.
#[extendr]
fn rs_panic_probe(message: &str) -> Robj {
    panic!("{}", message.to_string());
}

extendr_module! {
    mod orthanc;
    fn rs_client_new;
    fn rs_client_valid;
    fn rs_perform;
    fn rs_perform_batch;
    fn rs_to_json;
    fn rs_from_json;
    fn rs_decode_pixels;
    fn rs_dicom_ids;
    fn rs_panic_probe;
}
