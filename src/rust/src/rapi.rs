//! The few R API entry points that extendr-ffi does not declare. They are resolved against
//! R itself when the package's shared library is loaded.
#![allow(non_snake_case, improper_ctypes)]

use extendr_ffi::SEXP;
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
    /// How shared `x` is (R's reference count, capped): tests check copy-on-modify with it.
    #[cfg(test)]
    pub fn NAMED(x: SEXP) -> c_int;
}

unsafe extern "C" fn check_interrupt(_data: *mut c_void) {
    R_CheckUserInterrupt();
}

/// True when the user asked R to interrupt (Ctrl-C). The interrupt is consumed here; the
/// caller cancels its work and re-signals it from R. Main thread only.
pub fn user_interrupted() -> bool {
    // R_ToplevelExec returns FALSE when R_CheckUserInterrupt jumped out of it.
    unsafe { R_ToplevelExec(Some(check_interrupt), std::ptr::null_mut()) == 0 }
}
