//! Many requests at once on one client's pool: at most `concurrency` in flight, one result
//! per request (an answer or an error), so that one failure never stops the batch. Each
//! request goes through the single request path (`Client::execute`: retries, timeouts,
//! streaming to a temporary file renamed when complete).
//!
//! Everything is driven from the calling thread: it polls the transfers, asks `interrupted`
//! every 100 ms and reports progress, so the R side can update a progress bar and honour
//! Ctrl-C without any R code running on another thread.

use crate::http::{Client, Error, Request, Response};
use crate::runtime;
use futures_util::stream::StreamExt;
use std::time::{Duration, Instant};

/// How often progress is reported at most (and interrupts are checked at least).
const TICK: Duration = Duration::from_millis(100);

/// Perform `requests` with at most `concurrency` of them in flight. Returns one result per
/// request, in the order of `requests`, or `Error::Interrupted` when `interrupted()` said so
/// (the transfers still running are then cancelled and their partial files removed; files
/// already complete stay). `progress(done, total)` is called from the calling thread at most
/// every 100 ms while requests complete, and once at the end.
pub fn perform_all(
    client: &Client,
    requests: &[Request],
    concurrency: usize,
    interrupted: &dyn Fn() -> bool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Result<Response, Error>>, Error> {
    let total = requests.len();
    if interrupted() {
        return Err(Error::Interrupted);
    }
    let mut results: Vec<Option<Result<Response, Error>>> = (0..total).map(|_| None).collect();
    runtime::block_on(async {
        let mut pending = futures_util::stream::iter(requests.iter().enumerate())
            .map(|(i, r)| async move { (i, client.execute(r).await) })
            .buffer_unordered(concurrency.max(1));
        let mut done = 0usize;
        let mut reported = Instant::now();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                next = pending.next() => match next {
                    Some((i, r)) => {
                        results[i] = Some(r);
                        done += 1;
                        if reported.elapsed() >= TICK {
                            progress(done, total);
                            reported = Instant::now();
                        }
                    }
                    None => break,
                },
                _ = tick.tick() => {
                    if interrupted() {
                        drop(pending);
                        runtime::settle().await;
                        return Err(Error::Interrupted);
                    }
                }
            }
        }
        progress(done, total);
        Ok(())
    })?;
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(Error::Io("the request was not performed".into()))))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Config, Method};
    use crate::test_server::{answer, send};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A server answering `/ok/N` with N after `delay`, anything else with 404; counts the
    /// requests being handled at once.
    fn server(delay: Duration) -> (u16, Arc<AtomicUsize>) {
        let peak = Arc::new(AtomicUsize::new(0));
        let open = AtomicUsize::new(0);
        let p2 = peak.clone();
        let port = crate::test_server::serve(move |path, s| {
            let now = open.fetch_add(1, Ordering::SeqCst) + 1;
            p2.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(delay);
            let out = match path.strip_prefix("/ok/") {
                Some(n) => answer("200 OK", "text/plain", n),
                None => answer("404 Not Found", "text/plain", ""),
            };
            open.fetch_sub(1, Ordering::SeqCst);
            send(s, &out)
        });
        (port, peak)
    }

    fn client(port: u16) -> Client {
        Client::new(Config {
            base_url: format!("http://127.0.0.1:{port}"),
            ..Config::default()
        })
        .unwrap()
    }

    #[test]
    fn results_in_order_with_bounded_concurrency() {
        let (port, peak) = server(Duration::from_millis(30));
        let c = client(port);
        let reqs: Vec<Request> = (0..40)
            .map(|i| {
                let path = if i % 7 == 3 {
                    "/missing".to_string()
                } else {
                    format!("/ok/{i}")
                };
                Request::new(Method::GET, path)
            })
            .collect();
        let mut calls = 0;
        let mut last = (0, 0);
        let out = perform_all(&c, &reqs, 3, &|| false, &mut |d, t| {
            calls += 1;
            last = (d, t);
        })
        .unwrap();
        assert_eq!(out.len(), 40);
        for (i, r) in out.iter().enumerate() {
            let r = r.as_ref().unwrap();
            if i % 7 == 3 {
                assert_eq!(r.status, 404);
            } else {
                assert_eq!(r.status, 200);
                assert_eq!(&r.body[..], i.to_string().as_bytes());
            }
        }
        assert!(calls >= 1);
        assert_eq!(last, (40, 40));
        let p = peak.load(Ordering::SeqCst);
        assert!((1..=3).contains(&p), "peak requests in flight {p}");
    }

    #[test]
    fn a_failure_does_not_stop_the_batch() {
        let (port, _) = server(Duration::ZERO);
        let c = client(port);
        let mut reqs = vec![Request::new(Method::GET, "/ok/1")];
        let mut bad = Request::new(Method::GET, "/ok/2");
        bad.headers.push(("bad header".into(), "x".into()));
        reqs.push(bad);
        reqs.push(Request::new(Method::GET, "/ok/3"));
        let out = perform_all(&c, &reqs, 2, &|| false, &mut |_, _| {}).unwrap();
        assert_eq!(out[0].as_ref().unwrap().status, 200);
        assert!(matches!(out[1], Err(Error::Invalid(_))));
        assert_eq!(&out[2].as_ref().unwrap().body[..], b"3");
    }

    #[test]
    fn interrupt_stops_the_batch() {
        let (port, _) = server(Duration::from_millis(200));
        let c = client(port);
        let reqs: Vec<Request> = (0..50)
            .map(|i| Request::new(Method::GET, format!("/ok/{i}")))
            .collect();
        let start = Instant::now();
        let out = perform_all(
            &c,
            &reqs,
            2,
            &|| start.elapsed() > Duration::from_millis(300),
            &mut |_, _| {},
        );
        assert!(matches!(out, Err(Error::Interrupted)));
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn empty_batch() {
        let c = client(9);
        let out = perform_all(&c, &[], 4, &|| false, &mut |_, _| {}).unwrap();
        assert!(out.is_empty());
    }
}
