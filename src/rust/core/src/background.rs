//! Requests that run in the background (the asynchronous client, `OrthancAsync` in R):
//! spawned on this process's runtime (the one `runtime::get()` gives, with the client's own
//! pool: there is no second HTTP stack) and driven, while R's main thread is not inside
//! `runtime::block_on()`, by a thread of their own ("orthanc-async"). Their answers wait in a
//! list until R's main thread takes them (`take_done()`, from a `later` callback) and builds
//! the R values there: nothing here calls R, and the driving thread blocks every signal it
//! can, so that R's handlers (SIGINT, SIGPIPE) run on R's thread only.
//!
//! The runtime is a current-thread one: one thread at a time drives it. When R's main
//! thread needs it (a synchronous request, a batch, a cancellation) `runtime::block_on()`
//! says so (`MainDrives`): the driving thread leaves the runtime and waits until the main
//! thread is done, so that a synchronous request is driven on the main thread as before
//! (the background requests in flight make progress meanwhile, on that thread).
//!
//! A forked child (parallel::mclapply) has no driving thread and a runtime of its own: its
//! state starts afresh (the parent's tasks are forgotten, never dropped there).

use crate::http::{Client, Error, Request, Response};
use crate::runtime;
use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// A finished background request: its id, the client and route it was sent with (the URL of
/// a transport error is made from them) and its result.
pub struct Done {
    pub id: u64,
    pub client: Arc<Client>,
    pub path: String,
    pub result: Result<Response, Error>,
}

struct State {
    pid: u32,
    next_id: u64,
    running: BTreeMap<u64, JoinHandle<()>>,
    done: Vec<Done>,
    /// How many `MainDrives` guards are alive (R's main thread wants the runtime).
    main_wants: usize,
    /// Whether the driving thread was started in this process.
    driver: bool,
}

static STATE: Mutex<State> = Mutex::new(State {
    pid: 0,
    next_id: 1,
    running: BTreeMap::new(),
    done: Vec::new(),
    main_wants: 0,
    driver: false,
});

/// Wakes the driving thread when there is work and the main thread does not want the runtime.
static WAKE: Condvar = Condvar::new();

/// Tells the driving thread to leave the runtime (the main thread wants it, or nothing runs).
fn leave() -> &'static Notify {
    static LEAVE: OnceLock<Notify> = OnceLock::new();
    LEAVE.get_or_init(Notify::new)
}

/// The state of this process (a fresh one in a forked child).
fn lock() -> MutexGuard<'static, State> {
    let mut g = STATE.lock().unwrap_or_else(|p| p.into_inner());
    let pid = std::process::id();
    if g.pid != pid {
        // The parent's tasks belong to the parent's runtime: forget them, never drop them here.
        std::mem::forget(std::mem::take(&mut g.running));
        std::mem::forget(std::mem::take(&mut g.done));
        g.pid = pid;
        g.main_wants = 0;
        g.driver = false;
    }
    g
}

/// Start `req` in the background; returns its id. The answer is given by `take_done()`.
pub fn submit(client: Arc<Client>, req: Request) -> u64 {
    let rt = runtime::get();
    let mut g = lock();
    let id = g.next_id;
    g.next_id += 1;
    let task = async move {
        let result = client.execute(&req).await;
        let mut g = lock();
        g.running.remove(&id);
        g.done.push(Done {
            id,
            client,
            path: req.path,
            result,
        });
        if g.running.is_empty() {
            leave().notify_one();
        }
    };
    // The task cannot finish before it is in `running`: its end takes the lock held here.
    let handle = rt.spawn(task);
    g.running.insert(id, handle);
    if !g.driver {
        g.driver = std::thread::Builder::new()
            .name("orthanc-async".into())
            .spawn(drive)
            .is_ok();
    }
    drop(g);
    WAKE.notify_all();
    id
}

/// The requests finished since the last call, in the order they finished.
pub fn take_done() -> Vec<Done> {
    std::mem::take(&mut lock().done)
}

/// How many background requests are running (started, not finished).
pub fn running() -> usize {
    lock().running.len()
}

/// Cancel the requests `ids` (those still running; the answers of those that finished and
/// were not taken yet are dropped). Returns when the cancelled transfers are gone: their
/// futures dropped, their partial files removed, their connections closed. Returns how many
/// were running.
pub fn cancel(ids: &[u64]) -> usize {
    let handles: Vec<JoinHandle<()>> = {
        let mut g = lock();
        g.done.retain(|d| !ids.contains(&d.id));
        ids.iter().filter_map(|i| g.running.remove(i)).collect()
    };
    let n = handles.len();
    if n > 0 {
        for h in &handles {
            h.abort();
        }
        runtime::block_on(async {
            for h in handles {
                let _ = h.await;
            }
            runtime::settle().await;
        });
    }
    n
}

/// Held while R's main thread drives the runtime (`runtime::block_on()`): the driving thread
/// leaves the runtime and waits until every guard is dropped.
pub struct MainDrives(());

impl MainDrives {
    #[allow(clippy::new_without_default)]
    pub fn new() -> MainDrives {
        let mut g = lock();
        g.main_wants += 1;
        if g.driver {
            leave().notify_one();
        }
        MainDrives(())
    }
}

impl Drop for MainDrives {
    fn drop(&mut self) {
        let mut g = lock();
        g.main_wants = g.main_wants.saturating_sub(1);
        let driver = g.driver;
        drop(g);
        // Only a driving thread waits on WAKE (no system call on the synchronous path of a
        // session that never used the asynchronous client).
        if driver {
            WAKE.notify_all();
        }
    }
}

/// The driving thread: drives the runtime while background requests run and the main thread
/// does not want it.
fn drive() {
    block_signals();
    let rt = runtime::get();
    loop {
        {
            let mut g = lock();
            while g.running.is_empty() || g.main_wants > 0 {
                g = WAKE.wait(g).unwrap_or_else(|p| p.into_inner());
            }
        }
        // A stale permit (a `leave` sent while this thread was not in the runtime) only makes
        // this return at once: the loop then checks again.
        rt.block_on(leave().notified());
    }
}

/// Block every signal in the calling thread: R's handlers must run on R's thread only, and a
/// SIGPIPE from a socket write must not be raised here (see `runtime::SigpipeBlocked`).
fn block_signals() {
    #[cfg(unix)]
    // SAFETY: the sigset is a local, filled by sigfillset before use; the mask changed is
    // this thread's own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Config, Method};
    use crate::test_server::{answer, send};
    use std::time::{Duration, Instant};

    /// A server answering every request with its path after `delay`; `/big` with 50 MB sent
    /// slowly.
    fn server(delay: Duration) -> u16 {
        crate::test_server::serve(move |path, s| {
            std::thread::sleep(delay);
            if path != "/big" {
                return send(s, &answer("200 OK", "text/plain", path));
            }
            let len = 50 << 20;
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n");
            if !send(s, head.as_bytes()) {
                return false;
            }
            let chunk = vec![7u8; 64 << 10];
            for _ in 0..(len / chunk.len()) {
                if !send(s, &chunk) {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            true
        })
    }

    fn client(port: u16) -> Arc<Client> {
        Arc::new(
            Client::new(Config {
                base_url: format!("http://127.0.0.1:{port}"),
                ..Config::default()
            })
            .unwrap(),
        )
    }

    /// The tests share the process's background state: one at a time.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn wait_for(ids: &[u64], limit: Duration) -> Vec<Done> {
        let start = Instant::now();
        let mut out = Vec::new();
        while out.len() < ids.len() && start.elapsed() < limit {
            out.extend(take_done().into_iter().filter(|d| ids.contains(&d.id)));
            std::thread::sleep(Duration::from_millis(2));
        }
        out
    }

    /// The requests run with nobody in `block_on` (the driving thread drives them), and a
    /// synchronous request in the middle still works.
    #[test]
    fn background_requests_finish_alone_and_beside_a_synchronous_one() {
        let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let port = server(Duration::from_millis(20));
        let c = client(port);
        let ids: Vec<u64> = (0..20)
            .map(|i| submit(c.clone(), Request::new(Method::GET, format!("/r/{i}"))))
            .collect();
        let sync = c
            .perform(&Request::new(Method::GET, "/sync"), &|| false)
            .unwrap();
        assert_eq!(&sync.body[..], b"/sync");
        let done = wait_for(&ids, Duration::from_secs(10));
        assert_eq!(done.len(), 20);
        for d in done {
            let r = d.result.unwrap();
            assert_eq!(&r.body[..], d.path.as_bytes());
        }
    }

    #[test]
    fn a_cancelled_download_leaves_no_file() {
        let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let port = server(Duration::ZERO);
        let c = client(port);
        let dir = std::env::temp_dir().join(format!("orthanc-bg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dest = dir.join("big.bin");
        let mut req = Request::new(Method::GET, "/big");
        req.dest = Some(dest.clone());
        let id = submit(c, req);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(running(), 1);
        assert_eq!(cancel(&[id]), 1);
        assert_eq!(running(), 0);
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert!(left.is_empty(), "files left: {left:?}");
        assert!(take_done().iter().all(|d| d.id != id));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
