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
//!   qido PATH               GET PATH (Accept: application/dicom+json) into serde_json::Value
//!   wado PATH DIR           GET PATH (multipart/related of application/dicom), each part
//!                           streamed to DIR/part-N.dcm (a minimal split on the boundary)
//!   stow PATH LISTFILE      POST PATH: the files of LISTFILE as one multipart/related body
//!                           streamed from the files, with its length known in advance

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
        let r = self
            .req(reqwest::Method::GET, path)
            .send()
            .await
            .expect("send");
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
        Some("qido") => {
            let path = &args[1];
            rt.block_on(async {
                let (t0, c0) = (Instant::now(), cpu_s());
                let r = ctx
                    .req(reqwest::Method::GET, path)
                    .header("accept", "application/dicom+json")
                    .send()
                    .await
                    .expect("send");
                assert!(r.status().is_success(), "GET {path}: {}", r.status());
                let b = r.bytes().await.expect("body");
                let v: serde_json::Value = serde_json::from_slice(&b).expect("json");
                let n = v.as_array().map(|a| a.len()).unwrap_or(0);
                format!(
                    "{{\"wall_s\":{},\"cpu_s\":{},\"n\":{n},\"bytes\":{}}}",
                    t0.elapsed().as_secs_f64(),
                    cpu_s() - c0,
                    b.len()
                )
            })
        }
        Some("wado") => {
            let path = &args[1];
            let dir = std::path::PathBuf::from(&args[2]);
            let rss0 = max_rss_kb();
            rt.block_on(async {
                let (t0, c0) = (Instant::now(), cpu_s());
                let mut r = ctx
                    .req(reqwest::Method::GET, path)
                    .header(
                        "accept",
                        "multipart/related; type=\"application/dicom\"; transfer-syntax=*",
                    )
                    .send()
                    .await
                    .expect("send");
                assert!(r.status().is_success(), "GET {path}: {}", r.status());
                let ct = r
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let mut split = Split::new(boundary_of(&ct), dir);
                while let Some(chunk) = r.chunk().await.expect("chunk") {
                    split.feed(&chunk);
                }
                assert!(split.done, "the answer ended before its close delimiter");
                format!(
                    "{{\"wall_s\":{},\"cpu_s\":{},\"parts\":{},\"bytes\":{},\"rss0_kb\":{rss0},\"maxrss_kb\":{}}}",
                    t0.elapsed().as_secs_f64(),
                    cpu_s() - c0,
                    split.parts,
                    split.bytes,
                    max_rss_kb()
                )
            })
        }
        Some("stow") => {
            let path = &args[1];
            let files = lines(&args[2]);
            rt.block_on(async {
                let (t0, c0) = (Instant::now(), cpu_s());
                let boundary = "bench-baseline-7d4c1e0f9a2b";
                let head = bytes::Bytes::from(format!(
                    "--{boundary}\r\nContent-Type: application/dicom\r\n\r\n"
                ));
                let tail = bytes::Bytes::from(format!("--{boundary}--\r\n"));
                let mut length = tail.len() as u64;
                for f in &files {
                    length += head.len() as u64 + std::fs::metadata(f).expect("size").len() + 2;
                }
                let n = files.len();
                let (head2, tail2) = (head.clone(), tail.clone());
                let body = stream::iter(files)
                    .then(move |f| {
                        let head = head2.clone();
                        async move {
                            let data = tokio::fs::read(&f).await?;
                            Ok::<_, std::io::Error>(stream::iter(vec![
                                Ok::<_, std::io::Error>(head),
                                Ok(bytes::Bytes::from(data)),
                                Ok(bytes::Bytes::from_static(b"\r\n")),
                            ]))
                        }
                    })
                    .map(|r| match r {
                        Ok(s) => s.left_stream(),
                        Err(e) => stream::iter(vec![Err(e)]).right_stream(),
                    })
                    .flatten()
                    .chain(stream::iter(vec![Ok(tail2)]));
                let r = ctx
                    .req(reqwest::Method::POST, path)
                    .header(
                        "content-type",
                        format!("multipart/related; type=\"application/dicom\"; boundary={boundary}"),
                    )
                    .header("accept", "application/dicom+json")
                    .header("content-length", length)
                    .body(reqwest::Body::wrap_stream(body))
                    .send()
                    .await
                    .expect("send");
                assert!(r.status().is_success(), "POST {path}: {}", r.status());
                let b = r.bytes().await.expect("body");
                let v: serde_json::Value = serde_json::from_slice(&b).expect("json");
                let stored = v
                    .get("00081199")
                    .and_then(|s| s.get("Value"))
                    .and_then(|s| s.as_array())
                    .map(|a| a.len())
                    .unwrap_or(0);
                format!(
                    "{{\"wall_s\":{},\"cpu_s\":{},\"n\":{n},\"stored\":{stored},\"bytes\":{length}}}",
                    t0.elapsed().as_secs_f64(),
                    cpu_s() - c0
                )
            })
        }
        _ => {
            eprintln!(
                "usage: orthanc-bench-baseline get|decode|upload|getmany|download|qido|wado|stow ..."
            );
            std::process::exit(2);
        }
    };
    println!("{out}");
}

/// The boundary parameter of a multipart Content-Type (quoted or not).
fn boundary_of(content_type: &str) -> String {
    let at = content_type
        .to_ascii_lowercase()
        .find("boundary=")
        .expect("a boundary");
    let v = content_type[at + 9..]
        .split(';')
        .next()
        .unwrap_or("")
        .trim();
    v.trim_matches('"').to_string()
}

/// A minimal streaming split of a multipart body: after each delimiter (CRLF "--" boundary),
/// the part's headers up to the blank line, then its body written to a file of its own until
/// the next delimiter; no transport padding, no temporary names.
struct Split {
    finder: memchr::memmem::Finder<'static>,
    dlen: usize,
    buf: Vec<u8>,
    file: Option<std::io::BufWriter<std::fs::File>>,
    in_head: bool,
    done: bool,
    dir: std::path::PathBuf,
    parts: usize,
    bytes: usize,
}

impl Split {
    fn new(boundary: String, dir: std::path::PathBuf) -> Split {
        let delim = format!("\r\n--{boundary}").into_bytes();
        let dlen = delim.len();
        Split {
            finder: memchr::memmem::Finder::new(&delim).into_owned(),
            dlen,
            // The body starts with "--boundary": a CRLF before it makes it a delimiter too.
            buf: b"\r\n".to_vec(),
            file: None,
            in_head: false,
            done: false,
            dir,
            parts: 0,
            bytes: 0,
        }
    }

    fn feed(&mut self, chunk: &[u8]) {
        self.bytes += chunk.len();
        if self.done {
            return;
        }
        if self.file.is_some() && self.buf.is_empty() {
            // Fast path: write what cannot hold a delimiter straight from the chunk.
            match self.finder.find(chunk) {
                None => {
                    let keep = chunk.len().min(self.dlen - 1);
                    let cut = chunk.len() - keep;
                    self.file
                        .as_mut()
                        .unwrap()
                        .write_all(&chunk[..cut])
                        .expect("write");
                    self.buf.extend_from_slice(&chunk[cut..]);
                    return;
                }
                Some(_) => self.buf.extend_from_slice(chunk),
            }
        } else {
            self.buf.extend_from_slice(chunk);
        }
        loop {
            if self.in_head {
                match memchr::memmem::find(&self.buf, b"\r\n\r\n") {
                    Some(i) => {
                        self.buf.drain(..i + 4);
                        self.in_head = false;
                        self.parts += 1;
                        let f = std::fs::File::create(
                            self.dir.join(format!("part-{:06}.dcm", self.parts)),
                        )
                        .expect("create");
                        self.file = Some(std::io::BufWriter::with_capacity(1 << 16, f));
                    }
                    None => return,
                }
            }
            match self.finder.find(&self.buf) {
                Some(i) => {
                    if let Some(mut f) = self.file.take() {
                        f.write_all(&self.buf[..i]).expect("write");
                        f.flush().expect("flush");
                    }
                    // After the delimiter: "--" (the end) or the CRLF before the headers.
                    if self.buf.len() < i + self.dlen + 2 {
                        self.buf.drain(..i);
                        return;
                    }
                    let after = &self.buf[i + self.dlen..i + self.dlen + 2];
                    if after == b"--" {
                        self.done = true;
                        self.buf.clear();
                        return;
                    }
                    self.buf.drain(..i + self.dlen);
                    // The CRLF ending the delimiter line starts the "\r\n\r\n" search of
                    // headers; a part without headers is "\r\n\r\n" right away.
                    self.in_head = true;
                }
                None => {
                    let keep = self.buf.len().min(self.dlen - 1);
                    let cut = self.buf.len() - keep;
                    if let Some(f) = self.file.as_mut() {
                        f.write_all(&self.buf[..cut]).expect("write");
                    }
                    self.buf.drain(..cut);
                    return;
                }
            }
        }
    }
}
