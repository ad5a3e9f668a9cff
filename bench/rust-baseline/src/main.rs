//! The bare baseline of bench/run.R: the same workloads as the R package, done by a plain
//! reqwest loop (current-thread tokio runtime, one pool). Prints one JSON line per run.
//!
//! Settings from the environment: BENCH_URL, BENCH_USER, BENCH_PASS.
//!
//!   get N PATH              N sequential GETs (after 20 warm-up calls): per-call wall and CPU
//!   decode FILE REPS        serde_json::Value decode of FILE, REPS times: median CPU per decode
//!   upload CONNS LISTFILE   POST /instances of each file named in LISTFILE, CONNS at once
//!   getmany CONNS LISTFILE  GET each path of LISTFILE (JSON decoded), CONNS at once
//!   download PATH OUT       stream GET PATH to the file OUT

use futures_util::stream::{self, StreamExt};
use std::io::Write;
use std::time::Instant;

fn cpu_s() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 * 1e-6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

fn max_rss_kb() -> i64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    ru.ru_maxrss
}

fn thread_cpu_s() -> f64 {
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

struct Ctx {
    http: reqwest::Client,
    base: String,
    user: Option<String>,
    pass: Option<String>,
}

impl Ctx {
    fn new() -> Ctx {
        Ctx {
            http: reqwest::Client::builder()
                .tcp_nodelay(true)
                .build()
                .expect("client"),
            base: std::env::var("BENCH_URL")
                .unwrap_or_else(|_| "http://localhost:8042".into())
                .trim_end_matches('/')
                .to_string(),
            user: std::env::var("BENCH_USER").ok(),
            pass: std::env::var("BENCH_PASS").ok(),
        }
    }
    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let rb = self.http.request(method, format!("{}{}", self.base, path));
        match &self.user {
            Some(u) => rb.basic_auth(u, self.pass.as_ref()),
            None => rb,
        }
    }
    async fn get_bytes(&self, path: &str) -> bytes::Bytes {
        let r = self.req(reqwest::Method::GET, path).send().await.expect("send");
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.bytes().await.expect("body")
    }
}

fn lines(file: &str) -> Vec<String> {
    std::fs::read_to_string(file)
        .expect("list file")
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.to_string())
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let ctx = Ctx::new();
    let out = match args.first().map(|s| s.as_str()) {
        Some("get") => {
            let n: usize = args[1].parse().expect("N");
            let path = &args[2];
            rt.block_on(async {
                for _ in 0..20 {
                    let b = ctx.get_bytes(path).await;
                    let _: serde_json::Value = serde_json::from_slice(&b).expect("json");
                }
                let (t0, c0) = (Instant::now(), cpu_s());
                for _ in 0..n {
                    let b = ctx.get_bytes(path).await;
                    let _: serde_json::Value = serde_json::from_slice(&b).expect("json");
                }
                let (w, c) = (t0.elapsed().as_secs_f64(), cpu_s() - c0);
                format!(
                    "{{\"wall_us\":{},\"cpu_us\":{}}}",
                    w * 1e6 / n as f64,
                    c * 1e6 / n as f64
                )
            })
        }
        Some("decode") => {
            let bytes = std::fs::read(&args[1]).expect("file");
            let reps: usize = args[2].parse().expect("REPS");
            let mut times = Vec::with_capacity(reps);
            for _ in 0..reps {
                let c0 = thread_cpu_s();
                let v: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
                drop(v);
                times.push(thread_cpu_s() - c0);
            }
            times.sort_by(|a, b| a.partial_cmp(b).unwrap());
            format!("{{\"cpu_ms\":{}}}", times[reps / 2] * 1e3)
        }
        Some("upload") => {
            let conns: usize = args[1].parse().expect("CONNS");
            let files = lines(&args[2]);
            rt.block_on(async {
                let (t0, c0) = (Instant::now(), cpu_s());
                let n = files.len();
                stream::iter(files.iter())
                    .map(|f| {
                        let ctx = &ctx;
                        async move {
                            let body = tokio::fs::read(f).await.expect("read");
                            let r = ctx
                                .req(reqwest::Method::POST, "/instances")
                                .header("content-type", "application/dicom")
                                .body(body)
                                .send()
                                .await
                                .expect("send");
                            assert!(r.status().is_success(), "upload: {}", r.status());
                            let b = r.bytes().await.expect("body");
                            let _: serde_json::Value = serde_json::from_slice(&b).expect("json");
                        }
                    })
                    .buffer_unordered(conns)
                    .for_each(|_| async {})
                    .await;
                format!(
                    "{{\"wall_s\":{},\"cpu_s\":{},\"n\":{n}}}",
                    t0.elapsed().as_secs_f64(),
                    cpu_s() - c0
                )
            })
        }
        Some("getmany") => {
            let conns: usize = args[1].parse().expect("CONNS");
            let paths = lines(&args[2]);
            rt.block_on(async {
                let (t0, c0) = (Instant::now(), cpu_s());
                let n = paths.len();
                stream::iter(paths.iter())
                    .map(|p| {
                        let ctx = &ctx;
                        async move {
                            let b = ctx.get_bytes(p).await;
                            let v: serde_json::Value = serde_json::from_slice(&b).expect("json");
                            v
                        }
                    })
                    .buffer_unordered(conns)
                    .for_each(|_| async {})
                    .await;
                format!(
                    "{{\"wall_s\":{},\"cpu_s\":{},\"n\":{n}}}",
                    t0.elapsed().as_secs_f64(),
                    cpu_s() - c0
                )
            })
        }
        Some("download") => {
            let path = &args[1];
            let dest = &args[2];
            let rss0 = max_rss_kb();
            rt.block_on(async {
                let (t0, c0) = (Instant::now(), cpu_s());
                let mut r = ctx.req(reqwest::Method::GET, path).send().await.expect("send");
                assert!(r.status().is_success(), "GET {path}: {}", r.status());
                let mut f = std::io::BufWriter::with_capacity(
                    1 << 20,
                    std::fs::File::create(dest).expect("create"),
                );
                let mut size = 0usize;
                while let Some(chunk) = r.chunk().await.expect("chunk") {
                    size += chunk.len();
                    f.write_all(&chunk).expect("write");
                }
                f.flush().expect("flush");
                format!(
                    "{{\"wall_s\":{},\"cpu_s\":{},\"bytes\":{size},\"rss0_kb\":{rss0},\"maxrss_kb\":{}}}",
                    t0.elapsed().as_secs_f64(),
                    cpu_s() - c0,
                    max_rss_kb()
                )
            })
        }
        _ => {
            eprintln!("usage: orthanc-bench-baseline get|decode|upload|getmany|download ...");
            std::process::exit(2);
        }
    };
    println!("{out}");
}
