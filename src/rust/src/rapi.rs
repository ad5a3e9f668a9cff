//! The few R API entry points that extendr-ffi does not declare (resolved against R itself
//! when the package's shared library is loaded), and `protect()`: an R API call that can
//! raise an R error, run so that the error never long-jumps across Rust frames.
#![allow(non_snake_case, improper_ctypes)]

use extendr_ffi::{R_NilValue, R_PreserveObject, Rboolean, Rf_unprotect, SEXP};
use std::os::raw::{c_char, c_int, c_void};

extern "C" {
    pub fn R_ToplevelExec(
        fun: Option<unsafe extern "C" fn(*mut c_void)>,
        data: *mut c_void,
    ) -> c_int;
    pub fn R_CheckUserInterrupt();
    pub fn R_ProtectWithIndex(s: SEXP, index: *mut c_int);
    pub fn R_Reprotect(s: SEXP, index: c_int);
    pub fn Rf_translateCharUTF8(x: SEXP) -> *const c_char;
    pub fn Rf_getCharCE(x: SEXP) -> extendr_ffi::cetype_t;
    pub fn Rf_ScalarReal(x: f64) -> SEXP;
    pub fn Rf_ScalarLogical(x: c_int) -> SEXP;
    fn R_MakeUnwindCont() -> SEXP;
    /// How shared `x` is (R's reference count, capped): tests check copy-on-modify with it.
    #[cfg(test)]
    pub fn NAMED(x: SEXP) -> c_int;
}

// R_UnwindProtect, declared here with the "C-unwind" ABI (extendr-ffi declares it "C"): its
// clean-up function (`stop_jump()`) ends R's jump by unwinding (a Rust panic payload) through
// R_UnwindProtect's own C frame back to `protect()`, which is defined only with this ABI.
extern "C-unwind" {
    fn R_UnwindProtect(
        fun: Option<unsafe extern "C" fn(*mut c_void) -> SEXP>,
        data: *mut c_void,
        cleanfun: Option<unsafe extern "C-unwind" fn(*mut c_void, Rboolean)>,
        cleandata: *mut c_void,
        cont: SEXP,
    ) -> SEXP;
}

type UnwindProtectFn = unsafe extern "C-unwind" fn(
    Option<unsafe extern "C" fn(*mut c_void) -> SEXP>,
    *mut c_void,
    Option<unsafe extern "C-unwind" fn(*mut c_void, Rboolean)>,
    *mut c_void,
    SEXP,
) -> SEXP;

/// R_UnwindProtect, called through a pointer the optimiser cannot see through. With LTO,
/// extendr-ffi's "C" (nounwind) declaration of the same symbol is merged with ours: a direct
/// call is then compiled as one that cannot unwind (no landing pad), and the unwinding of
/// `stop_jump()` aborts the process ("failed to initiate panic, error 3", seen in the
/// release build). An opaque pointer makes the call one that may unwind.
fn unwind_protect_fn() -> UnwindProtectFn {
    std::hint::black_box(R_UnwindProtect as UnwindProtectFn)
}

/// # Safety
/// Called by R_ToplevelExec on the main thread (R's API is usable there).
unsafe extern "C" fn check_interrupt(_data: *mut c_void) {
    // SAFETY: main thread, inside R_ToplevelExec: the jump of an interrupt ends there.
    unsafe { R_CheckUserInterrupt() };
}

/// True when the user asked R to interrupt (Ctrl-C). The interrupt is consumed here; the
/// caller cancels its work and re-signals it from R. Main thread only.
pub fn user_interrupted() -> bool {
    // SAFETY: R_ToplevelExec runs `check_interrupt` in a top-level context of its own: the
    // interrupt's jump ends there (it returns FALSE) and never crosses a Rust frame.
    unsafe { R_ToplevelExec(Some(check_interrupt), std::ptr::null_mut()) == 0 }
}

/// An R call run by `protect()` raised an R error (or another jump: an interrupt, a
/// restart): R's jump was stopped at `protect()`, no Rust frame was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RJumped;

/// The continuation token R_UnwindProtect needs, made once and kept for the session (as
/// cpp11 does): no allocation per call.
fn unwind_token() -> SEXP {
    use std::sync::atomic::{AtomicPtr, Ordering};
    static TOKEN: AtomicPtr<extendr_ffi::SEXPREC> = AtomicPtr::new(std::ptr::null_mut());
    let p = TOKEN.load(Ordering::Relaxed);
    if !p.is_null() {
        return p as SEXP;
    }
    // SAFETY: main thread (every caller of `protect()` is). R_MakeUnwindCont allocates a
    // cons cell, which can raise only when R is out of memory at the first call;
    // R_PreserveObject keeps it for the session (no protection needed in between: nothing
    // allocates).
    let token = unsafe { R_MakeUnwindCont() };
    // SAFETY: as above; `token` is a fresh R object.
    unsafe { R_PreserveObject(token) };
    TOKEN.store(token as *mut _, Ordering::Relaxed);
    token
}

/// The index of the next free slot of R's protection stack (it pushes R_NilValue there, so
/// the caller pops one more).
///
/// # Safety
/// Main thread.
unsafe fn protect_mark() -> c_int {
    let mut i: c_int = 0;
    // SAFETY: main thread (caller); R_NilValue needs no protection; `i` is a local.
    unsafe { R_ProtectWithIndex(R_NilValue, &mut i) };
    i
}

/// Runs `f` (R API calls only) so that an R error it raises stops at `protect()` instead of
/// long-jumping across the caller's Rust frames: `Err(RJumped)` then, and R's protection
/// stack is as it was. The SEXP `f` returns is unprotected.
///
/// `f` is `Copy` (it captures no value with a destructor), must not panic (R calls it
/// through a C frame: a panic would abort) and must hold no value with a destructor when it
/// calls R (the jump skips its frame). It may call `Rf_protect` but must balance it.
///
/// How: R_UnwindProtect runs `f` in a context of its own; on a jump, R stops there, restores
/// its globals and calls `stop_jump()`, which unwinds (with the payload `RJumped`, not a
/// panic: no panic hook runs) through R_UnwindProtect's C frame to the `catch_unwind`
/// below. R's jump is not continued (R_ContinueUnwind is not called): the caller reports
/// the failure as a classed condition instead. The protection stack, left with R's own
/// protection of the token by the skipped end of R_UnwindProtect, is restored by index.
pub fn protect<F>(f: F) -> Result<SEXP, RJumped>
where
    F: Fn() -> SEXP + Copy,
{
    /// # Safety
    /// `data` points to the `F` of `protect()`, alive for the call.
    unsafe extern "C" fn body<F: Fn() -> SEXP + Copy>(data: *mut c_void) -> SEXP {
        // SAFETY: `data` is `&f` cast by `protect()`, alive while R_UnwindProtect runs.
        let f = unsafe { &*(data as *const F) };
        f()
    }
    /// # Safety
    /// Called by R_UnwindProtect only.
    unsafe extern "C-unwind" fn stop_jump(_data: *mut c_void, jump: Rboolean) {
        if jump != Rboolean::FALSE {
            std::panic::resume_unwind(Box::new(RJumped));
        }
    }
    let token = unwind_token();
    // SAFETY: main thread (every caller runs on it).
    let mark = unsafe { protect_mark() };
    let data = &f as *const F as *mut c_void;
    let unwind_protect = unwind_protect_fn();
    let run = std::panic::AssertUnwindSafe(|| {
        // SAFETY: `body::<F>` reads `data` as the `F` it is; `stop_jump` unwinds only with
        // the "C-unwind" ABI this pointer has; `token` is preserved for the session.
        unsafe { unwind_protect(Some(body::<F>), data, Some(stop_jump), data, token) }
    });
    match std::panic::catch_unwind(run) {
        Ok(out) => {
            // SAFETY: pops the mark pushed above (`f` balanced its own protections).
            unsafe { Rf_unprotect(1) };
            Ok(out)
        }
        Err(payload) if payload.is::<RJumped>() => {
            // SAFETY: R restored its protection stack to where R_UnwindProtect began its
            // context (just after its own protection of `token`); everything from our mark
            // up to a new mark is ours to pop.
            unsafe {
                let top = protect_mark();
                Rf_unprotect(top - mark + 1);
            }
            Err(RJumped)
        }
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use extendr_api::prelude::*;
    use extendr_ffi::{Rf_allocVector, SEXPTYPE};

    #[test]
    fn protect_stops_an_r_error_and_keeps_the_stack() {
        let _r = crate::json::R_LOCK
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        test! {
            // SAFETY: main thread of the embedded R.
            let before = unsafe { protect_mark() };
            // A negative length: R raises "negative length vectors are not allowed".
            // SAFETY: R API call on the main thread, under protect().
            let r = protect(|| unsafe { Rf_allocVector(SEXPTYPE::RAWSXP, -1) });
            assert_eq!(r, Err(RJumped));
            // SAFETY: as above.
            let ok = protect(|| unsafe { Rf_allocVector(SEXPTYPE::RAWSXP, 3) });
            assert!(ok.is_ok());
            // SAFETY: main thread; pops the two marks.
            let after = unsafe { protect_mark() };
            // SAFETY: as above.
            unsafe { Rf_unprotect(2) };
            assert_eq!(before + 1, after, "the protection stack is balanced");
        }
    }
}
