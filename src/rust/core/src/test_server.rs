//! A tiny HTTP/1.1 server on loopback for the unit tests of this crate (test builds only):
//! it reads each request on a kept-alive connection and lets the test write the answer.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

/// Serve on a free loopback port, one thread per connection. For each request (read in
/// one piece of at most 4 KiB: the tests send small requests), `answer(path, stream)`
/// writes the answer; it returns false to close the connection. Returns the port.
pub(crate) fn serve<F>(answer: F) -> u16
where
    F: Fn(&str, &mut TcpStream) -> bool + Send + Sync + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let answer = Arc::clone(&answer);
            std::thread::spawn(move || {
                let mut s = s;
                let mut buf = [0u8; 4096];
                loop {
                    let n = match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let head = String::from_utf8_lossy(&buf[..n]).to_string();
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                    if !answer(&path, &mut s) {
                        break;
                    }
                }
            });
        }
    });
    port
}

/// A complete answer with a body, as bytes to write.
pub(crate) fn answer(status: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Write `bytes`; false when the client has gone.
pub(crate) fn send(s: &mut TcpStream, bytes: &[u8]) -> bool {
    s.write_all(bytes).is_ok()
}
