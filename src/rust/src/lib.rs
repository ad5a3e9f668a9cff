//! The extendr boundary of the `orthanc` R package: a handful of functions. Transport lives
//! in `http`, JSON <-> R in `json`; errors cross as data (a list with `error`) and the R side
//! raises the classed condition.
//!
//! The R wrappers of these functions (R/extendr-wrappers.R) are generated from this module by
//! `Rscript dev/update-wrappers.R`, which asks the compiled library for them
//! (`wrap__make_orthanc_wrappers`), as rextendr::document() does.

use extendr_api::prelude::*;
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
fn atom_texts(x: &Robj) -> Option<Vec<Option<String>>> {
    match x.rtype() {
        Rtype::Strings => Some(
            x.as_str_iter()?
                .map(|s| (!s.is_na()).then(|| s.to_string()))
                .collect(),
        ),
        Rtype::Logicals => Some(
            x.as_logical_slice()?
                .iter()
                .map(|b| (!b.is_na()).then(|| if b.is_true() { "true" } else { "false" }.into()))
                .collect(),
        ),
        Rtype::Integers => Some(
            x.as_integer_slice()?
                .iter()
                .map(|&v| (v != i32::MIN).then(|| v.to_string()))
                .collect(),
        ),
        Rtype::Doubles => Some(x.as_real_slice()?.iter().map(|&v| real_text(v)).collect()),
        _ => None,
    }
}

/// Named list or named atomic vector -> (name, value) pairs. NULL elements are dropped; an
/// element of length > 1 gives one pair per value. (R has checked that names are there.)
fn pairs(x: &Robj, what: &str) -> std::result::Result<Vec<(String, String)>, String> {
    if x.is_null() {
        return Ok(vec![]);
    }
    let names: Vec<String> = match x.names() {
        Some(n) => n.map(|s| s.to_string()).collect(),
        None if x.len() == 0 => return Ok(vec![]),
        None => return Err(format!("`{what}` must be a named list")),
    };
    let mut out = Vec::with_capacity(names.len());
    if let Some(list) = x.as_list() {
        for (name, v) in names.iter().zip(list.values()) {
            if v.is_null() {
                continue;
            }
            let texts = atom_texts(&v).ok_or_else(|| {
                format!("`{what}${name}` must be a string, number or logical value")
            })?;
            for t in texts {
                let t = t.ok_or_else(|| format!("`{what}${name}` must not be NA or infinite"))?;
                out.push((name.clone(), t));
            }
        }
    } else {
        let texts = atom_texts(x).ok_or_else(|| format!("`{what}` must be a named list"))?;
        for (name, t) in names.into_iter().zip(texts) {
            if let Some(t) = t {
                out.push((name, t));
            }
        }
    }
    Ok(out)
}

/// The live client behind an external pointer, or an error list to return.
fn client_of(x: &Robj) -> std::result::Result<ExternalPtr<Client>, Robj> {
    if !rs_client_valid(x.clone()) {
        return Err(error_list(
            "argument",
            "the client is not connected (made in another R session)",
        ));
    }
    x.clone()
        .try_into()
        .map_err(|_| error_list("argument", "not an Orthanc client"))
}

/// The one request value of the R side, parsed once:
/// `list(method, path, encode, query, headers, cookies, body_kind, body, dest)`.
/// `path` is a route (`encode = FALSE`) or the segments of one, percent-encoded here.
fn parse_request(x: &Robj) -> std::result::Result<Request, String> {
    let list = x
        .as_list()
        .ok_or_else(|| "the request must be a list".to_string())?;
    let mut method = None;
    let mut segments: Vec<String> = vec![];
    let mut encode = false;
    let (mut query, mut headers, mut cookies) = (vec![], vec![], vec![]);
    let mut body_kind = String::from("none");
    let mut body = Robj::from(());
    let mut dest = None;
    for (name, v) in list.iter() {
        match name {
            "method" => method = v.as_str().map(|m| m.to_ascii_uppercase()),
            "path" => {
                segments = v
                    .as_str_iter()
                    .ok_or("`path` must be a character vector")?
                    .map(|s| s.to_string())
                    .collect()
            }
            "encode" => encode = v.as_bool().unwrap_or(false),
            "query" => query = pairs(&v, "params")?,
            "headers" => headers = pairs(&v, "headers")?,
            "cookies" => cookies = pairs(&v, "cookies")?,
            "body_kind" => body_kind = v.as_str().unwrap_or("none").to_string(),
            "body" => body = v,
            "dest" => dest = opt_string(&v).map(PathBuf::from),
            _ => {}
        }
    }
    let method = method.ok_or("the request has no method")?;
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| format!("`{method}` is not an HTTP method"))?;
    let path = if encode {
        http::encode_segments(&segments)
    } else {
        let p = segments.into_iter().next().unwrap_or_default();
        if p.starts_with('/') {
            p
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
    req.body = match body_kind.as_str() {
        "none" => Body::Empty,
        "json" => Body::Json(json::r_to_json(&body).map_err(|e| e.0)?.into()),
        "raw" => Body::Raw(bytes::Bytes::copy_from_slice(
            body.as_raw_slice().ok_or("`data` must be a raw vector")?,
        )),
        "text" => Body::Text(bytes::Bytes::copy_from_slice(
            body.as_str().ok_or("`data` must be a string")?.as_bytes(),
        )),
        "file" => Body::File(PathBuf::from(body.as_str().ok_or("`file` must be a path")?)),
        other => return Err(format!("unknown body kind `{other}`")),
    };
    req.dest = dest;
    Ok(req)
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

/// An answer (or a transport error) as the R side reads it:
/// list(status, url, content_type, headers, body, file), or
/// list(error, message, url[, status, text]).
fn result_to_r(client: &Client, path: &str, result: std::result::Result<Response, Error>) -> Robj {
    let resp = match result {
        Ok(r) => r,
        Err(e) => return error_at(e.kind(), &e.to_string(), &client.url_for(path)),
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
    let url = http::redact_url(&resp.url);
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
                url = url,
                text = text
            )
            .into();
        }
    };
    list!(
        status = status,
        url = url,
        content_type = content_type,
        headers = header_robj,
        body = body,
        file = file
    )
    .into()
}

/// Perform one request, described by one value (see the R function `request_value()`).
/// Returns list(status, url, content_type, headers, body, file) or
/// list(error, message, url[, status]).
#[extendr]
fn rs_perform(client: Robj, request: Robj) -> Robj {
    let ptr = match client_of(&client) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let client: &Client = &ptr;
    let req = match parse_request(&request) {
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
    let ptr = match client_of(&client) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let client: &Client = &ptr;
    let base = client.config().base_url.clone();
    let parsed: Vec<std::result::Result<Request, String>> =
        requests.values().map(|r| parse_request(&r)).collect();
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
