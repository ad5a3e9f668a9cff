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
//! empty named list -> `{}`, factor -> its levels, Date -> "YYYY-MM-DD", class "scalar"
//! (jsonlite's unbox) -> scalar: what `jsonlite::toJSON(auto_unbox = TRUE, null = "null",
//! na = "null", digits = NA)` writes. Everything else is refused with the R path of the
//! element (`json$Query$PatientName[2]`), before any R call that could raise: other classes
//! (data.frame, POSIXct, difftime, S4, ...), objects with a `dim`, lists with empty, NA or
//! repeated names, strings in "bytes" encoding or not valid UTF-8, nesting past MAX_DEPTH.
//!
//! Everything here runs on the R main thread: it allocates R objects.

use crate::rapi;
use extendr_ffi::{
    cetype_t, R_ClassSymbol, R_DimSymbol, R_LevelsSymbol, R_NaInt, R_NaString, R_NamesSymbol,
    R_NilValue, Rboolean, Rf_allocVector, Rf_getAttrib, Rf_isS4, Rf_mkCharLenCE, Rf_protect,
    Rf_setAttrib, Rf_unprotect, INTEGER, LENGTH, LOGICAL, MARK_NOT_MUTABLE, REAL, R_CHAR,
    SET_STRING_ELT, SET_VECTOR_ELT, SEXP, SEXPTYPE, STRING_ELT, STRING_PTR_RO, TYPEOF, VECTOR_ELT,
    XLENGTH,
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
    // SAFETY: The Builder allocates R objects and keeps them protected until the result is returned; this runs on the R main thread (module rule).
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
        // SAFETY: `self.0` is the key cache of the Builder alive for this parse; R main thread.
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
        // SAFETY: Rf_ScalarLogical returns R's shared constants and cannot raise; R main thread.
        Ok(unsafe { rapi::Rf_ScalarLogical(v as c_int) })
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<SEXP, E> {
        // SAFETY: The allocation functions cannot raise except on memory exhaustion (as any R allocation); the result is handed to the Builder, which protects it; R main thread.
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
        // SAFETY: As in visit_i64.
        Ok(unsafe {
            if v <= i32::MAX as u64 {
                extendr_ffi::Rf_ScalarInteger(v as c_int)
            } else {
                rapi::Rf_ScalarReal(v as f64)
            }
        })
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<SEXP, E> {
        // SAFETY: As in visit_i64.
        Ok(unsafe { rapi::Rf_ScalarReal(v) })
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<SEXP, E> {
        // SAFETY: `self.0` is the Builder alive for this parse; R main thread.
        unsafe { self.0.string(v) }.map_err(E::custom)
    }

    fn visit_unit<E: de::Error>(self) -> Result<SEXP, E> {
        // SAFETY: R_NilValue is a constant of R, read only.
        Ok(unsafe { R_NilValue })
    }

    fn visit_none<E: de::Error>(self) -> Result<SEXP, E> {
        // SAFETY: R_NilValue is a constant of R, read only.
        Ok(unsafe { R_NilValue })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SEXP, A::Error> {
        let b = self.0;
        // SAFETY: The Builder protects each value it receives until pop_list() makes the list; R main thread.
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
        // SAFETY: As in visit_seq: values and keys are held by the Builder until the list is made.
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

/// Deeper bodies are refused: Orthanc's own JSON parser overflows its stack on bodies nested
/// about 200 deep (the server dies), and no request of its API nests more than a few levels.
const MAX_DEPTH: usize = 100;

/// One step of the path from the argument to the element being written: a list element by
/// name (`$Query`) or by position (`[[2]]`).
#[derive(Clone, Copy)]
enum Step<'a> {
    Key(&'a str),
    Item(isize),
}

/// Where the writer is, as the user would write it in R (`json$Query$PatientName`). Only
/// formatted for a refusal: on the way down it costs a push and a pop per list element.
struct Path<'a> {
    root: &'a str,
    steps: Vec<Step<'a>>,
}

/// Whether `key` can follow `$` in R code without backticks: a letter, or a dot not followed
/// by a digit, then letters, digits, dots and underscores.
fn syntactic(key: &str) -> bool {
    let b = key.as_bytes();
    let start_ok = match b.first() {
        Some(b'.') => !b.get(1).is_some_and(u8::is_ascii_digit),
        Some(c) => c.is_ascii_alphabetic(),
        None => false,
    };
    start_ok
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'.' || *c == b'_')
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.root)?;
        for step in &self.steps {
            match step {
                Step::Key(k) if syntactic(k) => write!(f, "${k}")?,
                Step::Key(k) => write!(f, "$`{}`", k.replace('`', "\\`"))?,
                Step::Item(i) => write!(f, "[[{i}]]")?,
            }
        }
        Ok(())
    }
}

/// Encode an R object as JSON bytes following the rules in the module documentation.
pub fn r_to_json(x: &extendr_api::Robj) -> Result<Vec<u8>, EncodeError> {
    use extendr_api::GetSexp;
    // SAFETY: `x` is an R object alive for this call (borrowed from the caller), and this
    // runs on the R main thread, as every function taking an Robj does.
    unsafe { sexp_to_json(x.get()) }
}

/// As `r_to_json()`, for a raw SEXP.
///
/// # Safety
/// `x` must be a valid R object, protected (or reachable from R) during the call; R main
/// thread only.
pub(crate) unsafe fn sexp_to_json(x: SEXP) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(256);
    let mut path = Path {
        root: "json",
        steps: Vec::new(),
    };
    encode(x, &mut out, &mut path)?;
    Ok(out)
}

fn err<T>(msg: String) -> Result<T, EncodeError> {
    Err(EncodeError(msg))
}

/// The UTF-8 text of a CHARSXP (not NA), read without any R call that can raise an R error
/// across Rust frames: a string in "bytes" encoding (which R refuses to translate, with an
/// error) and one whose bytes are not valid UTF-8 are refused here, with what they are.
/// Latin-1 and native strings are translated by R, which raises only for "bytes".
///
/// # Safety
/// `ch` must be a CHARSXP other than NA, alive for the lifetime `'a` given to the result;
/// R main thread only.
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
///
/// # Safety
/// As `char_to_str()`.
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

/// The civil date (year, month, day) of a number of days since 1970-01-01, in the proleptic
/// Gregorian calendar R uses: whole 400-year eras of 146097 days, then the year of the era
/// counted from March (so that the leap day ends the year).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of the era, 0..146096
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365; // year of the era
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of the year from March 1st
    let mp = (5 * doy + 2) / 153; // month from March, 0..11
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A Date element as jsonlite writes it ("YYYY-MM-DD"; NA as null). Infinite dates and years
/// outside 1000-9999 (which R writes without padding or with a sign, differently on each
/// platform, and Orthanc cannot read) are refused.
fn write_date(out: &mut Vec<u8>, days: f64, what: impl fmt::Display) -> Result<(), EncodeError> {
    if days.is_nan() {
        out.extend_from_slice(b"null");
        return Ok(());
    }
    let (y, m, d) = if days.is_finite() && days.abs() < 1e9 {
        civil_from_days(days.floor() as i64)
    } else {
        (0, 1, 1)
    };
    if !(1000..=9999).contains(&y) {
        return err(format!(
            "{what} is a date outside the years 1000 to 9999, which cannot be written as JSON"
        ));
    }
    let _ = write!(out, "\"{y:04}-{m:02}-{d:02}\"");
    Ok(())
}

/// The classes the writer knows, from an object's class attribute.
#[derive(Default)]
struct Classes {
    factor: bool,
    asis: bool,
    date: bool,
    scalar: bool,
}

/// Read the class attribute of `x`: the known classes, or the refusal of an object that the
/// writer would otherwise write by its storage type only, losing what its class means (as
/// jsonlite refuses the classes it has no method for).
///
/// # Safety
/// `x` alive during the call; R main thread only.
unsafe fn classes(x: SEXP, path: &Path<'_>) -> Result<Classes, EncodeError> {
    let mut c = Classes::default();
    if Rf_isS4(x) != Rboolean::FALSE {
        return err(format!(
            "`{path}` is an S4 object, which cannot be written as JSON: give a list or a vector"
        ));
    }
    let cls = Rf_getAttrib(x, R_ClassSymbol);
    if TYPEOF(cls) != SEXPTYPE::STRSXP {
        return Ok(c);
    }
    for i in 0..XLENGTH(cls) {
        let ch = STRING_ELT(cls, i);
        let name = if ch == R_NaString {
            "NA"
        } else {
            json_str(ch, format_args!("The class of `{path}`"))?
        };
        match name {
            "factor" => c.factor = true,
            "AsIs" => c.asis = true,
            "Date" => c.date = true,
            "scalar" => c.scalar = true,
            // The storage type's own name, as jsonlite's unbox() adds it after "scalar".
            "character" if TYPEOF(x) == SEXPTYPE::STRSXP => {}
            "logical" if TYPEOF(x) == SEXPTYPE::LGLSXP => {}
            "integer" if TYPEOF(x) == SEXPTYPE::INTSXP => {}
            "numeric" if matches!(TYPEOF(x), SEXPTYPE::REALSXP | SEXPTYPE::INTSXP) => {}
            "data.frame" => {
                return err(format!(
                    "`{path}` is a data frame, which cannot be written as JSON: give its columns \
                     with `as.list()`, or its rows as a list of lists"
                ))
            }
            "POSIXct" | "POSIXlt" | "POSIXt" => {
                return err(format!(
                    "`{path}` is a date-time ({name}), which cannot be written as JSON: write it as \
                     text as Orthanc reads it, e.g. `format(x, \"%Y%m%d\")` or `format(x, \"%H%M%S\")`"
                ))
            }
            "difftime" => {
                return err(format!(
                    "`{path}` is a time difference (difftime), which cannot be written as JSON: \
                     give a number, e.g. `as.numeric(x, units = \"secs\")`"
                ))
            }
            other => {
                return err(format!(
                    "`{path}` is an object of class \"{other}\", which cannot be written as JSON: \
                     give a list or a plain vector (e.g. `unclass(x)`)"
                ))
            }
        }
    }
    let ty = TYPEOF(x);
    if c.factor && ty != SEXPTYPE::INTSXP {
        return err(format!(
            "`{path}` has the class \"factor\" but is not a factor (integer codes with levels), \
             which cannot be written as JSON"
        ));
    }
    if c.date && (c.factor || !matches!(ty, SEXPTYPE::REALSXP | SEXPTYPE::INTSXP)) {
        return err(format!(
            "`{path}` has the class \"Date\" but does not hold numbers of days, which cannot be \
             written as JSON"
        ));
    }
    if c.scalar && (XLENGTH(x) != 1 || ty == SEXPTYPE::VECSXP) {
        return err(format!(
            "`{path}` has the class \"scalar\" (jsonlite's `unbox()`) but is not a single \
             value, which cannot be written as JSON"
        ));
    }
    Ok(c)
}

/// The names of a named list as JSON keys: each must be a non-empty string, and no two equal
/// (a JSON object with two equal keys means different things to different readers).
///
/// # Safety
/// `names` is the names attribute (a character vector) of a list alive during the call; R
/// main thread only.
unsafe fn list_keys<'a>(names: SEXP, path: &Path<'_>) -> Result<Vec<&'a str>, EncodeError> {
    let n = XLENGTH(names);
    let mut keys: Vec<&'a str> = Vec::with_capacity(n as usize);
    for i in 0..n {
        let ch = STRING_ELT(names, i);
        let key = if ch == R_NaString {
            ""
        } else {
            json_str(ch, format_args!("A name in `{path}`"))?
        };
        if key.is_empty() {
            return err(format!(
                "`{path}` has names, but its element {} has none (an empty or NA name), which \
                 cannot be written as a JSON object: name every element, or none for an array",
                i + 1
            ));
        }
        keys.push(key);
    }
    let duplicated = if keys.len() <= 16 {
        (1..keys.len()).find_map(|i| keys[..i].contains(&keys[i]).then_some(keys[i]))
    } else {
        let mut seen = std::collections::HashSet::with_capacity(keys.len());
        keys.iter().find(|k| !seen.insert(**k)).copied()
    };
    if let Some(key) = duplicated {
        return err(format!(
            "`{path}` has the name \"{key}\" more than once, which cannot be written as a JSON \
             object"
        ));
    }
    Ok(keys)
}

/// Write `x` as JSON at `path`: NULL, a list, or an atomic vector; anything else is refused.
///
/// # Safety
/// `x` alive during the call (its elements are reachable from it); R main thread only.
unsafe fn encode<'a>(x: SEXP, out: &mut Vec<u8>, path: &mut Path<'a>) -> Result<(), EncodeError> {
    if path.steps.len() > MAX_DEPTH {
        return err(format!(
            "`{path}` is nested more than {MAX_DEPTH} levels deep, which cannot be sent"
        ));
    }
    let ty = TYPEOF(x);
    match ty {
        SEXPTYPE::NILSXP => {
            out.extend_from_slice(b"null");
            Ok(())
        }
        SEXPTYPE::VECSXP
        | SEXPTYPE::LGLSXP
        | SEXPTYPE::INTSXP
        | SEXPTYPE::REALSXP
        | SEXPTYPE::STRSXP => {
            let cls = classes(x, path)?;
            if Rf_getAttrib(x, R_DimSymbol) != R_NilValue {
                return err(format!(
                    "`{path}` is a matrix or array, which cannot be written as JSON: give \
                     `as.vector(x)` for its values in column order, or a list of its rows"
                ));
            }
            if ty == SEXPTYPE::VECSXP {
                encode_list(x, out, path)
            } else {
                encode_atomic(x, ty, &cls, out, path)
            }
        }
        other => err(format!(
            "`{path}` is {}, which cannot be written as JSON",
            type_refused(other)
        )),
    }
}

/// What an object of a type that has no JSON form is, for its refusal.
fn type_refused(ty: SEXPTYPE) -> &'static str {
    match ty {
        SEXPTYPE::CLOSXP | SEXPTYPE::BUILTINSXP | SEXPTYPE::SPECIALSXP => "a function",
        SEXPTYPE::ENVSXP => "an environment",
        SEXPTYPE::RAWSXP => "a raw vector (send it with `data =` instead)",
        SEXPTYPE::CPLXSXP => "a complex vector",
        SEXPTYPE::SYMSXP | SEXPTYPE::LANGSXP => "a language object",
        SEXPTYPE::EXTPTRSXP => "an external pointer",
        // S4SXP before R 4.4, OBJSXP since (extendr-ffi names it after the R it is built
        // for): the same code, 25, either way.
        t if t as u32 == 25 => "an S4 object",
        _ => "an object of this type",
    }
}

/// A list: an object when it has names (checked by `list_keys()`), else an array.
///
/// # Safety
/// `x` a list alive during the call; R main thread only.
unsafe fn encode_list<'a>(
    x: SEXP,
    out: &mut Vec<u8>,
    path: &mut Path<'a>,
) -> Result<(), EncodeError> {
    let names = Rf_getAttrib(x, R_NamesSymbol);
    if TYPEOF(names) == SEXPTYPE::STRSXP {
        let keys = list_keys(names, path)?;
        out.push(b'{');
        for (i, key) in keys.into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(out, key);
            out.push(b':');
            path.steps.push(Step::Key(key));
            encode(VECTOR_ELT(x, i as isize), out, path)?;
            path.steps.pop();
        }
        out.push(b'}');
    } else {
        out.push(b'[');
        for i in 0..XLENGTH(x) {
            if i > 0 {
                out.push(b',');
            }
            path.steps.push(Step::Item(i + 1));
            encode(VECTOR_ELT(x, i), out, path)?;
            path.steps.pop();
        }
        out.push(b']');
    }
    Ok(())
}

/// The levels of a factor, checked before its codes index them (levels that are not strings
/// would make STRING_ELT raise an R error across Rust frames).
///
/// # Safety
/// `x` alive during the call; R main thread only.
unsafe fn factor_levels(x: SEXP, path: &Path<'_>) -> Result<SEXP, EncodeError> {
    let levels = Rf_getAttrib(x, R_LevelsSymbol);
    if TYPEOF(levels) != SEXPTYPE::STRSXP {
        return err(format!(
            "`{path}` is a factor whose levels are not character strings, which cannot be \
             written as JSON"
        ));
    }
    Ok(levels)
}

/// One factor code: its level (NA code or NA level: null); a code past the levels (which
/// would read outside them) is refused.
///
/// # Safety
/// `levels` a character vector alive during the call; R main thread only.
unsafe fn write_factor_code(
    out: &mut Vec<u8>,
    levels: SEXP,
    v: c_int,
    at: impl Fn() -> String,
) -> Result<(), EncodeError> {
    if v == R_NaInt {
        out.extend_from_slice(b"null");
        return Ok(());
    }
    let nlevels = XLENGTH(levels);
    if v < 1 || v as isize > nlevels {
        return err(format!(
            "{} is a factor code ({v}) outside its {nlevels} levels, which cannot be written as \
             JSON",
            at()
        ));
    }
    let level = STRING_ELT(levels, (v - 1) as isize);
    if level == R_NaString {
        out.extend_from_slice(b"null");
    } else {
        write_str(out, json_str(level, format_args!("The level of {}", at()))?);
    }
    Ok(())
}

/// An atomic vector: a scalar when of length 1 (unless `I()`), else an array.
///
/// # Safety
/// `x` a logical, integer, double or character vector alive during the call; R main thread
/// only.
unsafe fn encode_atomic(
    x: SEXP,
    ty: SEXPTYPE,
    cls: &Classes,
    out: &mut Vec<u8>,
    path: &Path<'_>,
) -> Result<(), EncodeError> {
    let n = XLENGTH(x);
    let array = n != 1 || cls.asis;
    if array {
        out.push(b'[');
    }
    let levels = if cls.factor {
        factor_levels(x, path)?
    } else {
        R_NilValue
    };
    for i in 0..n {
        if i > 0 {
            out.push(b',');
        }
        let at = || format!("`{path}[{}]`", i + 1);
        match ty {
            SEXPTYPE::LGLSXP => {
                out.extend_from_slice(match *LOGICAL(x).offset(i) {
                    0 => b"false".as_slice(),
                    v if v == R_NaInt => b"null".as_slice(),
                    _ => b"true".as_slice(),
                });
            }
            SEXPTYPE::INTSXP if cls.factor => {
                write_factor_code(out, levels, *INTEGER(x).offset(i), at)?
            }
            SEXPTYPE::INTSXP => match *INTEGER(x).offset(i) {
                v if v == R_NaInt => out.extend_from_slice(b"null"),
                v if cls.date => write_date(out, f64::from(v), at())?,
                v => {
                    let _ = write!(out, "{v}");
                }
            },
            SEXPTYPE::REALSXP if cls.date => write_date(out, *REAL(x).offset(i), at())?,
            SEXPTYPE::REALSXP => write_f64(out, *REAL(x).offset(i)),
            _ => {
                let s = STRING_ELT(x, i);
                if s == R_NaString {
                    out.extend_from_slice(b"null");
                } else {
                    write_str(out, json_str(s, format_args!("`{path}[{}]`", i + 1))?);
                }
            }
        }
    }
    if array {
        out.push(b']');
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
        // SAFETY: The SEXP comes from json_to_r() and is used at once, before any other allocation.
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
            // SAFETY: The objects are elements of `x`, alive for the whole block.
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
            // Dates as jsonlite writes them; NA level -> null.
            assert_eq!(enc(R!("as.Date(c('2020-02-29', NA, '1969-12-31', '1000-01-01', '9999-12-31'))").unwrap()),
                       r#"["2020-02-29",null,"1969-12-31","1000-01-01","9999-12-31"]"#);
            assert_eq!(enc(R!("structure(18000.7, class = 'Date')").unwrap()), r#""2019-04-14""#);
            assert_eq!(enc(R!("structure(18000L, class = 'Date')").unwrap()), r#""2019-04-14""#);
            assert_eq!(enc(R!("I(as.Date('2020-01-01'))").unwrap()), r#"["2020-01-01"]"#);
            assert_eq!(enc(R!("structure(1:2, levels = c('a', NA), class = 'factor')").unwrap()), r#"["a",null]"#);
            assert_eq!(enc(R!("structure(1, class = 'scalar')").unwrap()), "1");
            assert_eq!(enc(R!("structure('x', class = c('scalar', 'character'))").unwrap()), r#""x""#);
            assert!(refusal("structure('x', class = c('scalar', 'numeric'))").contains("class \"numeric\""));
            assert!(refusal("as.Date('0999-12-31')").contains("outside the years 1000 to 9999"));
        }
    }

    fn refusal(code: &str) -> String {
        match r_to_json(&eval_string(code).unwrap()) {
            Ok(v) => panic!("{code} was written: {}", String::from_utf8_lossy(&v)),
            Err(e) => e.0,
        }
    }

    #[test]
    fn r_to_json_refusals_name_the_element() {
        let _r = super::lock_r();
        test! {
            let m = refusal("list(Query = list(PatientName = c('a', NA, 'b'), `my key` = list(1, sum)))");
            assert!(m.starts_with("`json$Query$`my key`[[2]]` is a function"), "{m}");
            let m = refusal("list(a = structure(c(1L, 7L), levels = 'x', class = 'factor'))");
            assert!(m.starts_with("`json$a[2]` is a factor code (7) outside its 1 levels"), "{m}");
            assert!(refusal("list(d = Sys.time())").starts_with("`json$d` is a date-time (POSIXct)"));
            assert!(refusal("list(d = as.POSIXlt(Sys.time()))").starts_with("`json$d` is a date-time (POSIXlt)"));
            assert!(refusal("as.difftime(1, units = 'secs')").starts_with("`json` is a time difference"));
            assert!(refusal("list(x = data.frame(a = 1))").starts_with("`json$x` is a data frame"));
            assert!(refusal("matrix(1:4, 2)").starts_with("`json` is a matrix or array"));
            assert!(refusal("array(list(1, 2), 2, dimnames = list(c('a', 'b')))").starts_with("`json` is a matrix or array"));
            assert!(refusal("table(c(1, 1, 2))").starts_with("`json` is an object of class \"table\""));
            assert!(refusal("list(structure(list(), class = 'myclass'))").starts_with("`json[[1]]` is an object of class \"myclass\""));
            assert!(refusal("structure(c(1, 2), class = 'scalar')").contains("not a single value"));
            let m = refusal("structure(1L, class = 'factor')");
            assert!(m.contains("levels are not character strings"), "{m}");
            assert!(refusal("structure('x', class = 'Date')").contains("does not hold numbers of days"));
            assert!(refusal("structure(Inf, class = 'Date')").contains("outside the years 1000 to 9999"));
            assert!(refusal("structure(list(1, 2), names = c('a', ''))").contains("its element 2 has none"));
            assert!(refusal("structure(list(1, 2), names = c('a', NA))").contains("its element 2 has none"));
            assert!(refusal("list(a = 1, a = 2)").contains("the name \"a\" more than once"));
            let many = "stats::setNames(as.list(1:20), c(letters[1:19], 'c'))";
            assert!(refusal(many).contains("the name \"c\" more than once"));
            assert!(refusal("{ methods::setClass('Num4', contains = 'numeric', where = globalenv()); methods::new('Num4', 1) }").contains("S4"));
            let deep = "Reduce(function(acc, i) list(acc), 1:150, 1)";
            assert!(refusal(deep).contains("nested more than 100 levels"));
        }
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11016), (2000, 2, 29));
        assert_eq!(civil_from_days(-719162), (1, 1, 1));
        assert_eq!(civil_from_days(2932896), (9999, 12, 31));
    }

    #[test]
    fn r_names_in_paths() {
        for (k, ok) in [
            ("Query", true),
            (".a", true),
            (".1a", false),
            ("1a", false),
            ("a b", false),
            ("a_b.c", true),
            ("", false),
            ("_a", false),
        ] {
            assert_eq!(syntactic(k), ok, "{k}");
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

    fn has_empty_key(v: &serde_json::Value) -> bool {
        match v {
            serde_json::Value::Object(m) => m.iter().any(|(k, v)| k.is_empty() || has_empty_key(v)),
            serde_json::Value::Array(a) => a.iter().any(has_empty_key),
            _ => false,
        }
    }

    #[test]
    fn valid_json_round_trips() {
        let _r = super::lock_r();
        test! {
            let mut r = runner();
            r.run(&json_value(), |v| {
                let text = serde_json::to_vec(&v).unwrap();
                // SAFETY: The SEXP comes from json_to_r() and is wrapped at once (extendr protects it).
                let robj = unsafe { Robj::from_sexp(json_to_r(&text).expect("valid JSON converts")) };
                // Scalars of R are vectors of length 1 and lists keep their shape, so writing
                // the R object back gives the same JSON (one-element arrays excepted: R
                // cannot tell them from scalars once they are atomic, but here they are lists).
                // An object with an empty key reads as a list with an empty name, which the
                // writer refuses (see `list_keys()`); anything else is written back.
                if has_empty_key(&v) {
                    prop_assert!(r_to_json(&robj).is_err());
                    return Ok(());
                }
                let back = r_to_json(&robj).expect("converted answers can be written back");
                let again: serde_json::Value = serde_json::from_slice(&back).expect("valid JSON is written");
                prop_assert!(same(&v, &again), "{} -> {}", serde_json::to_string(&v).unwrap(), String::from_utf8_lossy(&back));
                Ok(())
            }).unwrap();
        }
    }
}
