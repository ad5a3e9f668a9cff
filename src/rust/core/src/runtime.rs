//! One tokio runtime per process, driven by the thread that waits for it.
//!
//! The runtime is a current-thread one: the future of a request, its socket IO and its
//! timers are all polled on the calling thread (R's main thread) inside `block_on`, so a
//! request never bounces between threads (a multi-thread runtime polls the IO on a worker
//! and wakes the caller for every step). Only blocking file operations (`tokio::fs`) run on
//! tokio's blocking pool.
//!
//! A forked child (parallel::mclapply) inherits a runtime whose blocking threads do not
//! exist in it; it gets a new runtime and the old one is leaked, never dropped (dropping it
//! would wait for threads that are gone).

use std::future::Future;
use std::sync::Mutex;
use tokio::runtime::Runtime;

static RUNTIME: Mutex<Option<(u32, &'static Runtime)>> = Mutex::new(None);

pub fn get() -> &'static Runtime {
    let pid = std::process::id();
    let mut g = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((owner, rt)) = *g {
        if owner == pid {
            return rt;
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .thread_name("orthanc-io")
        .on_thread_start(block_sigpipe)
        .enable_all()
        .build()
        .expect("the tokio runtime could not be started");
    let rt: &'static Runtime = Box::leak(Box::new(rt));
    *g = Some((pid, rt));
    rt
}

/// Drive `fut` to completion on this process's runtime, from the calling thread, with
/// SIGPIPE blocked in this thread meanwhile (see `SigpipeBlocked`).
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let rt = get();
    // The background requests' driving thread leaves the runtime to this thread meanwhile.
    let _drives = crate::background::MainDrives::new();
    let _guard = SigpipeBlocked::new();
    rt.block_on(fut)
}

/// After cancelled transfers were dropped: let the runtime run a few more turns, so that the
/// connection tasks see the cancellation and close their sockets now (the server sees the
/// client go away) rather than at the next request, when the runtime runs again.
pub async fn settle() {
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
}

/// R handles SIGPIPE with a handler that raises an R error (a longjmp). A write to a socket
/// the server has reset (hyper writes with writev(), which has no MSG_NOSIGNAL) raises
/// SIGPIPE in the writing thread: R's handler would then longjmp out of Rust code (or run R
/// code off the main thread). Threads of the blocking pool block SIGPIPE for good.
fn block_sigpipe() {
    #[cfg(unix)]
    // SAFETY: the sigset is a local, initialised by sigemptyset before use; the mask changed
    // is this thread's own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// SIGPIPE blocked in the calling thread while the runtime runs there: a write to a reset
/// socket then fails with EPIPE (a connection error) instead. On drop (also when unwinding),
/// a SIGPIPE that became pending meanwhile is consumed, then the previous mask is restored,
/// so R's handler never sees it.
pub struct SigpipeBlocked {
    #[cfg(unix)]
    restore: Option<libc::sigset_t>,
}

impl SigpipeBlocked {
    #[allow(clippy::new_without_default)]
    pub fn new() -> SigpipeBlocked {
        #[cfg(unix)]
        // SAFETY: the sigsets are locals, initialised (zeroed, then sigemptyset or filled by
        // pthread_sigmask) before they are read; the mask changed is this thread's own.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGPIPE);
            if libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) != 0 {
                return SigpipeBlocked { restore: None };
            }
            // Already blocked (a nested call, or a thread that blocks it for good): nothing
            // to restore.
            let restore = (libc::sigismember(&old, libc::SIGPIPE) != 1).then_some(old);
            SigpipeBlocked { restore }
        }
        #[cfg(not(unix))]
        SigpipeBlocked {}
    }
}

impl Drop for SigpipeBlocked {
    fn drop(&mut self) {
        #[cfg(unix)]
        // SAFETY: the sigsets are locals (or the mask saved by new()), initialised before
        // they are read; consume_pending() gets valid references; the mask restored is this
        // thread's own.
        unsafe {
            let Some(old) = self.restore.take() else {
                return;
            };
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGPIPE);
            let zero = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            for _ in 0..8 {
                let mut pending: libc::sigset_t = std::mem::zeroed();
                if libc::sigpending(&mut pending) != 0
                    || libc::sigismember(&pending, libc::SIGPIPE) != 1
                {
                    break;
                }
                consume_pending(&set, &zero);
            }
            libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        }
    }
}

/// Takes one pending signal of `set` (which is pending in this thread: checked by the caller).
/// Linux and the BSDs have `sigtimedwait`, which cannot block with a zero timeout. Apple's
/// libc has only `sigwait`: it returns at once since the signal is pending and blocked here
/// (and on Apple targets mio sets SO_NOSIGPIPE on its sockets, so a SIGPIPE from a socket
/// write is not raised in the first place).
///
/// # Safety
/// `set` and `zero` are valid, initialised values (the caller's locals).
#[cfg(unix)]
unsafe fn consume_pending(set: &libc::sigset_t, zero: &libc::timespec) {
    #[cfg(not(target_vendor = "apple"))]
    // SAFETY: `set` and `zero` are valid (caller); a NULL siginfo is allowed.
    unsafe {
        libc::sigtimedwait(set, std::ptr::null_mut(), zero);
    }
    #[cfg(target_vendor = "apple")]
    {
        let _ = zero;
        let mut sig: libc::c_int = 0;
        // SAFETY: `set` is valid (caller), `sig` a local.
        unsafe { libc::sigwait(set, &mut sig) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SIGPIPE raised while blocked is consumed: restoring the mask does not deliver it
    /// (the test process would die of it, SIGPIPE's default action being to terminate...
    /// except that Rust ignores SIGPIPE in binaries: so the test checks the pending set).
    #[cfg(unix)]
    #[test]
    fn pending_sigpipe_is_consumed() {
        // SAFETY: the sigsets are locals initialised before they are read; the signal is
        // sent to this very thread, which has it blocked (SigpipeBlocked).
        std::thread::spawn(|| unsafe {
            {
                let _g = SigpipeBlocked::new();
                libc::pthread_kill(libc::pthread_self(), libc::SIGPIPE);
                let mut pending: libc::sigset_t = std::mem::zeroed();
                libc::sigpending(&mut pending);
                assert_eq!(libc::sigismember(&pending, libc::SIGPIPE), 1);
            }
            let mut pending: libc::sigset_t = std::mem::zeroed();
            libc::sigpending(&mut pending);
            assert_eq!(libc::sigismember(&pending, libc::SIGPIPE), 0);
            let mut now: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut now);
            assert_eq!(libc::sigismember(&now, libc::SIGPIPE), 0, "mask restored");
        })
        .join()
        .unwrap();
    }
}
