//! The extendr boundary of the `orthanc` R package: a handful of functions. Transport lives
//! in `http`, JSON <-> R in `json`; errors cross as data (a list with `error`) and the R side
//! raises the classed condition.
//!
//! The R wrappers of these functions (R/extendr-wrappers.R) are generated from this module by
//! `Rscript tools/update-wrappers.R`, which asks the compiled library for them
//! (`wrap__make_orthanc_wrappers`), as rextendr::document() does.

use extendr_api::prelude::*;
use extendr_ffi::{
    R_NaInt, R_NaString, R_NamesSymbol, R_NilValue, Rf_getAttrib, INTEGER, LOGICAL, REAL, SEXP,
    SEXPTYPE, STRING_ELT, TYPEOF, VECTOR_ELT, XLENGTH,
};
use std::path::PathBuf;
use std::time::Duration;

pub mod http;
pub mod json;
mod rapi;
pub mod runtime;

use http::{Body, Client, Config, Error, Request};

fn error_list(kind: &str, message: &str) -> Robj {
    list!(error = kind, message = message).into()
}

fn err_robj(e: &Error) -> Robj {
    error_list(e.kind(), &e.to_string())
}

/// The text of element `i` of a character vector, None for NA.
unsafe fn str_elt(x: SEXP, i: isize) -> Option<String> {
    let c = STRING_ELT(x, i);
    if c == R_NaString {
        return None;
    }
    let p = rapi::Rf_translateCharUTF8(c);
    Some(std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned())
}

/// Text form of one element of an atomic vector, for query strings and headers.
unsafe fn atom_text(x: SEXP, i: isize) -> Option<String> {
    match TYPEOF(x) {
        SEXPTYPE::STRSXP => str_elt(x, i),
        SEXPTYPE::LGLSXP => match *LOGICAL(x).offset(i) {
            v if v == R_NaInt => None,
            0 => Some("false".into()),
            _ => Some("true".into()),
        },
        SEXPTYPE::INTSXP => match *INTEGER(x).offset(i) {
            v if v == R_NaInt => None,
            v => Some(v.to_string()),
        },
        SEXPTYPE::REALSXP => {
            let v = *REAL(x).offset(i);
            if !v.is_finite() {
                None
            } else if v == v.trunc() && v.abs() < 9.0e15 {
                Some((v as i64).to_string())
            } else {
                Some(v.to_string())
            }
        }
        _ => None,
    }
}

/// Named list or named atomic vector -> (name, value) pairs. NULL elements are dropped;
/// an element of length > 1 gives one pair per value.
fn pairs(x: &Robj, what: &str) -> std::result::Result<Vec<(String, String)>, String> {
    unsafe {
        let x = x.get();
        let ty = TYPEOF(x);
        if ty == SEXPTYPE::NILSXP {
            return Ok(vec![]);
        }
        let n = XLENGTH(x);
        let names = Rf_getAttrib(x, R_NamesSymbol);
        if n > 0 && names == R_NilValue {
            return Err(format!("`{what}` must be a named list"));
        }
        let mut out = Vec::with_capacity(n as usize);
        for i in 0..n {
            let name = str_elt(names, i).unwrap_or_default();
            if name.is_empty() {
                return Err(format!("every element of `{what}` must have a name"));
            }
            let (v, m) = match ty {
                SEXPTYPE::VECSXP => {
                    let v = VECTOR_ELT(x, i);
                    let len = match TYPEOF(v) {
                        SEXPTYPE::STRSXP
                        | SEXPTYPE::LGLSXP
                        | SEXPTYPE::INTSXP
                        | SEXPTYPE::REALSXP => XLENGTH(v),
                        _ => 0,
                    };
                    (v, len)
                }
                SEXPTYPE::STRSXP | SEXPTYPE::LGLSXP | SEXPTYPE::INTSXP | SEXPTYPE::REALSXP => {
                    (x, -1)
                }
                _ => return Err(format!("`{what}` must be a named list")),
            };
            if m == -1 {
                if let Some(t) = atom_text(v, i) {
                    out.push((name, t));
                }
                continue;
            }
            match TYPEOF(v) {
                SEXPTYPE::NILSXP => {}
                SEXPTYPE::STRSXP | SEXPTYPE::LGLSXP | SEXPTYPE::INTSXP | SEXPTYPE::REALSXP => {
                    for j in 0..m {
                        match atom_text(v, j) {
                            Some(t) => out.push((name.clone(), t)),
                            None => {
                                return Err(format!("`{what}${name}` must not be NA or infinite"))
                            }
                        }
                    }
                }
                _ => {
                    return Err(format!(
                        "`{what}${name}` must be a string, number or logical value"
                    ))
                }
            }
        }
        Ok(out)
    }
}

fn opt_string(x: &Robj) -> Option<String> {
    if x.is_null() {
        None
    } else {
        x.as_str().map(|s| s.to_string())
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
        match reqwest::Method::from_bytes(m.to_ascii_uppercase().as_bytes()) {
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
        Err(e) => err_robj(&e),
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

/// Decode an answer's body by its content type: JSON -> R objects, text -> character(1),
/// empty -> NULL, anything else -> raw vector.
fn decode_body(content_type: &str, body: &[u8]) -> std::result::Result<Robj, String> {
    if body.is_empty() {
        return Ok(Robj::from(()));
    }
    if content_type == "application/json" || content_type.ends_with("+json") {
        let s = json::json_to_r(body)
            .map_err(|e| format!("the answer is not the JSON it claims to be: {e}"))?;
        return Ok(unsafe { Robj::from_sexp(s) });
    }
    if content_type.starts_with("text/") {
        return match std::str::from_utf8(body) {
            Ok(s) if !s.contains('\0') => Ok(Robj::from(s)),
            Ok(_) => Err("the text answer contains a NUL character".into()),
            Err(e) => Err(format!("the text answer is not valid UTF-8 ({e})")),
        };
    }
    Ok(Robj::from(body))
}

/// Perform one request.
///
/// `path`: a route (when `encode` is FALSE) or the segments of one (percent-encoded here).
/// `body_kind`: "none", "json" (body is an R object to encode), "raw", "text" or "file".
/// `dest`: NULL, or a file to stream a successful answer's body into.
/// Returns list(status, url, type, headers, body, file) or list(error, message[, status]).
#[extendr]
#[allow(clippy::too_many_arguments)]
fn rs_request(
    client: Robj,
    method: &str,
    path: Strings,
    encode: bool,
    params: Robj,
    headers: Robj,
    cookies: Robj,
    body_kind: &str,
    body: Robj,
    dest: Robj,
) -> Robj {
    if !rs_client_valid(client.clone()) {
        return error_list(
            "argument",
            "the client is not connected (made in another R session)",
        );
    }
    let ptr: ExternalPtr<Client> = match client.try_into() {
        Ok(p) => p,
        Err(_) => return error_list("argument", "not an Orthanc client"),
    };
    let client: &Client = &ptr;
    let method = match reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()) {
        Ok(m) => m,
        Err(_) => return error_list("argument", &format!("`{method}` is not an HTTP method")),
    };
    let path = if encode {
        let segs: Vec<&str> = path.iter().map(|s| s.as_ref()).collect();
        http::encode_segments(&segs)
    } else {
        let p = path
            .iter()
            .next()
            .map(|s| s.as_ref().to_string())
            .unwrap_or_default();
        if p.starts_with('/') {
            p
        } else {
            format!("/{p}")
        }
    };
    let mut req = Request::new(method, path);
    match pairs(&params, "params") {
        Ok(p) => req.query = p,
        Err(e) => return error_list("argument", &e),
    }
    match pairs(&headers, "headers") {
        Ok(h) => req.headers = h,
        Err(e) => return error_list("argument", &e),
    }
    match pairs(&cookies, "cookies") {
        Ok(c) if !c.is_empty() => {
            let v: Vec<String> = c.iter().map(|(k, v)| format!("{k}={v}")).collect();
            req.headers.push(("cookie".into(), v.join("; ")));
        }
        Ok(_) => {}
        Err(e) => return error_list("argument", &e),
    }
    req.body = match body_kind {
        "none" => Body::Empty,
        "json" => match json::r_to_json(&body) {
            Ok(b) => Body::Json(b.into()),
            Err(e) => return error_list("argument", &e.0),
        },
        "raw" => match body.as_raw_slice() {
            Some(b) => Body::Raw(bytes::Bytes::copy_from_slice(b)),
            None => return error_list("argument", "`data` must be a raw vector or a string"),
        },
        "text" => match body.as_str() {
            Some(s) => Body::Text(bytes::Bytes::copy_from_slice(s.as_bytes())),
            None => return error_list("argument", "`data` must be a raw vector or a string"),
        },
        "file" => match body.as_str() {
            Some(s) => Body::File(PathBuf::from(s)),
            None => return error_list("argument", "`file` must be a path"),
        },
        other => return error_list("argument", &format!("unknown body kind `{other}`")),
    };
    req.dest = opt_string(&dest).map(PathBuf::from);

    let resp = match client.perform(&req, &rapi::user_interrupted) {
        Ok(r) => r,
        Err(e) => {
            let mut l = list!(
                error = e.kind(),
                message = e.to_string(),
                url = client.url_for(&req.path)
            );
            let _ = l.set_class(&["orthanc_transport_error"]);
            return l.into();
        }
    };
    let names: Vec<&str> = resp.headers.iter().map(|(k, _)| k.as_ref()).collect();
    let values: Vec<&str> = resp.headers.iter().map(|(_, v)| v.as_ref()).collect();
    let mut header_robj: Robj = values.into();
    let _ = header_robj.set_names(names);
    let file: Robj = match &resp.file {
        Some(p) => p.to_string_lossy().as_ref().into(),
        None => ().into(),
    };
    let status = resp.status as i32;
    // Orthanc sends its error descriptions as JSON labelled text/plain.
    let content_type = if status >= 400 && resp.body.first() == Some(&b'{') {
        "application/json"
    } else {
        resp.content_type.as_str()
    };
    let body = match decode_body(content_type, &resp.body) {
        Ok(body) => body,
        // An error status with an undecodable body: report the status, with the text.
        Err(_) if status >= 400 => {
            Robj::from(String::from_utf8_lossy(&resp.body[..resp.body.len().min(2000)]).as_ref())
        }
        Err(msg) => {
            let text =
                String::from_utf8_lossy(&resp.body[..resp.body.len().min(2000)]).into_owned();
            return list!(
                error = "decode",
                message = msg,
                status = status,
                url = http::redact_url(&resp.url),
                text = text
            )
            .into();
        }
    };
    list!(
        status = status,
        url = http::redact_url(&resp.url),
        content_type = content_type,
        headers = header_robj,
        body = body,
        file = file
    )
    .into()
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

/// Percent-encode path segments and join them ("/a/b%20c").
#[extendr]
fn rs_encode_path(segments: Strings) -> String {
    let segs: Vec<&str> = segments.iter().map(|s| s.as_ref()).collect();
    http::encode_segments(&segs)
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
    fn rs_request;
    fn rs_to_json;
    fn rs_from_json;
    fn rs_encode_path;
    fn rs_panic_probe;
}
