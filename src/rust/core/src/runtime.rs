//! One tokio runtime per process. A forked child (parallel::mclapply) inherits a runtime
//! whose worker threads do not exist in it; it gets a new runtime and the old one is leaked,
//! never dropped (dropping it would wait for threads that are gone).

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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("orthanc-io")
        .on_thread_start(block_sigpipe)
        .enable_all()
        .build()
        .expect("the tokio runtime could not be started");
    let rt: &'static Runtime = Box::leak(Box::new(rt));
    *g = Some((pid, rt));
    rt
}

/// R handles SIGPIPE with a handler that raises an R error (a longjmp). A write to a socket
/// the server has reset (hyper writes with writev(), which has no MSG_NOSIGNAL) raises
/// SIGPIPE in the writing thread: in a runtime thread, R's handler would then run R code
/// off the main thread and crash the session. Runtime threads block SIGPIPE: the write
/// fails with EPIPE instead, which becomes a connection error.
fn block_sigpipe() {
    #[cfg(unix)]
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}
