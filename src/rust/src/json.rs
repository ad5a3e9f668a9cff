//! JSON <-> R, done in one pass without an intermediate tree.
//!
//! Answer -> R: object -> named list, array -> unnamed list, string -> character(1),
//! integer that fits in 32 bits -> integer, other numbers -> double, true/false -> logical,
//! null -> NULL. The result is `identical()` to
//! `jsonlite::fromJSON(txt, simplifyVector = FALSE)`.
//!
//! Within one answer, equal strings are one shared `character(1)` and objects with the same
//! keys in the same order share one `names` vector (see `Builder`). R's copy-on-modify keeps
//! this invisible: each shared vector is referenced from several places (and marked not
//! mutable), so modifying it through one list copies it first.
//!
//! R -> body: named list -> object, unnamed list -> array, atomic vector of length 1 ->
//! scalar, longer atomic vector -> array, `I(x)` -> always an array, NULL and NA -> null,
//! empty named list -> `{}`.
//!
//! Everything here runs on the R main thread: it allocates R objects.

use crate::rapi;
use extendr_ffi::{
    cetype_t, R_NaInt, R_NaString, R_NamesSymbol, R_NilValue, Rf_allocVector, Rf_getAttrib,
    Rf_isFactor, Rf_mkCharLenCE, Rf_protect, Rf_setAttrib, Rf_unprotect, INTEGER, LENGTH, LOGICAL,
    MARK_NOT_MUTABLE, REAL, R_CHAR, SET_STRING_ELT, SET_VECTOR_ELT, SEXP, SEXPTYPE, STRING_ELT,
    STRING_PTR_RO, TYPEOF, VECTOR_ELT, XLENGTH,
};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::io::Write;
use std::os::raw::c_int;

/// Parse JSON bytes into an R object. The returned SEXP is not protected.
///
/// Valid UTF-8 (the usual case) is checked once for the whole text and parsed as a `str`
/// (serde_json then does not check each string again); other bytes go through the byte
/// parser, which reports where the text is not UTF-8.
pub fn json_to_r(bytes: &[u8]) -> Result<SEXP, String> {
    unsafe {
        let mut b = Builder::new(bytes.len());
        let out = match std::str::from_utf8(bytes) {
            Ok(text) => parse_with(&mut serde_json::Deserializer::from_str(text), &mut b),
            Err(_) => parse_with(&mut serde_json::Deserializer::from_slice(bytes), &mut b),
        };
        Rf_unprotect(2);
        out
    }
}

unsafe fn parse_with<'de, R: serde_json::de::Read<'de>>(
    de: &mut serde_json::Deserializer<R>,
    b: &mut Builder,
) -> Result<SEXP, String> {
    let value = RSeed(b).deserialize(&mut *de).map_err(|e| e.to_string())?;
    Rf_protect(value);
    let end = de.end().map_err(|e| e.to_string());
    Rf_unprotect(1);
    end.map(|_| value)
}

/// Strings longer than this are not looked up in (nor added to) the cache of string values:
/// long strings seldom repeat, and hashing them would cost a pass over their bytes.
const STR_MAX: usize = 256;
/// log2 of the slots of the cache of `names` vectors: Orthanc's answers have a handful of
/// distinct key sequences (one per kind of object).
const NAMES_BITS: u32 = 5;

/// The state of one conversion.
///
/// The values (and object keys) parsed so far whose container is not complete yet are kept
/// on stacks. A complete array or object is allocated once, at its exact length, and its
/// elements are moved there from the top of the stacks. Values are on an R list (protected
/// in one slot of R's protect stack, doubled when full). Keys are CHARSXP pointers in a Rust
/// vector: most are kept alive by the key cache (`key_char`), the others are pushed on
/// `loose` as well, an R character vector (protected like the values).
///
/// Two direct-mapped caches save most allocations in large answers, where the same strings
/// (types, parent IDs, DICOM values shared by a series) and the same key sequences (every
/// instance, every `MainDicomTags`) repeat thousands of times:
/// - `strs`: the `character(1)` of a string value, by a hash of its bytes (compared by
///   bytes on a hit);
/// - `names`: the `names` vector of an object, by a hash of its key CHARSXP pointers
///   (compared pointer by pointer on a hit: R keeps one CHARSXP per string).
///
/// A slot holds the last object that hashed there, so a miss costs only the hash. The
/// caches need not protect their objects: every object made by this conversion is on the
/// value stack or inside a list that is (nothing made is ever dropped before the end), and
/// a cached object is made, put in the cache and pushed (or attached) with no allocation in
/// between.
///
/// Sharing is safe under copy-on-modify: an object placed in two lists (or two attributes)
/// has a reference count of 2, and cached objects are marked not mutable besides, so
/// `x[[1]]$Type[1] <- "a"` or `names(x[[1]])[1] <- "a"` copy the vector first.
struct Builder {
    vals: SEXP,
    vals_slot: c_int,
    nv: isize,
    /// The length of `vals` (read once: `XLENGTH()` is a call into R).
    vals_cap: isize,
    keys: Vec<SEXP>,
    loose: SEXP,
    loose_slot: c_int,
    nl: isize,
    str_shift: u32,
    strs: Vec<Slot>,
    names: Vec<(u64, SEXP)>,
    kc: *mut KeyCache,
}

impl Builder {
    /// Protects two objects: the caller unprotects 2 when done.
    /// `len` (the length of the JSON text) sizes the cache of strings: about one slot per
    /// 64 bytes of text, from 16 to 8,192 slots.
    unsafe fn new(len: usize) -> Builder {
        let vals = Rf_allocVector(SEXPTYPE::VECSXP, 64);
        let mut vals_slot: c_int = 0;
        rapi::R_ProtectWithIndex(vals, &mut vals_slot);
        let loose = Rf_allocVector(SEXPTYPE::STRSXP, 8);
        let mut loose_slot: c_int = 0;
        rapi::R_ProtectWithIndex(loose, &mut loose_slot);
        let str_bits = (len / 64)
            .max(1)
            .next_power_of_two()
            .trailing_zeros()
            .clamp(4, 13);
        let nstr = 1usize << str_bits;
        Builder {
            vals,
            vals_slot,
            nv: 0,
            vals_cap: 64,
            keys: Vec::with_capacity(64),
            loose,
            loose_slot,
            nl: 0,
            str_shift: 64 - str_bits,
            strs: vec![Slot::EMPTY; nstr],
            names: vec![(0, std::ptr::null_mut()); 1 << NAMES_BITS],
            kc: key_cache(),
        }
    }

    /// Push `x`, an unprotected object (kept alive across the growth of the stack).
    unsafe fn push_val(&mut self, x: SEXP) {
        if self.nv == self.vals_cap {
            Rf_protect(x);
            self.vals = grown(self.vals, self.nv, self.vals_slot);
            self.vals_cap = XLENGTH(self.vals);
            Rf_unprotect(1);
        }
        SET_VECTOR_ELT(self.vals, self.nv, x);
        self.nv += 1;
    }

    /// Push a key's CHARSXP; `held` says whether the key cache keeps it alive already.
    unsafe fn push_key(&mut self, ch: SEXP, held: bool) {
        if !held {
            if self.nl == XLENGTH(self.loose) {
                Rf_protect(ch);
                self.loose = grown(self.loose, self.nl, self.loose_slot);
                Rf_unprotect(1);
            }
            SET_STRING_ELT(self.loose, self.nl, ch);
            self.nl += 1;
        }
        self.keys.push(ch);
    }

    /// A list of the values from `start` to the top, popped from the stack. Unprotected.
    unsafe fn pop_list(&mut self, start: isize) -> SEXP {
        let n = self.nv - start;
        let out = Rf_allocVector(SEXPTYPE::VECSXP, n);
        for i in 0..n {
            SET_VECTOR_ELT(out, i, VECTOR_ELT(self.vals, start + i));
        }
        self.nv = start;
        out
    }

    /// The keys from `start` to the top as a character vector (shared with the previous
    /// object of the same keys when the cache has it), popped. Unprotected: the caller
    /// attaches it to its list.
    unsafe fn pop_names(&mut self, start: usize) -> SEXP {
        let keys = &self.keys[start..];
        let mut h = Fx(keys.len() as u64);
        for &k in keys {
            h.add(k as usize as u64);
        }
        let slot = (h.0 >> (64 - NAMES_BITS)) as usize;
        let (hash, cached) = self.names[slot];
        if hash == h.0
            && !cached.is_null()
            && XLENGTH(cached) == keys.len() as isize
            && (keys.is_empty()
                || std::slice::from_raw_parts(STRING_PTR_RO(cached), keys.len()) == keys)
        {
            self.keys.truncate(start);
            return cached;
        }
        // The key CHARSXPs are alive (key cache or `loose`) while they are on the key stack.
        let out = Rf_allocVector(SEXPTYPE::STRSXP, keys.len() as isize);
        for (i, &k) in keys.iter().enumerate() {
            SET_STRING_ELT(out, i as isize, k);
        }
        MARK_NOT_MUTABLE(out);
        self.names[slot] = (h.0, out);
        self.keys.truncate(start);
        out
    }

    /// The `character(1)` of a string value: the one made earlier in this conversion for
    /// the same bytes if the cache still has it, else a new one (which replaces the cache
    /// slot's). Unprotected.
    unsafe fn string(&mut self, s: &str) -> Result<SEXP, String> {
        if s.len() > STR_MAX {
            return r_string(s);
        }
        let h = hash_bytes(s.as_bytes());
        let slot = (h >> self.str_shift) as usize;
        if self.strs[slot].holds(h, s) {
            return Ok(self.strs[slot].obj);
        }
        let out = r_string(s)?;
        MARK_NOT_MUTABLE(out);
        self.strs[slot] = Slot::new(h, *STRING_PTR_RO(out), out);
        Ok(out)
    }
}

/// A copy of the stack `old` (its first `len` elements) twice as long, protected in `slot`.
unsafe fn grown(old: SEXP, len: isize, slot: c_int) -> SEXP {
    let kind = TYPEOF(old);
    let bigger = Rf_allocVector(kind, XLENGTH(old) * 2);
    rapi::R_Reprotect(bigger, slot);
    // `old` is unreachable now but no allocation happens until the copy is done.
    for i in 0..len {
        if kind == SEXPTYPE::STRSXP {
            SET_STRING_ELT(bigger, i, STRING_ELT(old, i));
        } else {
            SET_VECTOR_ELT(bigger, i, VECTOR_ELT(old, i));
        }
    }
    bigger
}

unsafe fn r_string(s: &str) -> Result<SEXP, String> {
    if s.as_bytes().contains(&0) {
        return Err("a JSON string contains a NUL character, which R strings cannot hold".into());
    }
    if s.len() > i32::MAX as usize {
        return Err("a JSON string is longer than R allows".into());
    }
    let ch = Rf_mkCharLenCE(s.as_ptr() as *const _, s.len() as c_int, cetype_t::CE_UTF8);
    Rf_protect(ch);
    let out = Rf_allocVector(SEXPTYPE::STRSXP, 1);
    SET_STRING_ELT(out, 0, ch);
    Rf_unprotect(1);
    Ok(out)
}

unsafe fn r_char(s: &str) -> Result<SEXP, String> {
    if s.as_bytes().contains(&0) {
        return Err("a JSON key contains a NUL character, which R strings cannot hold".into());
    }
    if s.len() > i32::MAX as usize {
        return Err("a JSON string is longer than R allows".into());
    }
    Ok(Rf_mkCharLenCE(
        s.as_ptr() as *const _,
        s.len() as c_int,
        cetype_t::CE_UTF8,
    ))
}

/// Object keys seen before, with their CHARSXPs: the keys of Orthanc's answers are few and
/// repeat (in every element of a large answer, and in every answer), and this lookup costs
/// less than R's own (`Rf_mkCharLenCE` checks and hashes the bytes one at a time, then
/// searches R's global string cache). The cache lives as long as the R session: a
/// direct-mapped table of `KEY_SLOTS` slots indexed by a hash of the bytes, where a key
/// whose slot is taken tries the neighbouring one (two ways). A filled slot is never
/// reused, so a key found here stays alive (one preserved character vector holds them) for
/// as long as a conversion uses it. Keys that find both slots taken, and keys longer than
/// `KEY_MAX` bytes, are made by R each time.
const KEY_BITS: u32 = 12;
const KEY_SLOTS: usize = 1 << KEY_BITS;
const KEY_MAX: usize = 48;

struct KeyCache {
    slots: Box<[Slot]>,
    store: SEXP,
}

thread_local! {
    static KEYS: std::cell::Cell<*mut KeyCache> = const { std::cell::Cell::new(std::ptr::null_mut()) };
}

/// The key cache of this thread (R's main thread), made on first use. A raw pointer: a
/// conversion looks it up once, not once per key.
unsafe fn key_cache() -> *mut KeyCache {
    KEYS.with(|cell| {
        if cell.get().is_null() {
            let store = Rf_allocVector(SEXPTYPE::STRSXP, KEY_SLOTS as isize);
            extendr_ffi::R_PreserveObject(store);
            cell.set(Box::into_raw(Box::new(KeyCache {
                slots: vec![Slot::EMPTY; KEY_SLOTS].into_boxed_slice(),
                store,
            })));
        }
        cell.get()
    })
}

/// The CHARSXP of an object key (unprotected), and whether the key cache `kc` keeps it
/// alive.
unsafe fn key_char(kc: *mut KeyCache, s: &str) -> Result<(SEXP, bool), String> {
    if s.len() > KEY_MAX {
        return Ok((r_char(s)?, false));
    }
    let h = hash_bytes(s.as_bytes());
    let first = (h >> (64 - KEY_BITS)) as usize;
    for slot in [first, first ^ 1] {
        let cached = (*kc).slots[slot];
        if cached.obj.is_null() {
            let ch = r_char(s)?;
            SET_STRING_ELT((*kc).store, slot as isize, ch);
            (*kc).slots[slot] = Slot::new(h, ch, ch);
            return Ok((ch, true));
        }
        if cached.holds(h, s) {
            return Ok((cached.obj, true));
        }
    }
    Ok((r_char(s)?, false))
}

/// A slot of the string and key caches: `obj` (null if the slot is empty) and the hash,
/// length and bytes of its string (`CHAR()` of its CHARSXP: R never moves objects, so the
/// pointer is valid as long as `obj` is alive). Keeping them here makes a lookup a plain
/// comparison, without calls into R.
#[derive(Clone, Copy)]
struct Slot {
    hash: u64,
    len: usize,
    bytes: *const u8,
    obj: SEXP,
}

impl Slot {
    const EMPTY: Slot = Slot {
        hash: 0,
        len: 0,
        bytes: std::ptr::null(),
        obj: std::ptr::null_mut(),
    };

    /// The slot of `obj`, whose string is the CHARSXP `ch`, of hash `hash`.
    unsafe fn new(hash: u64, ch: SEXP, obj: SEXP) -> Slot {
        Slot {
            hash,
            len: LENGTH(ch) as usize,
            bytes: R_CHAR(ch) as *const u8,
            obj,
        }
    }

    /// Whether the slot holds the string `s`, of hash `hash`.
    unsafe fn holds(&self, hash: u64, s: &str) -> bool {
        self.hash == hash
            && self.len == s.len()
            && !self.obj.is_null()
            && std::slice::from_raw_parts(self.bytes, self.len) == s.as_bytes()
    }
}

/// The hash of the caches of strings and keys.
fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = Fx(bytes.len() as u64);
    h.write(bytes);
    h.0
}

/// A small fast hash for short strings (the multiply-rotate hash of rustc's FxHasher). Its
/// high bits are the best mixed: the direct-mapped caches index by them.
struct Fx(u64);

impl Fx {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    /// Eight bytes at a time, the last up to seven as one word.
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap()));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }
}

struct RSeed<'b>(&'b mut Builder);

impl<'de> DeserializeSeed<'de> for RSeed<'_> {
    type Value = SEXP;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<SEXP, D::Error> {
        d.deserialize_any(RVisitor(self.0))
    }
}

/// An object key, straight from the parser's `&str` to its CHARSXP (deserializing a
/// `Cow<str>` or `String` would allocate a Rust string for every key).
struct KeySeed(*mut KeyCache);

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = (SEXP, bool);
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(SEXP, bool), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = (SEXP, bool);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(SEXP, bool), E> {
        unsafe { key_char(self.0, v) }.map_err(E::custom)
    }
}

struct RVisitor<'b>(&'b mut Builder);

impl<'de> Visitor<'de> for RVisitor<'_> {
    type Value = SEXP;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    /// `Rf_ScalarLogical` returns R's own shared TRUE and FALSE (no allocation; R marks
    /// them not mutable), as R code's `TRUE` does.
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<SEXP, E> {
        Ok(unsafe { rapi::Rf_ScalarLogical(v as c_int) })
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<SEXP, E> {
        Ok(unsafe {
            // i32::MIN is R's NA_integer_: such a value becomes a double, like jsonlite.
            if v > i32::MIN as i64 && v <= i32::MAX as i64 {
                extendr_ffi::Rf_ScalarInteger(v as c_int)
            } else {
                rapi::Rf_ScalarReal(v as f64)
            }
        })
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<SEXP, E> {
        Ok(unsafe {
            if v <= i32::MAX as u64 {
                extendr_ffi::Rf_ScalarInteger(v as c_int)
            } else {
                rapi::Rf_ScalarReal(v as f64)
            }
        })
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<SEXP, E> {
        Ok(unsafe { rapi::Rf_ScalarReal(v) })
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<SEXP, E> {
        unsafe { self.0.string(v) }.map_err(E::custom)
    }

    fn visit_unit<E: de::Error>(self) -> Result<SEXP, E> {
        Ok(unsafe { R_NilValue })
    }

    fn visit_none<E: de::Error>(self) -> Result<SEXP, E> {
        Ok(unsafe { R_NilValue })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SEXP, A::Error> {
        let b = self.0;
        unsafe {
            let start = b.nv;
            while let Some(x) = seq.next_element_seed(RSeed(&mut *b))? {
                b.push_val(x);
            }
            Ok(b.pop_list(start))
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SEXP, A::Error> {
        let b = self.0;
        unsafe {
            let (start_v, start_k, start_l) = (b.nv, b.keys.len(), b.nl);
            while let Some((key, held)) = map.next_key_seed(KeySeed(b.kc))? {
                b.push_key(key, held);
                let v = map.next_value_seed(RSeed(&mut *b))?;
                b.push_val(v);
            }
            let list = Rf_protect(b.pop_list(start_v));
            let names = b.pop_names(start_k);
            Rf_setAttrib(list, R_NamesSymbol, names);
            // The loose keys are in `names` now.
            b.nl = start_l;
            Rf_unprotect(1);
            Ok(list)
        }
    }
}

// ---------------------------------------------------------------------------------------
// R -> JSON

/// Why an R object could not be written as JSON.
#[derive(Debug)]
pub struct EncodeError(pub String);

const MAX_DEPTH: usize = 512;

/// Encode an R object as JSON bytes following the rules in the module documentation.
pub fn r_to_json(x: &extendr_api::Robj) -> Result<Vec<u8>, EncodeError> {
    use extendr_api::GetSexp;
    unsafe { sexp_to_json(x.get()) }
}

/// As `r_to_json()`, for a raw SEXP.
///
/// # Safety
/// `x` must be a valid R object, protected (or reachable from R) during the call; R main
/// thread only.
pub(crate) unsafe fn sexp_to_json(x: SEXP) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(256);
    encode(x, &mut out, 0, "json")?;
    Ok(out)
}

fn err<T>(msg: String) -> Result<T, EncodeError> {
    Err(EncodeError(msg))
}

unsafe fn is_asis(x: SEXP) -> bool {
    rapi::Rf_inherits(x, c"AsIs".as_ptr()) != 0
}

/// The UTF-8 text of a CHARSXP (not NA), read without any R call that can raise an R error
/// across Rust frames: a string in "bytes" encoding (which R refuses to translate, with an
/// error) and one whose bytes are not valid UTF-8 are refused here, with what they are.
/// Latin-1 and native strings are translated by R, which raises only for "bytes".
pub(crate) unsafe fn char_to_str<'a>(ch: SEXP) -> Result<&'a str, &'static str> {
    if rapi::Rf_getCharCE(ch) == cetype_t::CE_BYTES {
        return Err("a string in \"bytes\" encoding");
    }
    let p = rapi::Rf_translateCharUTF8(ch);
    std::ffi::CStr::from_ptr(p)
        .to_str()
        .map_err(|_| "a string that is not valid UTF-8")
}

/// `char_to_str()` for the JSON writer: a refusal names the element.
unsafe fn json_str<'a>(ch: SEXP, what: impl fmt::Display) -> Result<&'a str, EncodeError> {
    char_to_str(ch)
        .map_err(|w| EncodeError(format!("{what} is {w}, which cannot be written as JSON")))
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    // serde_json escapes exactly as JSON requires.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn write_f64(out: &mut Vec<u8>, v: f64) {
    if !v.is_finite() {
        out.extend_from_slice(b"null");
    } else if v == v.trunc() && v.abs() < 9.0e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        let _ = write!(out, "{}", serde_json::Number::from_f64(v).unwrap());
    }
}

unsafe fn encode(x: SEXP, out: &mut Vec<u8>, depth: usize, at: &str) -> Result<(), EncodeError> {
    if depth > MAX_DEPTH {
        return err(format!(
            "`{at}` is nested more than {MAX_DEPTH} levels deep"
        ));
    }
    let ty = TYPEOF(x);
    let vector = matches!(
        ty,
        SEXPTYPE::VECSXP
            | SEXPTYPE::LGLSXP
            | SEXPTYPE::INTSXP
            | SEXPTYPE::REALSXP
            | SEXPTYPE::STRSXP
    );
    let n = if vector { XLENGTH(x) } else { 0 };
    let names = if vector {
        Rf_getAttrib(x, R_NamesSymbol)
    } else {
        R_NilValue
    };
    match ty {
        SEXPTYPE::NILSXP => out.extend_from_slice(b"null"),
        SEXPTYPE::VECSXP => {
            if names != R_NilValue {
                out.push(b'{');
                for i in 0..n {
                    if i > 0 {
                        out.push(b',');
                    }
                    let key = STRING_ELT(names, i);
                    let key = if key == R_NaString {
                        "NA"
                    } else {
                        json_str(key, format_args!("A name in `{at}`"))?
                    };
                    write_str(out, key);
                    out.push(b':');
                    encode(VECTOR_ELT(x, i), out, depth + 1, key)?;
                }
                out.push(b'}');
            } else {
                out.push(b'[');
                for i in 0..n {
                    if i > 0 {
                        out.push(b',');
                    }
                    encode(VECTOR_ELT(x, i), out, depth + 1, at)?;
                }
                out.push(b']');
            }
        }
        SEXPTYPE::LGLSXP | SEXPTYPE::INTSXP | SEXPTYPE::REALSXP | SEXPTYPE::STRSXP => {
            let array = n != 1 || is_asis(x);
            if array {
                out.push(b'[');
            }
            let factor = Rf_isFactor(x) != extendr_ffi::Rboolean::FALSE;
            let levels = if factor {
                Rf_getAttrib(x, extendr_ffi::R_LevelsSymbol)
            } else {
                R_NilValue
            };
            // A factor's codes index its levels: both are checked before use (a code past
            // the levels would read outside them; levels that are not strings would make
            // STRING_ELT raise an R error across Rust frames).
            let nlevels = if factor {
                if TYPEOF(levels) != SEXPTYPE::STRSXP {
                    return err(format!(
                        "`{at}` is a factor whose levels are not character strings, which cannot be written as JSON"
                    ));
                }
                XLENGTH(levels)
            } else {
                0
            };
            for i in 0..n {
                if i > 0 {
                    out.push(b',');
                }
                match ty {
                    SEXPTYPE::LGLSXP => {
                        let v = *LOGICAL(x).offset(i);
                        out.extend_from_slice(match v {
                            0 => b"false".as_slice(),
                            v if v == R_NaInt => b"null".as_slice(),
                            _ => b"true".as_slice(),
                        });
                    }
                    SEXPTYPE::INTSXP => {
                        let v = *INTEGER(x).offset(i);
                        if v == R_NaInt {
                            out.extend_from_slice(b"null");
                        } else if factor {
                            if v < 1 || v as isize > nlevels {
                                return err(format!(
                                    "`{at}` is a factor with the code {v}, outside its {nlevels} levels, which cannot be written as JSON"
                                ));
                            }
                            let level = STRING_ELT(levels, (v - 1) as isize);
                            write_str(out, json_str(level, format_args!("A level of `{at}`"))?);
                        } else {
                            let _ = write!(out, "{v}");
                        }
                    }
                    SEXPTYPE::REALSXP => write_f64(out, *REAL(x).offset(i)),
                    _ => {
                        let s = STRING_ELT(x, i);
                        if s == R_NaString {
                            out.extend_from_slice(b"null");
                        } else {
                            write_str(out, json_str(s, format_args!("`{at}[{}]`", i + 1))?);
                        }
                    }
                }
            }
            if array {
                out.push(b']');
            }
        }
        other => {
            let what = match other {
                SEXPTYPE::CLOSXP | SEXPTYPE::BUILTINSXP | SEXPTYPE::SPECIALSXP => "a function",
                SEXPTYPE::ENVSXP => "an environment",
                SEXPTYPE::RAWSXP => "a raw vector (send it with `data =` instead)",
                SEXPTYPE::CPLXSXP => "a complex vector",
                SEXPTYPE::SYMSXP | SEXPTYPE::LANGSXP => "a language object",
                SEXPTYPE::EXTPTRSXP => "an external pointer",
                // S4SXP before R 4.4, OBJSXP since (extendr-ffi names it after the R it is
                // built for): the same code, 25, either way.
                t if t as u32 == 25 => "an S4 object",
                _ => "an object of this type",
            };
            return err(format!("`{at}` is {what}, which cannot be written as JSON"));
        }
    }
    Ok(())
}

/// The embedded R of `cargo test` is one R: tests that use it take this lock, since cargo
/// runs tests on several threads.
#[cfg(test)]
pub(crate) static R_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[cfg(test)]
fn lock_r() -> std::sync::MutexGuard<'static, ()> {
    R_LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use extendr_api::prelude::*;

    fn r_parse(txt: &str) -> Robj {
        let s = json_to_r(txt.as_bytes()).expect("valid JSON");
        unsafe { Robj::from_sexp(s) }
    }

    #[test]
    fn json_to_r_types() {
        let _r = super::lock_r();
        test! {
            assert_eq!(r_parse("1"), r!(1i32));
            assert_eq!(r_parse("1.5"), r!(1.5));
            assert_eq!(r_parse("3000000000"), r!(3000000000.0));
            assert_eq!(r_parse("-2147483648"), r!(-2147483648.0));
            assert_eq!(r_parse("true"), r!(true));
            assert_eq!(r_parse("\"é\""), r!("é"));
            assert!(r_parse("null").is_null());
            let l = r_parse("{\"a\":[1,null,\"x\"],\"b\":{}}");
            assert_eq!(l.names().unwrap().collect::<Vec<_>>(), vec!["a", "b"]);
            let a = l.dollar("a").unwrap();
            assert_eq!(a.len(), 3);
            assert!(a.as_list().unwrap().elt(1).unwrap().is_null());
            let b = l.dollar("b").unwrap();
            assert_eq!(b.len(), 0);
            assert!(b.names().is_some());
            let big = format!("[{}]", vec!["1"; 100_000].join(","));
            assert_eq!(r_parse(&big).len(), 100_000);
        }
    }

    #[test]
    fn json_to_r_shares_repeated_strings_and_names() {
        let _r = super::lock_r();
        test! {
            let x = r_parse(r#"[{"T":"I","K":{"a":"v"}},{"T":"I","K":{"a":"w"}},{"U":"I"}]"#);
            let x = x.as_list().unwrap();
            let (a, b, c) = (x.elt(0).unwrap(), x.elt(1).unwrap(), x.elt(2).unwrap());
            unsafe {
                let t = |o: &Robj| o.dollar("T").unwrap().get();
                // One character(1) for the two "I" values, and one names vector for the two
                // objects with keys T, K ...
                assert_eq!(t(&a), t(&b));
                assert_eq!(t(&a), c.dollar("U").unwrap().get());
                let names = |o: &Robj| Rf_getAttrib(o.get(), R_NamesSymbol);
                assert_eq!(names(&a), names(&b));
                assert_eq!(names(&a.dollar("K").unwrap()), names(&b.dollar("K").unwrap()));
                // ... but not for different strings or keys.
                assert_ne!(a.dollar("K").unwrap().dollar("a").unwrap().get(),
                           b.dollar("K").unwrap().dollar("a").unwrap().get());
                assert_ne!(names(&a), names(&c));
                // Shared objects are marked not mutable: R copies them before modifying.
                assert!(rapi::NAMED(t(&a)) > 1 && rapi::NAMED(names(&a)) > 1);
            }
        }
    }

    #[test]
    fn json_to_r_errors() {
        let _r = super::lock_r();
        test! {
            assert!(json_to_r(b"{").is_err());
            assert!(json_to_r(b"[1,]").is_err());
            assert!(json_to_r(b"\"a\\u0000b\"").is_err());
            assert!(json_to_r(b"1e400").is_err());
            assert!(json_to_r(b"\"\xff\"").is_err());
            let deep = "[".repeat(100_000);
            assert!(json_to_r(deep.as_bytes()).is_err());
            assert!(json_to_r(b"[1] trailing").is_err());
        }
    }

    fn enc(x: Robj) -> String {
        String::from_utf8(r_to_json(&x).unwrap()).unwrap()
    }

    #[test]
    fn r_to_json_rules() {
        let _r = super::lock_r();
        test! {
            assert_eq!(enc(R!("list(a = 1, b = 'x', c = TRUE, d = NULL, e = NA)").unwrap()),
                       r#"{"a":1,"b":"x","c":true,"d":null,"e":null}"#);
            assert_eq!(enc(R!("list(1L, 2.5, c('a','b'))").unwrap()), r#"[1,2.5,["a","b"]]"#);
            assert_eq!(enc(R!("I('x')").unwrap()), r#"["x"]"#);
            assert_eq!(enc(R!("structure(list(), names = character(0))").unwrap()), "{}");
            assert_eq!(enc(R!("list()").unwrap()), "[]");
            assert_eq!(enc(R!("c(NA_real_, Inf, 1e300)").unwrap()), "[null,null,1e+300]");
            assert_eq!(enc(R!("factor('lvl')").unwrap()), r#""lvl""#);
            assert_eq!(enc(R!("'quote\" and \\\\ and \\n é'").unwrap()), r#""quote\" and \\ and \n é""#);
            assert!(r_to_json(&R!("function() 1").unwrap()).is_err());
            assert!(r_to_json(&R!("list(a = new.env())").unwrap()).is_err());
        }
    }
}

/// Property-based fuzzing of the JSON bridge: no input makes it panic or crash, valid JSON
/// always converts, and R -> JSON -> R -> JSON is stable. `cargo test` runs a short seeded
/// corpus; a long run: `ORTHANC_FUZZ_CASES=200000 cargo test --release fuzz -- --nocapture`.
#[cfg(test)]
mod fuzz {
    use super::*;
    use extendr_api::prelude::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    fn cases() -> u32 {
        std::env::var("ORTHANC_FUZZ_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(300)
    }

    fn runner() -> TestRunner {
        TestRunner::new(Config {
            cases: cases(),
            failure_persistence: None,
            ..Config::default()
        })
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "\\PC{0,20}".prop_map(Value::String),
            any::<String>()
                .prop_filter("no NUL", |s| !s.contains('\0'))
                .prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::Array),
                prop::collection::vec(("\\PC{0,8}", inner), 0..8)
                    .prop_map(|kv| { serde_json::Value::Object(kv.into_iter().collect()) }),
            ]
        })
    }

    /// Same JSON up to number representation (R keeps integers and doubles apart, JSON
    /// does not) and the loss of precision of integers beyond 2^53 that become doubles.
    fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
        use serde_json::Value::*;
        match (a, b) {
            (Number(x), Number(y)) => {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                x == y || ((x - y) / x).abs() < 1e-15
            }
            (Array(x), Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q)),
            (Object(x), Object(y)) => {
                x.len() == y.len()
                    && x.iter()
                        .zip(y)
                        .all(|((k1, v1), (k2, v2))| k1 == k2 && same(v1, v2))
            }
            _ => a == b,
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let _r = super::lock_r();
        test! {
            let mut r = runner();
            r.run(&prop::collection::vec(any::<u8>(), 0..256), |bytes| {
                let _ = json_to_r(&bytes);
                Ok(())
            }).unwrap();
            // Mutations of valid JSON: truncated, with garbage inserted.
            r.run(&(json_value(), any::<usize>(), any::<u8>()), |(v, cut, byte)| {
                let mut text = serde_json::to_vec(&v).unwrap();
                let at = cut % (text.len() + 1);
                let _ = json_to_r(&text[..at]);
                text.insert(at, byte);
                let _ = json_to_r(&text);
                Ok(())
            }).unwrap();
        }
    }

    #[test]
    fn valid_json_round_trips() {
        let _r = super::lock_r();
        test! {
            let mut r = runner();
            r.run(&json_value(), |v| {
                let text = serde_json::to_vec(&v).unwrap();
                let robj = unsafe { Robj::from_sexp(json_to_r(&text).expect("valid JSON converts")) };
                // Scalars of R are vectors of length 1 and lists keep their shape, so writing
                // the R object back gives the same JSON (one-element arrays excepted: R
                // cannot tell them from scalars once they are atomic, but here they are lists).
                let back = r_to_json(&robj).expect("converted answers can be written back");
                let again: serde_json::Value = serde_json::from_slice(&back).expect("valid JSON is written");
                prop_assert!(same(&v, &again), "{} -> {}", serde_json::to_string(&v).unwrap(), String::from_utf8_lossy(&back));
                Ok(())
            }).unwrap();
        }
    }
}
