//! The extendr boundary of the `orthanc` R package: a handful of functions. Transport lives
//! in `http`, JSON <-> R in `json`; errors cross as data (a list with `error`) and the R side
//! raises the classed condition.
//!
//! The R wrappers of these functions (R/extendr-wrappers.R) are generated from this module by
//! `Rscript dev/update-wrappers.R`, which asks the compiled library for them
//! (`wrap__make_orthanc_wrappers`), as rextendr::document() does.
//!
//! The rules of the boundary: no R input can make an R error long-jump across Rust frames
//! (what is read is checked before any R call that could raise; R calls that can raise
//! anyway, allocations, run under `rapi::protect()`), and a panic never reaches extendr's
//! wrapper (which would raise an unclassed R error): `guarded()` turns it into an error
//! list of kind "internal" (orthanc_internal_error in R).
#![warn(clippy::undocumented_unsafe_blocks, unsafe_op_in_unsafe_fn)]

use extendr_api::prelude::*;
use extendr_ffi::{
    cetype_t, R_DimSymbol, R_NaInt, R_NaString, R_NamesSymbol, R_NilValue, R_PreserveObject,
    Rf_ScalarInteger, Rf_allocVector, Rf_getAttrib, Rf_mkCharLenCE, Rf_protect, Rf_setAttrib,
    Rf_unprotect, ALTREP, INTEGER, INTEGER_ELT, LOGICAL_ELT, RAW, REAL, REAL_ELT, SET_STRING_ELT,
    SET_VECTOR_ELT, SEXP, SEXPTYPE, STRING_ELT, TYPEOF, VECTOR_ELT, XLENGTH,
};
use orthanc_core::http::{self, Body, Client, Config, Error, Method, Request, Response};
use orthanc_core::npy;
use rapi::{protect, RJumped};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

// TEMPORARY (issue 16): json.rs is being given its `// SAFETY:` notes by the lead; until
// then the two lints that enforce them are off for that module only. Remove this line then.
#[allow(unsafe_op_in_unsafe_fn)]
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

/// The body of every exported function: a panic (a bug) becomes an error list of kind
/// "internal" (orthanc_internal_error in R) instead of unwinding into extendr's wrapper,
/// which would raise an unclassed R error.
fn guarded(f: impl FnOnce() -> Robj) -> Robj {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(out) => out,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".to_string());
            error_list("internal", &format!("Rust code panicked: {what}"))
        }
    }
}

/// What an R call run by `protect()` that raised an R error is reported as.
fn r_raised(what: &str) -> Robj {
    error_list(
        "internal",
        &format!("R raised an error while {what} (is memory short?)"),
    )
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

/// Element `i` of the character vector `x` (a CHARSXP). An ALTREP vector may make its
/// element on demand (an allocation, which can raise): read under `protect()` then.
///
/// # Safety
/// `x` is a live character vector and `i < XLENGTH(x)`; main thread.
unsafe fn string_elt(x: SEXP, i: isize, altrep: bool) -> std::result::Result<SEXP, String> {
    if altrep {
        // SAFETY: STRING_ELT of a character vector within its length (caller's contract).
        protect(|| unsafe { STRING_ELT(x, i) })
            .map_err(|_| "R could not read a string (is memory short?)".to_string())
    } else {
        // SAFETY: as above; a plain vector's element is read without any R call that raises.
        Ok(unsafe { STRING_ELT(x, i) })
    }
}

/// The values of an atomic vector as text (None for NA); Ok(None) when `x` is not a
/// character, logical, integer or double vector. Strings are read by `char_str()` (not
/// extendr's reader, which takes the bytes as UTF-8 unchecked): one in "bytes" encoding or
/// not valid UTF-8 is refused, named `what[i]`. Numbers and logical values are read by
/// element (`*_ELT`, which does not expand a compact ALTREP sequence).
///
/// # Safety
/// `x` is a live R object; main thread.
unsafe fn atom_texts(
    x: SEXP,
    what: impl std::fmt::Display,
) -> std::result::Result<Option<Vec<Option<String>>>, String> {
    // SAFETY: `x` is live (caller); TYPEOF reads its header. XLENGTH raises an R error for
    // what is not a vector: it is read only for the four vector types.
    let t = unsafe { TYPEOF(x) };
    if !matches!(
        t,
        SEXPTYPE::STRSXP | SEXPTYPE::LGLSXP | SEXPTYPE::INTSXP | SEXPTYPE::REALSXP
    ) {
        return Ok(None);
    }
    // SAFETY: `x` is one of the four vector types (checked above).
    let (n, altrep) = unsafe { (XLENGTH(x), ALTREP(x) != 0) };
    let mut out = Vec::with_capacity(n as usize);
    match t {
        SEXPTYPE::STRSXP => {
            for i in 0..n {
                // SAFETY: a character vector, `i` within its length.
                let ch = unsafe { string_elt(x, i, altrep) }?;
                // SAFETY: R_NaString is R's constant.
                out.push(if ch == unsafe { R_NaString } {
                    None
                } else {
                    // SAFETY: `ch` is a CHARSXP of `x` (not NA), kept alive by `x`.
                    let s = unsafe { char_str(ch, format_args!("`{what}[{}]`", i + 1)) }?;
                    Some(s.to_string())
                });
            }
        }
        SEXPTYPE::LGLSXP => {
            for i in 0..n {
                // SAFETY: a logical vector, `i` within its length; R_NaInt is R's constant.
                let (v, na) = unsafe { (LOGICAL_ELT(x, i), R_NaInt) };
                out.push((v != na).then(|| (if v != 0 { "true" } else { "false" }).into()));
            }
        }
        SEXPTYPE::INTSXP => {
            for i in 0..n {
                // SAFETY: an integer vector, `i` within its length.
                let v = unsafe { INTEGER_ELT(x, i) };
                out.push((v != i32::MIN).then(|| v.to_string()));
            }
        }
        SEXPTYPE::REALSXP => {
            for i in 0..n {
                // SAFETY: a double vector, `i` within its length.
                out.push(real_text(unsafe { REAL_ELT(x, i) }));
            }
        }
        _ => return Ok(None),
    }
    Ok(Some(out))
}

/// The names of `x` (a list or an atomic vector) as text ("NA" for NA), read by
/// `char_str()`; None without names.
///
/// # Safety
/// `x` is a live list or atomic vector (for these, reading the names attribute allocates
/// nothing and cannot raise); main thread.
unsafe fn names_of(x: SEXP, what: &str) -> std::result::Result<Option<Vec<String>>, String> {
    // SAFETY: see the contract: a vector's names are its attribute (or a 1-d array's
    // dimnames), read without allocation.
    let names = unsafe { Rf_getAttrib(x, R_NamesSymbol) };
    // SAFETY: `names` is a live R object (an attribute of `x`).
    if unsafe { TYPEOF(names) } != SEXPTYPE::STRSXP {
        return Ok(None);
    }
    // SAFETY: as above.
    let (n, altrep) = unsafe { (XLENGTH(names), ALTREP(names) != 0) };
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        // SAFETY: a character vector, `i` within its length.
        let ch = unsafe { string_elt(names, i, altrep) }?;
        // SAFETY: R_NaString is R's constant.
        out.push(if ch == unsafe { R_NaString } {
            "NA".to_string()
        } else {
            // SAFETY: `ch` is a CHARSXP (not NA) kept alive by `names`.
            unsafe { char_str(ch, format_args!("A name in `{what}`")) }?.to_string()
        });
    }
    Ok(Some(out))
}

/// Named list or named atomic vector -> (name, value) pairs. NULL elements are dropped; an
/// element of length > 1 gives one pair per value. (R has checked that names are there.)
///
/// # Safety
/// `x` is a live R object; main thread.
unsafe fn pairs(x: SEXP, what: &str) -> std::result::Result<Vec<(String, String)>, String> {
    // SAFETY: `x` is live (caller); TYPEOF reads its header.
    let t = unsafe { TYPEOF(x) };
    let atomic = matches!(
        t,
        SEXPTYPE::STRSXP | SEXPTYPE::LGLSXP | SEXPTYPE::INTSXP | SEXPTYPE::REALSXP
    );
    if t == SEXPTYPE::NILSXP {
        return Ok(vec![]);
    }
    // XLENGTH raises an R error for what is not a vector: checked first.
    if !atomic && t != SEXPTYPE::VECSXP {
        return Err(format!("`{what}` must be a named list"));
    }
    // SAFETY: `x` is a list or an atomic vector (checked above).
    if unsafe { XLENGTH(x) } == 0 {
        return Ok(vec![]);
    }
    // SAFETY: `x` is a list or an atomic vector (checked above).
    let Some(names) = (unsafe { names_of(x, what) })? else {
        return Err(format!("`{what}` must be a named list"));
    };
    let mut out = Vec::with_capacity(names.len());
    if t == SEXPTYPE::VECSXP {
        for (i, name) in names.iter().enumerate() {
            // SAFETY: a list, `i` within its length (the names have the list's length).
            let v = unsafe { VECTOR_ELT(x, i as isize) };
            // SAFETY: R_NilValue is R's constant.
            if v == unsafe { R_NilValue } {
                continue;
            }
            // SAFETY: `v` is an element of `x`, alive while `x` is.
            let texts =
                unsafe { atom_texts(v, format_args!("{what}${name}")) }?.ok_or_else(|| {
                    format!("`{what}${name}` must be a string, number or logical value")
                })?;
            for t in texts {
                let t = t.ok_or_else(|| format!("`{what}${name}` must not be NA or infinite"))?;
                out.push((name.clone(), t));
            }
        }
    } else {
        // SAFETY: `x` is an atomic vector of one of the four types (checked above).
        let texts = unsafe { atom_texts(x, what) }?.unwrap_or_default();
        for (name, t) in names.into_iter().zip(texts) {
            if let Some(t) = t {
                out.push((name, t));
            }
        }
    }
    Ok(out)
}

/// The Cookie header of (name, value) pairs; a name or a value that would break the header
/// (or make it say something else) is refused, naming the cookie: a name must be an HTTP
/// token (no `=`, `;`, `,`, space, quote or control character); a value must hold no `;`,
/// `,` or control character (CR and LF included).
fn cookie_header(cookies: &[(String, String)]) -> std::result::Result<String, String> {
    const SEPARATORS: &str = "()<>@,;:\\\"/[]?={} \t";
    let mut out = String::new();
    for (name, value) in cookies {
        if name.is_empty() {
            return Err("A cookie has an empty name".into());
        }
        if let Some(c) = name
            .chars()
            .find(|&c| c.is_control() || !c.is_ascii() || SEPARATORS.contains(c))
        {
            return Err(format!(
                "The name of cookie `{}` contains {c:?}, which a cookie name cannot hold",
                name.escape_debug()
            ));
        }
        if let Some(c) = value
            .chars()
            .find(|&c| c.is_control() || c == ';' || c == ',')
        {
            return Err(format!(
                "`cookies${name}` contains {c:?}, which a cookie value cannot hold"
            ));
        }
        if !out.is_empty() {
            out.push_str("; ");
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    Ok(out)
}

/// The error list that tells the R side to reconnect: the client was made in another
/// session (an external pointer restored by readRDS() has a NULL address).
fn stale() -> Robj {
    error_list(
        "stale",
        "the client is not connected (made in another R session)",
    )
}

/// Why [`typed_ptr`] found no value.
enum PtrError {
    /// Not an external pointer made by `ExternalPtr::<T>::new()`.
    Foreign,
    /// Ours, but its address is NULL (restored by readRDS(), or finalised).
    Stale,
}

/// The value behind an external pointer made by `ExternalPtr::<T>::new()`, through
/// extendr's typed `ExternalPtr`. extendr's conversion takes any non-NULL address for one of
/// its own boxes before it downcasts: an external pointer made by other code (e.g.
/// `getNativeSymbolInfo()$address`) would be read as one, so the tag that
/// `ExternalPtr::new()` sets (the type's name) is checked first. Nothing is allocated: this
/// runs for every request.
fn typed_ptr<T: 'static>(x: &Robj) -> std::result::Result<&T, PtrError> {
    if !x.is_external_pointer() {
        return Err(PtrError::Foreign);
    }
    // SAFETY: `x` is a live external pointer (checked above): its address and tag are read
    // without any R call that can raise.
    let (addr, tag) = unsafe {
        (
            extendr_ffi::R_ExternalPtrAddr(x.get()),
            extendr_ffi::R_ExternalPtrTag(x.get()),
        )
    };
    if addr.is_null() {
        return Err(PtrError::Stale);
    }
    // SAFETY: `tag` is a live R object (the pointer's tag); a CHARSXP is read only from a
    // character vector of length 1, and it is not NA.
    let tagged = unsafe {
        TYPEOF(tag) == SEXPTYPE::STRSXP
            && XLENGTH(tag) == 1
            && STRING_ELT(tag, 0) != R_NaString
            && json::char_to_str(STRING_ELT(tag, 0)) == Ok(std::any::type_name::<T>())
    };
    if !tagged {
        return Err(PtrError::Foreign);
    }
    match <&ExternalPtr<T>>::try_from(x) {
        Ok(p) => p.try_addr().map_err(|_| PtrError::Stale),
        Err(extendr_api::Error::ExpectedExternalNonNullPtr(_)) => Err(PtrError::Stale),
        Err(_) => Err(PtrError::Foreign),
    }
}

/// The live client behind an external pointer made by `rs_client_new()`. A NULL address (a
/// pointer restored by readRDS(), or one whose client was finalised) gives "stale", which
/// tells the R side to reconnect.
fn client_of(x: &Robj) -> std::result::Result<&Arc<Client>, Robj> {
    typed_ptr::<Arc<Client>>(x).map_err(|e| match e {
        PtrError::Foreign => error_list("argument", "not an Orthanc client"),
        PtrError::Stale => stale(),
    })
}

/// The UTF-8 text of a CHARSXP (not NA) of the request value; `what` names it in the refusal
/// of a string that is in "bytes" encoding or not valid UTF-8.
/// `what` is formatted only for a refusal (callers pass `format_args!`: nothing is allocated
/// on the path of every request).
///
/// # Safety
/// `ch` is a live CHARSXP, not NA, kept alive by its owner for `'a`; main thread.
unsafe fn char_str<'a>(
    ch: SEXP,
    what: impl std::fmt::Display,
) -> std::result::Result<&'a str, String> {
    // SAFETY: the caller's contract is char_to_str()'s.
    unsafe { json::char_to_str(ch) }.map_err(|w| format!("{what} is {w}, which cannot be sent"))
}

/// A string element of a character vector of length >= 1, or None.
///
/// # Safety
/// `x` is a live R object, alive for `'a`; main thread.
unsafe fn sexp_str<'a>(
    x: SEXP,
    what: impl std::fmt::Display,
) -> std::result::Result<Option<&'a str>, String> {
    // SAFETY: `x` is live; its type and length are checked before STRING_ELT reads it.
    unsafe {
        if TYPEOF(x) == SEXPTYPE::STRSXP && XLENGTH(x) >= 1 {
            let ch = string_elt(x, 0, ALTREP(x) != 0)?;
            if ch != R_NaString {
                return char_str(ch, what).map(Some);
            }
        }
    }
    Ok(None)
}

/// The segments of a route: a character vector, converted and checked by the R function
/// `route_segments()`; its names are the arguments the user's values came from (empty for
/// the literal parts), so that a refused string is named as the user wrote it.
///
/// # Safety
/// `v` is a live R object, alive for `'a`; main thread.
unsafe fn route_segments<'a>(v: SEXP) -> std::result::Result<Vec<&'a str>, String> {
    // SAFETY: `v` is live (caller); its type is checked before its elements are read, and
    // its names attribute is read only for a character vector (no allocation).
    unsafe {
        if TYPEOF(v) != SEXPTYPE::STRSXP {
            return Err("`path` must be a character vector".into());
        }
        let names = Rf_getAttrib(v, R_NamesSymbol);
        let named = TYPEOF(names) == SEXPTYPE::STRSXP && XLENGTH(names) == XLENGTH(v);
        let (alt_v, alt_n) = (ALTREP(v) != 0, named && ALTREP(names) != 0);
        (0..XLENGTH(v))
            .map(|j| {
                let nm = if named {
                    string_elt(names, j, alt_n)?
                } else {
                    R_NaString
                };
                let name = if nm != R_NaString {
                    char_str(nm, "A name of the route")?
                } else {
                    ""
                };
                let ch = string_elt(v, j, alt_v)?;
                if ch == R_NaString {
                    return Err("A part of the route is NA".to_string());
                }
                if name.is_empty() {
                    char_str(ch, "A part of the route")
                } else {
                    char_str(ch, format_args!("`{name}`"))
                }
            })
            .collect()
    }
}

/// The refusal of a list route that R must convert first (see `list_route()`): `rs_perform()`
/// answers it as an error of kind "route", on which R's `request()` calls `route_segments()`
/// and sends the character vector it gives.
const ROUTE_FOR_R: &str = "the route has a value R must convert or check";

/// The segments of a route given as the list the generated methods write
/// (`list("instances", id = id)`), read without R: taken as they are when every value is a
/// single non-empty string (the common case, so that nothing is done in R), and refused with
/// `ROUTE_FOR_R` otherwise (a number, NA, an empty or a longer vector, a `path` argument that
/// may hold several segments): R's `route_segments()` converts those or raises the user's
/// error. A string in "bytes" encoding or not valid UTF-8 is refused here, named by its
/// argument, as `route_segments()` (Rust) does.
///
/// # Safety
/// `v` is a live list, alive for `'a`; main thread.
unsafe fn list_route<'a>(v: SEXP) -> std::result::Result<Vec<&'a str>, String> {
    // SAFETY: `v` is a live list (caller); its names are read only when they are a character
    // vector of its length, and each element only after its type and length are checked.
    unsafe {
        if ALTREP(v) != 0 {
            // An ALTREP list's elements are read through R, which may allocate: R converts.
            return Err(ROUTE_FOR_R.to_string());
        }
        let names = Rf_getAttrib(v, R_NamesSymbol);
        let named = TYPEOF(names) == SEXPTYPE::STRSXP && XLENGTH(names) == XLENGTH(v);
        let alt_n = named && ALTREP(names) != 0;
        (0..XLENGTH(v))
            .map(|j| {
                let e = VECTOR_ELT(v, j);
                if TYPEOF(e) != SEXPTYPE::STRSXP || XLENGTH(e) != 1 {
                    return Err(ROUTE_FOR_R.to_string());
                }
                let nm = if named {
                    string_elt(names, j, alt_n)?
                } else {
                    R_NaString
                };
                let name = if nm != R_NaString {
                    char_str(nm, "A name of the route")?
                } else {
                    ""
                };
                let ch = string_elt(e, 0, ALTREP(e) != 0)?;
                if ch == R_NaString || name == "path" {
                    return Err(ROUTE_FOR_R.to_string());
                }
                let s = if name.is_empty() {
                    char_str(ch, "A part of the route")?
                } else {
                    char_str(ch, format_args!("`{name}`"))?
                };
                if s.is_empty() {
                    return Err(ROUTE_FOR_R.to_string());
                }
                Ok(s)
            })
            .collect()
    }
}

/// The body of a request from its kind and value (`part_type`: the Content-Type of the parts
/// of a "multipart_files" body).
///
/// # Safety
/// `body` is a live R object, alive for this call; main thread.
unsafe fn request_body(
    kind: &str,
    body: SEXP,
    part_type: Option<&str>,
) -> std::result::Result<Body, String> {
    Ok(match kind {
        "none" => Body::Empty,
        // SAFETY: `body` is live (caller).
        "json" => Body::Json(unsafe { json::sexp_to_json(body) }.map_err(|e| e.0)?.into()),
        "raw" => {
            // SAFETY: `body` is live; RAW() is read only for a raw vector, within its length.
            let bytes: &[u8] = unsafe {
                if TYPEOF(body) != SEXPTYPE::RAWSXP {
                    return Err("`data` must be a raw vector".into());
                }
                let n = XLENGTH(body) as usize;
                if n == 0 {
                    &[]
                } else {
                    std::slice::from_raw_parts(RAW(body), n)
                }
            };
            Body::Raw(bytes::Bytes::copy_from_slice(bytes))
        }
        // SAFETY: `body` is live (caller).
        "text" => Body::Text(bytes::Bytes::copy_from_slice(
            unsafe { sexp_str(body, "`data`") }?
                .ok_or("`data` must be a string")?
                .as_bytes(),
        )),
        // SAFETY: as above.
        "file" => Body::File(PathBuf::from(
            unsafe { sexp_str(body, "`file`") }?.ok_or("`file` must be a path")?,
        )),
        "multipart_files" => {
            // SAFETY: `body` is live (caller); read only as a character vector.
            let texts = unsafe {
                if TYPEOF(body) != SEXPTYPE::STRSXP {
                    return Err("the files of a multipart body must be a character vector".into());
                }
                atom_texts(body, "files")
            }?
            .unwrap_or_default();
            let files = texts
                .into_iter()
                .map(|t| {
                    t.map(PathBuf::from)
                        .ok_or("a file of the multipart body is NA")
                })
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Body::MultipartFiles {
                files,
                part_type: part_type.unwrap_or("application/dicom").to_string(),
            }
        }
        other => return Err(format!("unknown body kind `{other}`")),
    })
}

/// The one request value of the R side, parsed once:
/// `list(method, path, encode, query, headers, cookies, body_kind, body, dest)`, and
/// optionally `part_type` (of a "multipart_files" body), `parts_dir` (a successful answer's
/// parts written to files of that folder) and `parts` (TRUE: split in memory).
/// `path` is a route (`encode = FALSE`) or the segments of one, percent-encoded here.
/// Read through raw SEXPs (no `Robj`, no entry in extendr's ownership table), with no R
/// call that can raise an R error: types and lengths are checked before anything is read.
///
/// # Safety
/// `x` is a live R object, alive for this call; main thread.
unsafe fn parse_request(x: SEXP) -> std::result::Result<Request, String> {
    // SAFETY: `x` is live (caller); a list's names are read without allocation.
    let names = unsafe {
        if TYPEOF(x) != SEXPTYPE::VECSXP {
            return Err("the request must be a list".into());
        }
        let names = Rf_getAttrib(x, R_NamesSymbol);
        if TYPEOF(names) != SEXPTYPE::STRSXP || XLENGTH(names) != XLENGTH(x) {
            return Err("the request must be a named list".into());
        }
        names
    };
    let mut method = None;
    let mut segments: Vec<&str> = vec![];
    let mut encode = false;
    let (mut query, mut headers, mut cookies) = (vec![], vec![], vec![]);
    let mut body_kind = "none";
    // SAFETY: R_NilValue is R's constant.
    let mut body = unsafe { R_NilValue };
    let mut dest = None;
    let (mut part_type, mut parts_dir, mut parts) = (None, None, false);
    // SAFETY: `x` and `names` are live, of the same length (checked above).
    let (n, alt_names) = unsafe { (XLENGTH(x), ALTREP(names) != 0) };
    for i in 0..n {
        // SAFETY: a list and its names, `i` within their length; each element read is kept
        // alive by `x` for the whole call.
        unsafe {
            let v = VECTOR_ELT(x, i);
            let nm = string_elt(names, i, alt_names)?;
            let field = if nm == R_NaString {
                ""
            } else {
                char_str(nm, "A name of the request")?
            };
            match field {
                "method" => method = sexp_str(v, "`method`")?.map(|m| m.to_ascii_uppercase()),
                "path" if TYPEOF(v) == SEXPTYPE::VECSXP => segments = list_route(v)?,
                "path" => segments = route_segments(v)?,
                "encode" => {
                    encode =
                        TYPEOF(v) == SEXPTYPE::LGLSXP && XLENGTH(v) >= 1 && LOGICAL_ELT(v, 0) == 1
                }
                "query" => query = pairs(v, "params")?,
                "headers" => headers = pairs(v, "headers")?,
                "cookies" => cookies = pairs(v, "cookies")?,
                "body_kind" => body_kind = sexp_str(v, "`body_kind`")?.unwrap_or("none"),
                "body" => body = v,
                "dest" => dest = sexp_str(v, "The destination file's path")?.map(PathBuf::from),
                "part_type" => part_type = sexp_str(v, "`part_type`")?,
                "parts_dir" => parts_dir = sexp_str(v, "The parts' folder")?.map(PathBuf::from),
                "parts" => {
                    parts =
                        TYPEOF(v) == SEXPTYPE::LGLSXP && XLENGTH(v) >= 1 && LOGICAL_ELT(v, 0) == 1
                }
                _ => {}
            }
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
        req.headers
            .push(("cookie".into(), cookie_header(&cookies)?));
    }
    // SAFETY: `body` is an element of `x`, live for this call.
    req.body = unsafe { request_body(body_kind, body, part_type) }?;
    req.dest = dest;
    req.parts_dir = parts_dir;
    req.parts = parts;
    Ok(req)
}

/// Make a client. Returns an external pointer, or an error list.
#[extendr]
#[allow(clippy::too_many_arguments)]
fn rs_client_new(
    url: &str,
    username: Robj,
    password: Robj,
    token: Robj,
    timeout: f64,
    retries: i32,
    retry_methods: Strings,
    verify: bool,
    ca_file: Robj,
    cert_file: Robj,
    key_file: Robj,
    user_agent: &str,
) -> Robj {
    guarded(|| {
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
            token: opt_string(&token),
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
            // Shared with the background requests of `OrthancAsync`, which keep it alive
            // until they end.
            Ok(c) => ExternalPtr::new(Arc::new(c)).into(),
            Err(e) => error_list(e.kind(), &e.to_string()),
        }
    })
}

/// TRUE when `ptr` is a live client of this session (FALSE after saveRDS()/readRDS()).
#[extendr]
fn rs_client_valid(ptr: Robj) -> bool {
    client_of(&ptr).is_ok()
}

/// A CHARSXP in UTF-8 of text that holds no NUL (unprotected), made under `protect()`.
fn mk_char(s: &str) -> std::result::Result<SEXP, RJumped> {
    let n = i32::try_from(s.len()).map_err(|_| RJumped)?;
    let p = s.as_ptr() as *const std::os::raw::c_char;
    // SAFETY: `p` and `n` describe `s`, alive during the call; under protect() an R error
    // (out of memory) stops there.
    protect(|| unsafe { Rf_mkCharLenCE(p, n, cetype_t::CE_UTF8) })
}

/// A vector of R, unprotected, allocated under `protect()`.
fn alloc(t: SEXPTYPE, n: usize) -> std::result::Result<SEXP, RJumped> {
    let n = isize::try_from(n).map_err(|_| RJumped)?;
    // SAFETY: an allocation on the main thread; under protect() an R error (out of memory,
    // a length R refuses) stops there.
    protect(|| unsafe { Rf_allocVector(t, n) })
}

/// A character(1) holding the CHARSXP `ch` (protected here meanwhile), unprotected.
///
/// # Safety
/// `ch` is a live CHARSXP; main thread.
unsafe fn scalar_string(ch: SEXP) -> std::result::Result<SEXP, RJumped> {
    // SAFETY: `ch` is live (caller) and protected while the vector is allocated; the
    // protection is popped on both paths.
    unsafe {
        let ch = Rf_protect(ch);
        let out = alloc(SEXPTYPE::STRSXP, 1);
        if let Ok(out) = out {
            SET_STRING_ELT(out, 0, ch);
        }
        Rf_unprotect(1);
        out
    }
}

/// A character(1), unprotected.
fn mk_string(s: &str) -> std::result::Result<SEXP, RJumped> {
    // SAFETY: mk_char() gives a live CHARSXP.
    unsafe { scalar_string(mk_char(s)?) }
}

/// Why an answer's body was not decoded.
enum DecodeError {
    /// Not what its content type says (the message).
    Content(String),
    /// R raised an error (out of memory) while the R object was made.
    R,
}

/// Decode an answer's body by its content type: JSON -> R objects, text -> character(1),
/// empty -> NULL, anything else -> raw vector. The result is unprotected.
fn decode_body(content_type: &str, body: &[u8]) -> std::result::Result<SEXP, DecodeError> {
    if body.is_empty() {
        // SAFETY: R_NilValue is R's constant.
        return Ok(unsafe { R_NilValue });
    }
    if content_type == "application/json" || content_type.ends_with("+json") {
        return json::json_to_r(body).map_err(|e| {
            DecodeError::Content(format!("the answer is not the JSON it claims to be: {e}"))
        });
    }
    if content_type.starts_with("text/") {
        return match std::str::from_utf8(body) {
            Ok(s) if !s.contains('\0') && s.len() <= i32::MAX as usize => {
                mk_string(s).map_err(|_| DecodeError::R)
            }
            Ok(s) if s.contains('\0') => Err(DecodeError::Content(
                "the text answer contains a NUL character".into(),
            )),
            Ok(_) => Err(DecodeError::Content(
                "the text answer is longer than R allows".into(),
            )),
            Err(e) => Err(DecodeError::Content(format!(
                "the text answer is not valid UTF-8 ({e})"
            ))),
        };
    }
    let out = alloc(SEXPTYPE::RAWSXP, body.len()).map_err(|_| DecodeError::R)?;
    // SAFETY: `out` is a fresh raw vector of `body.len()` bytes; the regions do not overlap.
    unsafe { std::ptr::copy_nonoverlapping(body.as_ptr(), RAW(out), body.len()) };
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

/// The CHARSXP of `s` (unprotected; a cached one is kept alive by the table). Every R call
/// here runs under `protect()`, so no jump skips the table's borrow.
fn answer_char(s: &str) -> std::result::Result<SEXP, RJumped> {
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
        if guard.is_none() {
            let store = alloc(SEXPTYPE::STRSXP, ANSWER_STRS)?;
            // SAFETY: `store` is a fresh vector; R_PreserveObject keeps it for the session.
            unsafe { R_PreserveObject(store) };
            *guard = Some(AnswerStrings {
                keys: vec![Box::default(); ANSWER_STRS],
                store,
            });
        }
        let Some(t) = guard.as_mut() else {
            return Err(RJumped);
        };
        if *t.keys[slot] == *s.as_bytes() && !s.is_empty() {
            // SAFETY: `store` is a preserved character vector of ANSWER_STRS elements.
            return Ok(unsafe { STRING_ELT(t.store, slot as isize) });
        }
        let ch = mk_char(s)?;
        // SAFETY: as above; `ch` is a CHARSXP.
        unsafe { SET_STRING_ELT(t.store, slot as isize, ch) };
        t.keys[slot] = s.as_bytes().into();
        Ok(ch)
    })
}

/// The names of an answer's list, made once and kept for the session (a names attribute
/// may be shared: R copies it before any change).
fn answer_names() -> std::result::Result<SEXP, RJumped> {
    use std::sync::atomic::{AtomicPtr, Ordering};
    static NAMES: AtomicPtr<extendr_ffi::SEXPREC> = AtomicPtr::new(std::ptr::null_mut());
    let p = NAMES.load(Ordering::Relaxed);
    if !p.is_null() {
        return Ok(p as SEXP);
    }
    let fields = ["status", "url", "content_type", "headers", "body", "file"];
    let names = alloc(SEXPTYPE::STRSXP, fields.len())?;
    // SAFETY: `names` is a fresh vector, preserved at once (before any other allocation);
    // it is kept for the session.
    unsafe { R_PreserveObject(names) };
    for (i, f) in fields.iter().enumerate() {
        // SAFETY: `names` is a character vector of `fields.len()` elements.
        unsafe { SET_STRING_ELT(names, i as isize, mk_char(f)?) };
    }
    NAMES.store(names as *mut _, Ordering::Relaxed);
    Ok(names)
}

/// The answer list, allocated in one `protect()` (an R_UnwindProtect costs a context and a
/// jump buffer: one per answer, not one per object): list(status, url = character(1),
/// content_type = character(1), headers = a named character vector of `n` elements, body,
/// file) with its names. Only R calls run inside (no Rust value with a destructor), so an R
/// error there skips nothing. Unprotected.
fn alloc_answer(status: i32, n: usize, with_file: bool) -> std::result::Result<SEXP, RJumped> {
    let n = isize::try_from(n).map_err(|_| RJumped)?;
    let names = answer_names()?;
    // SAFETY: main thread; every object made is put into `out` (protected) or protected
    // before the next allocation, and the protections are popped before returning.
    protect(|| unsafe {
        let out = Rf_protect(Rf_allocVector(SEXPTYPE::VECSXP, 6));
        SET_VECTOR_ELT(out, 0, Rf_ScalarInteger(status));
        SET_VECTOR_ELT(out, 1, Rf_allocVector(SEXPTYPE::STRSXP, 1));
        SET_VECTOR_ELT(out, 2, Rf_allocVector(SEXPTYPE::STRSXP, 1));
        let hv = Rf_allocVector(SEXPTYPE::STRSXP, n);
        SET_VECTOR_ELT(out, 3, hv);
        Rf_setAttrib(hv, R_NamesSymbol, Rf_allocVector(SEXPTYPE::STRSXP, n));
        if with_file {
            SET_VECTOR_ELT(out, 5, Rf_allocVector(SEXPTYPE::STRSXP, 1));
        }
        Rf_setAttrib(out, R_NamesSymbol, names);
        Rf_unprotect(1);
        out
    })
}

/// Fills the answer list `out` made by `alloc_answer()` (protected by the caller) with the
/// URL, the content type, the headers and the file. Only CHARSXPs are made here (most come
/// from the session's table of answer strings, without allocating), each set into `out`
/// before the next.
///
/// # Safety
/// `out` is a protected list made by `alloc_answer()` for `resp`; main thread.
unsafe fn fill_answer(
    out: SEXP,
    url: &str,
    content_type: &str,
    resp: &Response,
) -> std::result::Result<(), RJumped> {
    // SAFETY: `out` is protected (caller) and has the shape alloc_answer() gives: each
    // CHARSXP is set into one of its vectors before anything else is allocated.
    unsafe {
        SET_STRING_ELT(VECTOR_ELT(out, 1), 0, answer_char(url)?);
        SET_STRING_ELT(VECTOR_ELT(out, 2), 0, answer_char(content_type)?);
        let hv = VECTOR_ELT(out, 3);
        let hn = Rf_getAttrib(hv, R_NamesSymbol);
        for (i, (k, v)) in resp.headers.iter().enumerate() {
            // Header names and values hold no NUL (the http crate refuses them).
            SET_STRING_ELT(hn, i as isize, answer_char(k)?);
            SET_STRING_ELT(hv, i as isize, answer_char(v)?);
        }
        if let Some(p) = &resp.file {
            SET_STRING_ELT(
                VECTOR_ELT(out, 5),
                0,
                mk_char(p.to_string_lossy().as_ref())?,
            );
        }
    }
    Ok(())
}

/// An answer (or a transport error) as the R side reads it:
/// list(status, url, content_type, headers, body, file), or
/// list(error, message, url[, status, text]). The answer is built from raw SEXPs under
/// Rf_protect (no `Robj`, no entry in extendr's ownership table); each R allocation runs
/// under `protect()`: when R cannot make it (out of memory) the answer is an error list.
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
    let body = match decode_body(content_type, &resp.body) {
        Ok(body) => Ok(body),
        // An error status with an undecodable body: report the status, with the text.
        Err(DecodeError::Content(_)) if status >= 400 => mk_string(
            &String::from_utf8_lossy(&resp.body[..resp.body.len().min(2000)]).replace('\0', ""),
        ),
        Err(DecodeError::Content(msg)) => {
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
        Err(DecodeError::R) => Err(RJumped),
    };
    let Ok(body) = body else {
        return r_raised("making the R value of the answer");
    };
    // SAFETY: `body` is protected until it is in `out`; `out` is protected while it is
    // filled; both protections are popped on every path.
    unsafe {
        let body = Rf_protect(body);
        let out = match alloc_answer(status, resp.headers.len(), resp.file.is_some()) {
            Ok(out) => Rf_protect(out),
            Err(_) => {
                Rf_unprotect(1);
                return r_raised("making the answer");
            }
        };
        SET_VECTOR_ELT(out, 4, body);
        let filled = fill_answer(out, &url, content_type, &resp);
        let out = match (filled, &resp.split) {
            (Ok(()), None) => Ok(out),
            (Ok(()), Some(split)) => with_parts(out, split),
            (Err(e), _) => Err(e),
        };
        Rf_unprotect(2);
        match out {
            Ok(out) => Robj::from_sexp(out),
            Err(_) => r_raised("making the answer"),
        }
    }
}

/// The names of an answer split into parts, made once and kept for the session.
fn split_answer_names() -> std::result::Result<SEXP, RJumped> {
    use std::sync::atomic::{AtomicPtr, Ordering};
    static NAMES: AtomicPtr<extendr_ffi::SEXPREC> = AtomicPtr::new(std::ptr::null_mut());
    let p = NAMES.load(Ordering::Relaxed);
    if !p.is_null() {
        return Ok(p as SEXP);
    }
    let fields = [
        "status",
        "url",
        "content_type",
        "headers",
        "body",
        "file",
        "files",
        "part_types",
        "parts",
    ];
    let names = alloc(SEXPTYPE::STRSXP, fields.len())?;
    // SAFETY: `names` is a fresh vector, preserved at once (before any other allocation);
    // it is kept for the session.
    unsafe { R_PreserveObject(names) };
    for (i, f) in fields.iter().enumerate() {
        // SAFETY: `names` is a character vector of `fields.len()` elements.
        unsafe { SET_STRING_ELT(names, i as isize, mk_char(f)?) };
    }
    NAMES.store(names as *mut _, Ordering::Relaxed);
    Ok(names)
}

/// A character vector of `texts`, unprotected.
fn mk_strings<S: AsRef<str>>(texts: &[S]) -> std::result::Result<SEXP, RJumped> {
    let v = alloc(SEXPTYPE::STRSXP, texts.len())?;
    // SAFETY: `v` is a fresh character vector of `texts.len()` elements, protected while
    // its CHARSXPs are made (each set into it before the next).
    unsafe {
        let v = Rf_protect(v);
        for (i, t) in texts.iter().enumerate() {
            match mk_char(&t.as_ref().replace('\0', "")) {
                Ok(ch) => SET_STRING_ELT(v, i as isize, ch),
                Err(e) => {
                    Rf_unprotect(1);
                    return Err(e);
                }
            }
        }
        Rf_unprotect(1);
        Ok(v)
    }
}

/// The answer `out` (made by `alloc_answer()`, six elements) with the parts of `split`:
/// list(status, url, content_type, headers, body, file, files = character, part_types =
/// character, parts = a list of raw vectors or NULL), unprotected.
///
/// # Safety
/// `out` is a protected list made by `alloc_answer()`; main thread.
unsafe fn with_parts(out: SEXP, split: &http::Split) -> std::result::Result<SEXP, RJumped> {
    let names = split_answer_names()?;
    let files: Vec<String> = split
        .files
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    // SAFETY: `ext` is protected while it is filled; each vector made is set into it before
    // the next allocation; the protections are popped on every path.
    unsafe {
        let ext = Rf_protect(alloc(SEXPTYPE::VECSXP, 9)?);
        let result = (|| {
            for i in 0..6 {
                SET_VECTOR_ELT(ext, i, VECTOR_ELT(out, i));
            }
            SET_VECTOR_ELT(ext, 6, mk_strings(&files)?);
            SET_VECTOR_ELT(ext, 7, mk_strings(&split.part_types)?);
            if split.in_memory {
                let parts = alloc(SEXPTYPE::VECSXP, split.parts.len())?;
                SET_VECTOR_ELT(ext, 8, parts);
                for (i, b) in split.parts.iter().enumerate() {
                    let r = alloc(SEXPTYPE::RAWSXP, b.len())?;
                    if !b.is_empty() {
                        std::ptr::copy_nonoverlapping(b.as_ptr(), RAW(r), b.len());
                    }
                    SET_VECTOR_ELT(parts, i as isize, r);
                }
            }
            protect(|| Rf_setAttrib(ext, R_NamesSymbol, names))?;
            Ok(ext)
        })();
        Rf_unprotect(1);
        result
    }
}

/// The request described by `request` (a request value, see the R function
/// `request_value()`), or the error list `rs_perform()` answers when it cannot be sent: kind
/// "route" when R must convert its route first, else "argument".
fn request_of(client: &Client, request: &Robj) -> std::result::Result<Request, Robj> {
    // SAFETY: `request` is an argument of the calling extendr function, alive (and protected
    // by extendr) until it returns.
    unsafe { parse_request(request.get()) }.map_err(|e| {
        let kind = if e == ROUTE_FOR_R {
            "route"
        } else {
            "argument"
        };
        error_at(kind, &e, client.config().base_url.as_str())
    })
}

/// The client of `client` and the request of `request`, or the error list to answer.
fn client_and_request<'a>(
    client: &'a Robj,
    request: &Robj,
) -> std::result::Result<(&'a Arc<Client>, Request), Robj> {
    let client = client_of(client)?;
    let req = request_of(client, request)?;
    Ok((client, req))
}

/// Perform one request, described by one value (see the R function `request_value()`).
/// Returns list(status, url, content_type, headers, body, file) or
/// list(error, message, url[, status]).
#[extendr]
fn rs_perform(client: Robj, request: Robj) -> Robj {
    guarded(|| match client_and_request(&client, &request) {
        Ok((client, req)) => {
            let result = client.perform(&req, &rapi::user_interrupted);
            result_to_r(client, &req.path, result)
        }
        Err(e) => e,
    })
}

/// Perform many requests (a list of request values), at most `concurrency` at once.
/// `progress`: NULL or an R function of (done, total), called from this thread at most every
/// 100 ms. Returns a list with one result per request (as `rs_perform()`'s), or one error
/// list when the batch was interrupted.
#[extendr]
fn rs_perform_batch(client: Robj, requests: List, concurrency: i32, progress: Robj) -> Robj {
    guarded(|| {
        let client = match client_of(&client) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let base = client.config().base_url.clone();
        let parsed: Vec<std::result::Result<Request, String>> = requests
            .values()
            // SAFETY: each request is an element of `requests`, an argument of this call,
            // alive until it returns.
            .map(|r| unsafe { parse_request(r.get()) })
            .collect();
        let valid: Vec<Request> = parsed
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .cloned()
            .collect();
        // extendr's call evaluates with R_tryEval: an R error in the progress function is
        // caught there (and ignored), never long-jumps across these frames.
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
    })
}

/// A request parsed by `rs_check_request()`, waiting in R's queue to be started once by
/// `rs_async_submit()` (which takes it out).
type Prepared = std::cell::Cell<Option<Request>>;

/// Start one request in the background; its answer is taken by `rs_async_poll()`. `request`
/// is a request value, or what `rs_check_request()` answered for one (the request parsed
/// then, not parsed again). Returns its id (a double), or the error list `rs_perform()`
/// would answer when it cannot be sent.
#[extendr]
fn rs_async_submit(client: Robj, request: Robj) -> Robj {
    guarded(|| {
        let client = match client_of(&client) {
            Ok(c) => c,
            Err(e) => return e,
        };
        let req = match typed_ptr::<Prepared>(&request) {
            Ok(prepared) => match prepared.take() {
                Some(req) => req,
                None => return error_list("argument", "the prepared request was sent already"),
            },
            Err(PtrError::Stale) => return error_list("argument", "the prepared request is gone"),
            Err(PtrError::Foreign) => match request_of(client, &request) {
                Ok(req) => req,
                Err(e) => return e,
            },
        };
        let id = orthanc_core::background::submit(Arc::clone(client), req);
        // Ids are counted from 1: exact in a double far beyond any session's count.
        (id as f64).into()
    })
}

/// Check a request value as `rs_perform()` would before sending it, without sending it: the
/// request parsed (an external pointer for `rs_async_submit()`) when it can be sent, else
/// the error list `rs_perform()` would answer (kind "route" when R must convert its route
/// first). `OrthancAsync` raises argument errors at once with it, before the request waits
/// for its turn, and the request is parsed once.
#[extendr]
fn rs_check_request(client: Robj, request: Robj) -> Robj {
    guarded(|| match client_and_request(&client, &request) {
        Ok((_, req)) => ExternalPtr::new(Prepared::new(Some(req))).into(),
        Err(e) => e,
    })
}

/// The background requests finished since the last call: list(ids = double, answers = list
/// of answers as `rs_perform()` gives them), built here on R's main thread.
#[extendr]
fn rs_async_poll() -> Robj {
    guarded(|| {
        let done = orthanc_core::background::take_done();
        let ids: Vec<f64> = done.iter().map(|d| d.id as f64).collect();
        let answers: Vec<Robj> = done
            .into_iter()
            .map(|d| result_to_r(&d.client, &d.path, d.result))
            .collect();
        list!(ids = ids, answers = List::from_values(answers)).into()
    })
}

/// Cancel background requests by id: their transfers stop, their partial files are removed
/// (this returns when they are). Returns how many were still running.
#[extendr]
fn rs_async_cancel(ids: Robj) -> Robj {
    guarded(|| {
        let ids: Vec<u64> = match ids.as_real_slice() {
            Some(v) => v
                .iter()
                .filter(|x| x.is_finite() && **x >= 1.0)
                .map(|x| *x as u64)
                .collect(),
            None => return error_list("argument", "`ids` must be a double vector"),
        };
        (orthanc_core::background::cancel(&ids) as i32).into()
    })
}

/// How many background requests are running.
#[extendr]
fn rs_async_running() -> i32 {
    orthanc_core::background::running() as i32
}

/// Encode R objects as JSON text (the rules used for `json =` bodies).
#[extendr]
fn rs_to_json(x: Robj) -> Robj {
    guarded(|| match json::r_to_json(&x) {
        Ok(b) => String::from_utf8_lossy(&b).as_ref().into(),
        Err(e) => error_list("argument", &e.0),
    })
}

/// Parse JSON text or bytes into R objects (the rules used for answers).
#[extendr]
fn rs_from_json(x: Robj) -> Robj {
    guarded(|| {
        let text;
        let bytes: &[u8] = if let Some(b) = x.as_raw_slice() {
            b
        } else {
            // SAFETY: `x` is an argument of this call, alive until it returns.
            text = match unsafe { sexp_str(x.get(), "`x`") } {
                Ok(Some(s)) if x.len() == 1 => s,
                Ok(_) => return error_list("argument", "expected a string or a raw vector"),
                Err(e) => return error_list("argument", &e),
            };
            text.as_bytes()
        };
        match json::json_to_r(bytes) {
            // SAFETY: json_to_r() gives a live, unprotected SEXP; from_sexp protects it.
            Ok(s) => unsafe { Robj::from_sexp(s) },
            Err(e) => error_list("decode", &e),
        }
    })
}

/// Decode pixel data answered by Orthanc into an R array (integer when every value fits,
/// double otherwise). `format`: `"npy"` (a `.npy` file), `"pam"` or `"pam-signed"` (a PAM
/// image, 16-bit samples read as unsigned or two's complement). `axes`: NULL, or the
/// 1-based permutation of the decoded axes (as for `aperm()`): for a `.npy` file the axes
/// are the file's (C order or not), for PAM (rows, columns, samples). Returns the array, or
/// an error list.
#[extendr]
fn rs_decode_pixels(bytes: Robj, format: &str, axes: Robj) -> Robj {
    guarded(|| decode_pixels(&bytes, format, &axes))
}

fn decode_pixels(bytes: &Robj, format: &str, axes: &Robj) -> Robj {
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
    let len = match &array.values {
        npy::Values::Int(v) => v.len(),
        npy::Values::Real(v) => v.len(),
    };
    // R refuses (with an error) dimensions whose product is not the length.
    if !dims.is_empty() && dims.iter().map(|&d| d as u128).product::<u128>() != len as u128 {
        return error_list("decode", "the dimensions do not match the number of values");
    }
    // The array is allocated under protect(): a large image on a machine short of memory
    // gives an error list, not an R error across these frames.
    let t = match &array.values {
        npy::Values::Int(_) => SEXPTYPE::INTSXP,
        npy::Values::Real(_) => SEXPTYPE::REALSXP,
    };
    let Ok(out) = alloc(t, len) else {
        return r_raised("allocating the pixel array");
    };
    // SAFETY: `out` is a fresh vector of `len` elements of the values' type (copied without
    // overlap), protected while `dim` is made and set; R accepts the dimensions (their
    // product is the length, checked above).
    unsafe {
        let out = Rf_protect(out);
        match &array.values {
            npy::Values::Int(v) => std::ptr::copy_nonoverlapping(v.as_ptr(), INTEGER(out), len),
            npy::Values::Real(v) => std::ptr::copy_nonoverlapping(v.as_ptr(), REAL(out), len),
        }
        let mut ok = true;
        if !dims.is_empty() {
            ok = match alloc(SEXPTYPE::INTSXP, dims.len()) {
                Ok(d) => {
                    std::ptr::copy_nonoverlapping(dims.as_ptr(), INTEGER(d), dims.len());
                    let d = Rf_protect(d);
                    let set = protect(|| Rf_setAttrib(out, R_DimSymbol, d));
                    Rf_unprotect(1);
                    set.is_ok()
                }
                Err(_) => false,
            };
        }
        Rf_unprotect(1);
        if ok {
            Robj::from_sexp(out)
        } else {
            r_raised("setting the dimensions of the pixel array")
        }
    }
}

/// The Orthanc identifiers of local DICOM files, read from their tags without the server
/// (orthanc_core::dicom_ids). Returns list(patient, study, series, instance,
/// sop_instance_uid, message): one element per path in each; NA ids and a message for a file
/// that cannot be read (a path that is not UTF-8 text among them).
#[extendr]
fn rs_dicom_ids(paths: Robj) -> Robj {
    guarded(|| dicom_ids(&paths))
}

fn dicom_ids(paths: &Robj) -> Robj {
    // SAFETY: `paths` is an argument of the call, alive until it returns; its type is
    // checked before anything is read.
    let sx = unsafe { paths.get() };
    // SAFETY: as above.
    if unsafe { TYPEOF(sx) } != SEXPTYPE::STRSXP {
        return error_list("argument", "`paths` must be a character vector");
    }
    // SAFETY: as above.
    let (n, altrep) = unsafe { (XLENGTH(sx) as usize, ALTREP(sx) != 0) };
    let (mut patient, mut study, mut series, mut instance, mut sop, mut message) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for i in 0..n {
        if i % 64 == 63 && rapi::user_interrupted() {
            return error_list("interrupt", "interrupted");
        }
        // SAFETY: a character vector, `i` within its length; each CHARSXP (not NA) is kept
        // alive by `paths` while it is read.
        let path = unsafe {
            string_elt(sx, i as isize, altrep).and_then(|ch| {
                if ch == R_NaString {
                    Err("the path is NA".to_string())
                } else {
                    json::char_to_str(ch).map_err(|w| format!("the path is {w}"))
                }
            })
        };
        let result = path.and_then(|path| {
            orthanc_core::dicom_ids::read_uids(std::path::Path::new(path))
                .map_err(|e| e.to_string())
        });
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

/// Test hooks, built only with the cargo feature `test-hooks` (ORTHANC_CARGO_FEATURES=
/// test-hooks at install, see dev/check-hooks.sh): the release library has none of them.
#[cfg(feature = "test-hooks")]
mod hooks {
    use super::*;

    /// Panics on purpose, inside `guarded()` as every exported function: the tests check
    /// that a Rust panic becomes an error list of kind "internal" (orthanc_internal_error)
    /// and never aborts the R session.
    #[extendr]
    fn rs_panic_probe(message: &str) -> Robj {
        guarded(|| panic!("{}", message.to_string()))
    }

    /// Makes R raise an error (a vector of negative length) under `protect()` while a Rust
    /// value with a destructor is alive: returns list(error = "internal", message, dropped)
    /// where `dropped` is TRUE when that destructor ran (no jump skipped the frame).
    #[extendr]
    fn rs_unwind_probe() -> Robj {
        struct Flag<'a>(&'a std::cell::Cell<bool>);
        impl Drop for Flag<'_> {
            fn drop(&mut self) {
                self.0.set(true);
            }
        }
        let dropped = std::cell::Cell::new(false);
        let jumped = {
            let _flag = Flag(&dropped);
            alloc_negative().is_err()
        };
        list!(
            error = "internal",
            message = "R raised an error under protect()",
            jumped = jumped,
            dropped = dropped.get()
        )
        .into()
    }

    fn alloc_negative() -> std::result::Result<SEXP, RJumped> {
        // SAFETY: an allocation R refuses with an R error, under protect().
        protect(|| unsafe { Rf_allocVector(SEXPTYPE::RAWSXP, -1) })
    }

    extendr_module! {
        mod hooks;
        fn rs_panic_probe;
        fn rs_unwind_probe;
    }
}

/// The module's functions; `extra` adds the test hooks' module in a test build.
macro_rules! orthanc_module {
    ($($extra:tt)*) => {
        extendr_module! {
            mod orthanc;
            fn rs_client_new;
            fn rs_client_valid;
            fn rs_perform;
            fn rs_perform_batch;
            fn rs_async_submit;
            fn rs_check_request;
            fn rs_async_poll;
            fn rs_async_cancel;
            fn rs_async_running;
            fn rs_to_json;
            fn rs_from_json;
            fn rs_decode_pixels;
            fn rs_dicom_ids;
            $($extra)*
        }
    };
}

#[cfg(not(feature = "test-hooks"))]
orthanc_module! {}
#[cfg(feature = "test-hooks")]
orthanc_module! { use hooks; }

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_that_would_break_the_header_are_refused() {
        let c = |n: &str, v: &str| cookie_header(&[(n.to_string(), v.to_string())]);
        assert_eq!(
            cookie_header(&[("a".into(), "1".into()), ("b".into(), "x y".into())]).unwrap(),
            "a=1; b=x y"
        );
        for (n, v) in [
            ("a;b", "1"),
            ("a=b", "1"),
            ("a,b", "1"),
            ("a b", "1"),
            ("", "1"),
        ] {
            assert!(c(n, v).is_err(), "name {n:?}");
        }
        for v in ["1;2", "1,2", "1\r\nX: y", "1\n", "\u{7f}", "\0"] {
            let e = c("session", v).unwrap_err();
            assert!(e.contains("`cookies$session`"), "{e}");
        }
        assert!(c("a\r\nX-Evil", "1")
            .unwrap_err()
            .contains("name of cookie"));
    }

    #[test]
    fn a_panic_becomes_an_internal_error() {
        let _r = json::R_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        test! {
            let r = guarded(|| panic!("boom"));
            assert_eq!(r.dollar("error").unwrap(), r!("internal"));
            let msg = r.dollar("message").unwrap();
            assert!(msg.as_str().unwrap().contains("boom"));
        }
    }
}
