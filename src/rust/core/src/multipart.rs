//! `multipart/related` (RFC 2046, RFC 2387), as DICOMweb uses it: a streaming parser for the
//! answers of WADO-RS (parts handed on as they arrive, memory bounded by one network chunk
//! plus one delimiter, whatever the size of a part), and the body of a STOW-RS request,
//! streamed from files with a length known in advance.
//!
//! The rules followed by the parser: the delimiter is CRLF "--" boundary, the CRLF belonging
//! to the delimiter (not to the part before it); the first delimiter may start the body
//! without a CRLF; what comes before it (the preamble) and after the close delimiter
//! (boundary "--", the epilogue) is ignored; a delimiter may be followed by transport padding
//! (spaces and tabs) before its CRLF. Bytes that look like the boundary but are not a
//! delimiter (not after CRLF "--", or not followed by "--" or padding and CRLF) are part of
//! the body. A delimiter split across network chunks is found all the same.

use bytes::{Bytes, BytesMut};
use std::path::PathBuf;

/// A malformed or incomplete multipart body (the message says what and where).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartError(pub String);

impl std::fmt::Display for MultipartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MultipartError {}

/// What a Content-Type header says about a multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartType {
    /// The media type, lower case, without parameters (`multipart/related`).
    pub media_type: String,
    pub boundary: String,
    /// The `type` parameter (the type of the root part, in DICOMweb the type of every part).
    pub type_param: Option<String>,
}

/// The media type of a Content-Type value: lower case, without parameters.
pub fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Is this Content-Type a multipart one (`multipart/...`)?
pub fn is_multipart(content_type: &str) -> bool {
    media_type(content_type).starts_with("multipart/")
}

/// The parameters of a Content-Type value, names in lower case; quoted values unquoted
/// (backslash escapes resolved). A `;` inside quotes does not end a value.
fn parameters(content_type: &str) -> Result<Vec<(String, String)>, MultipartError> {
    let bytes = content_type.as_bytes();
    let mut i = match content_type.find(';') {
        Some(i) => i + 1,
        None => return Ok(vec![]),
    };
    let mut out = vec![];
    while i < bytes.len() {
        while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b';') {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        let start = i;
        while i < bytes.len() && bytes[i] != b'=' && bytes[i] != b';' {
            i += 1;
        }
        let name = content_type[start..i].trim().to_ascii_lowercase();
        if i >= bytes.len() || bytes[i] == b';' {
            // A parameter without a value: ignored.
            continue;
        }
        i += 1; // '='
        while i < bytes.len() && matches!(bytes[i], b' ' | b'\t') {
            i += 1;
        }
        let value = if i < bytes.len() && bytes[i] == b'"' {
            i += 1;
            let mut v = Vec::new();
            let mut closed = false;
            while i < bytes.len() {
                match bytes[i] {
                    b'\\' if i + 1 < bytes.len() => {
                        v.push(bytes[i + 1]);
                        i += 2;
                    }
                    b'"' => {
                        closed = true;
                        i += 1;
                        break;
                    }
                    b => {
                        v.push(b);
                        i += 1;
                    }
                }
            }
            if !closed {
                return Err(MultipartError(format!(
                    "the Content-Type `{content_type}` has an unterminated quoted parameter"
                )));
            }
            while i < bytes.len() && bytes[i] != b';' {
                i += 1;
            }
            String::from_utf8_lossy(&v).into_owned()
        } else {
            let start = i;
            while i < bytes.len() && bytes[i] != b';' {
                i += 1;
            }
            content_type[start..i].trim().to_string()
        };
        out.push((name, value));
    }
    Ok(out)
}

/// The boundary (and the rest) of a multipart Content-Type; an error when the type is not
/// multipart or has no usable boundary.
pub fn parse_content_type(content_type: &str) -> Result<MultipartType, MultipartError> {
    let media_type = media_type(content_type);
    if !media_type.starts_with("multipart/") {
        return Err(MultipartError(format!(
            "the answer is not multipart (its Content-Type is `{content_type}`)"
        )));
    }
    let params = parameters(content_type)?;
    let get = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let boundary = get("boundary").ok_or_else(|| {
        MultipartError(format!(
            "the multipart answer has no boundary in its Content-Type `{content_type}`"
        ))
    })?;
    // RFC 2046 allows 1 to 70 characters; longer ones are read all the same.
    if boundary.is_empty() || boundary.len() > 200 || boundary.bytes().any(|b| b.is_ascii_control())
    {
        return Err(MultipartError(format!(
            "the multipart answer's boundary `{}` is not valid",
            boundary.escape_debug()
        )));
    }
    Ok(MultipartType {
        media_type,
        boundary,
        type_param: get("type"),
    })
}

/// The head of a part: its headers (names in lower case, as received otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartHead {
    pub headers: Vec<(String, String)>,
}

impl PartHead {
    /// The value of the header `name` (lower case), if any.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn content_type(&self) -> Option<&str> {
        self.get("content-type")
    }
}

/// What the parser found in the bytes fed to it, in order: each part is `Begin`, any number
/// of `Data` (possibly none, for an empty part), then `End`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Begin(PartHead),
    Data(Bytes),
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Preamble,
    Headers,
    Body,
    Done,
}

/// What follows `CRLF -- boundary`.
enum After {
    /// Not enough bytes yet to say.
    Need,
    /// Not a delimiter: the bytes are data.
    NotDelimiter,
    /// The close delimiter (`--`).
    Close,
    /// A delimiter; its line (padding and CRLF) is this many bytes long.
    Next(usize),
}

/// At most this much transport padding after a delimiter is looked for.
const MAX_PADDING: usize = 256;
/// The headers of one part may be at most this long.
const MAX_HEAD: usize = 64 * 1024;

fn after_delimiter(rest: &[u8]) -> After {
    match rest.first() {
        None => After::Need,
        Some(b'-') => match rest.get(1) {
            None => After::Need,
            Some(b'-') => After::Close,
            Some(_) => After::NotDelimiter,
        },
        Some(_) => {
            let pad = rest
                .iter()
                .take(MAX_PADDING + 1)
                .take_while(|&&b| b == b' ' || b == b'\t')
                .count();
            if pad > MAX_PADDING {
                return After::NotDelimiter;
            }
            match (rest.get(pad), rest.get(pad + 1)) {
                (None, _) | (Some(b'\r'), None) => After::Need,
                (Some(b'\r'), Some(b'\n')) => After::Next(pad + 2),
                _ => After::NotDelimiter,
            }
        }
    }
}

/// A streaming parser of a multipart body: `feed()` it the bytes as they arrive, then
/// `finish()` at the end of the body. It keeps at most one delimiter (plus a part's headers)
/// of bytes between calls.
pub struct Parser {
    /// CRLF "--" boundary.
    delimiter: Vec<u8>,
    finder: memchr::memmem::Finder<'static>,
    buf: BytesMut,
    state: State,
    /// Parts begun so far.
    parts: usize,
}

impl std::fmt::Debug for Parser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parser")
            .field("delimiter", &String::from_utf8_lossy(&self.delimiter))
            .field("state", &self.state)
            .field("parts", &self.parts)
            .finish()
    }
}

impl Parser {
    pub fn new(boundary: &str) -> Parser {
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        let finder = memchr::memmem::Finder::new(&delimiter).into_owned();
        let mut buf = BytesMut::with_capacity(64 * 1024);
        // The first delimiter may open the body without a CRLF before it: one is supposed.
        buf.extend_from_slice(b"\r\n");
        Parser {
            delimiter,
            finder,
            buf,
            state: State::Preamble,
            parts: 0,
        }
    }

    /// Parts begun so far.
    pub fn parts(&self) -> usize {
        self.parts
    }

    /// Has the close delimiter been seen?
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Parse `chunk` (the next bytes of the body), appending what was found to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<Event>) -> Result<(), MultipartError> {
        if self.state == State::Done {
            return Ok(()); // the epilogue
        }
        self.buf.extend_from_slice(chunk);
        let dl = self.delimiter.len();
        loop {
            match self.state {
                State::Done => {
                    self.buf.clear();
                    return Ok(());
                }
                State::Preamble => match self.finder.find(&self.buf) {
                    Some(i) => match after_delimiter(&self.buf[i + dl..]) {
                        After::Need => {
                            let _ = self.buf.split_to(i);
                            return Ok(());
                        }
                        After::NotDelimiter => {
                            let _ = self.buf.split_to(i + 1);
                        }
                        After::Close => {
                            self.state = State::Done;
                        }
                        After::Next(n) => {
                            let _ = self.buf.split_to(i + dl + n);
                            self.state = State::Headers;
                        }
                    },
                    None => {
                        let keep = dl - 1;
                        if self.buf.len() > keep {
                            let _ = self.buf.split_to(self.buf.len() - keep);
                        }
                        return Ok(());
                    }
                },
                State::Headers => {
                    if self.buf.len() < 2 {
                        return Ok(());
                    }
                    let head_len = if self.buf.starts_with(b"\r\n") {
                        Some(0)
                    } else {
                        memchr::memmem::find(&self.buf, b"\r\n\r\n").map(|i| i + 2)
                    };
                    let Some(n) = head_len else {
                        if self.buf.len() > MAX_HEAD {
                            return Err(MultipartError(format!(
                                "the headers of part {} of the multipart answer are longer than {} bytes",
                                self.parts + 1,
                                MAX_HEAD
                            )));
                        }
                        return Ok(());
                    };
                    let head = parse_head(&self.buf[..n], self.parts + 1)?;
                    let _ = self.buf.split_to(n + 2);
                    self.parts += 1;
                    self.state = State::Body;
                    out.push(Event::Begin(head));
                }
                State::Body => match self.finder.find(&self.buf) {
                    Some(i) => match after_delimiter(&self.buf[i + dl..]) {
                        After::Need => {
                            if i > 0 {
                                out.push(Event::Data(self.buf.split_to(i).freeze()));
                            }
                            return Ok(());
                        }
                        After::NotDelimiter => {
                            out.push(Event::Data(self.buf.split_to(i + 1).freeze()));
                        }
                        After::Close => {
                            if i > 0 {
                                out.push(Event::Data(self.buf.split_to(i).freeze()));
                            }
                            out.push(Event::End);
                            self.state = State::Done;
                        }
                        After::Next(n) => {
                            if i > 0 {
                                out.push(Event::Data(self.buf.split_to(i).freeze()));
                            }
                            let _ = self.buf.split_to(dl + n);
                            out.push(Event::End);
                            self.state = State::Headers;
                        }
                    },
                    None => {
                        // The delimiter may start in the last dl - 1 bytes: keep them.
                        let keep = dl - 1;
                        if self.buf.len() > keep {
                            let n = self.buf.len() - keep;
                            out.push(Event::Data(self.buf.split_to(n).freeze()));
                        }
                        return Ok(());
                    }
                },
            }
        }
    }

    /// The body has ended: an error unless the close delimiter was seen.
    pub fn finish(&mut self) -> Result<(), MultipartError> {
        let n = self.parts;
        match self.state {
            State::Done => Ok(()),
            State::Preamble if n == 0 && !self.buf.starts_with(&self.delimiter) => {
                Err(MultipartError(
                    "the multipart answer holds no boundary line: no part was found".into(),
                ))
            }
            State::Preamble => Err(MultipartError(
                "the multipart answer ended without its closing boundary".into(),
            )),
            State::Headers => Err(MultipartError(format!(
                "the multipart answer ended in the headers of part {}",
                n + 1
            ))),
            State::Body if self.buf.starts_with(&self.delimiter) => Err(MultipartError(format!(
                "the multipart answer ended without its closing boundary (after part {n})"
            ))),
            State::Body => Err(MultipartError(format!(
                "the multipart answer ended in the middle of part {n}"
            ))),
        }
    }
}

/// The headers of part `n`: `head` is its lines, each ending with CRLF (empty for a part
/// without headers). A line starting with a space or a tab continues the one before.
fn parse_head(head: &[u8], n: usize) -> Result<PartHead, MultipartError> {
    let text = String::from_utf8_lossy(head);
    let mut headers: Vec<(String, String)> = vec![];
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = headers.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
                continue;
            }
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(MultipartError(format!(
                "part {n} of the multipart answer has a malformed header line `{}`",
                line.chars().take(80).collect::<String>().escape_debug()
            )));
        };
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    Ok(PartHead { headers })
}

/// The file name extension for a part of this Content-Type: `.dcm` for DICOM, `.json` for
/// DICOM JSON or JSON, `.bin` otherwise.
pub fn extension_for(content_type: &str) -> &'static str {
    match media_type(content_type).as_str() {
        "application/dicom" => ".dcm",
        "application/dicom+json" | "application/json" => ".json",
        _ => ".bin",
    }
}

/// A piece of a STOW body: bytes of the multipart framing, or the contents of a file.
#[derive(Debug, Clone)]
pub enum Segment {
    Bytes(Bytes),
    File { path: PathBuf, len: u64 },
}

/// The body of a STOW-RS request: `multipart/related` with one part per file, of a length
/// known before anything is sent (the sum of the files' sizes and of the framing).
#[derive(Debug, Clone)]
pub struct StowBody {
    pub content_type: String,
    pub length: u64,
    pub segments: Vec<Segment>,
}

/// A boundary that no file is expected to hold: 32 random hexadecimal digits (from the
/// standard library's randomly keyed hasher, a counter and the clock) after a fixed prefix.
pub fn random_boundary() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let word = |salt: u64| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(salt);
        h.write_u64(n);
        h.write_u128(now);
        h.write_u32(std::process::id());
        h.finish()
    };
    format!("orthanc-r-{:016x}{:016x}", word(1), word(2))
}

/// Build the STOW body of `files` (each a part of Content-Type `part_type`) with `boundary`;
/// the files' sizes are read now (a file missing is an error naming it).
pub fn stow_body(
    files: &[PathBuf],
    part_type: &str,
    boundary: &str,
) -> Result<StowBody, MultipartError> {
    if part_type.is_empty()
        || part_type
            .bytes()
            .any(|b| b.is_ascii_control() || b == b'"' || b == b'\\')
    {
        return Err(MultipartError(format!(
            "the part type `{}` is not a valid media type",
            part_type.escape_debug()
        )));
    }
    let mut segments = Vec::with_capacity(files.len() * 3 + 1);
    let mut length = 0u64;
    let push = |segments: &mut Vec<Segment>, length: &mut u64, b: Vec<u8>| {
        *length += b.len() as u64;
        segments.push(Segment::Bytes(Bytes::from(b)));
    };
    for path in files {
        let meta = std::fs::metadata(path)
            .map_err(|e| MultipartError(format!("cannot read {}: {e}", path.display())))?;
        if !meta.is_file() {
            return Err(MultipartError(format!("{} is not a file", path.display())));
        }
        let len = meta.len();
        push(
            &mut segments,
            &mut length,
            format!("--{boundary}\r\nContent-Type: {part_type}\r\nContent-Length: {len}\r\n\r\n")
                .into_bytes(),
        );
        segments.push(Segment::File {
            path: path.clone(),
            len,
        });
        length += len;
        push(&mut segments, &mut length, b"\r\n".to_vec());
    }
    push(
        &mut segments,
        &mut length,
        format!("--{boundary}--\r\n").into_bytes(),
    );
    Ok(StowBody {
        content_type: format!("multipart/related; type=\"{part_type}\"; boundary={boundary}"),
        length,
        segments,
    })
}

/// Files up to this size are read whole (one read), larger ones in pieces of `PIECE` bytes.
const SMALL_FILE: u64 = 1 << 20;
const PIECE: usize = 256 * 1024;

struct StowState {
    segments: std::collections::VecDeque<Segment>,
    /// The large file being read: its reader, the bytes still expected, its path.
    file: Option<(tokio::fs::File, u64, PathBuf)>,
}

fn changed(path: &std::path::Path) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        format!("{} changed size while it was being sent", path.display()),
    )
}

impl StowBody {
    /// The bytes of the body, in order, reading each file only when its turn comes (at most
    /// one file open, at most `PIECE` bytes of a large file in memory).
    pub fn into_stream(
        self,
    ) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
        use tokio::io::AsyncReadExt;
        let state = StowState {
            segments: self.segments.into(),
            file: None,
        };
        futures_util::stream::try_unfold(state, |mut st| async move {
            loop {
                if let Some((f, remaining, path)) = st.file.as_mut() {
                    if *remaining == 0 {
                        st.file = None;
                        continue;
                    }
                    let want = (*remaining).min(PIECE as u64) as usize;
                    let mut piece = vec![0u8; want];
                    let n = f.read(&mut piece).await?;
                    if n == 0 {
                        return Err(changed(path));
                    }
                    piece.truncate(n);
                    *remaining -= n as u64;
                    return Ok(Some((Bytes::from(piece), st)));
                }
                match st.segments.pop_front() {
                    None => return Ok(None),
                    Some(Segment::Bytes(b)) => return Ok(Some((b, st))),
                    Some(Segment::File { path, len }) if len <= SMALL_FILE => {
                        // A small file (a DICOM instance is often some kB): one read,
                        // cheaper than the trips of tokio::fs to the blocking pool.
                        let bytes = std::fs::read(&path)?;
                        if bytes.len() as u64 != len {
                            return Err(changed(&path));
                        }
                        if len == 0 {
                            continue;
                        }
                        return Ok(Some((Bytes::from(bytes), st)));
                    }
                    Some(Segment::File { path, len }) => {
                        let f = tokio::fs::File::open(&path).await?;
                        st.file = Some((f, len, path));
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    /// Parse `body` fed in the chunks given by `cuts` (offsets); the parts as
    /// (headers, bytes), or the error.
    fn parse_chunks(
        boundary: &str,
        body: &[u8],
        cuts: &[usize],
    ) -> Result<Vec<(PartHead, Vec<u8>)>, MultipartError> {
        let mut p = Parser::new(boundary);
        let mut events = vec![];
        let mut start = 0;
        for &c in cuts.iter().chain(std::iter::once(&body.len())) {
            let c = c.clamp(start, body.len());
            p.feed(&body[start..c], &mut events)?;
            start = c;
        }
        p.finish()?;
        collect(events)
    }

    fn collect(events: Vec<Event>) -> Result<Vec<(PartHead, Vec<u8>)>, MultipartError> {
        let mut parts = vec![];
        let mut open = false;
        for e in events {
            match e {
                Event::Begin(h) => {
                    assert!(!open, "Begin inside a part");
                    open = true;
                    parts.push((h, vec![]));
                }
                Event::Data(d) => {
                    assert!(open, "Data outside a part");
                    parts.last_mut().unwrap().1.extend_from_slice(&d);
                }
                Event::End => {
                    assert!(open, "End outside a part");
                    open = false;
                }
            }
        }
        assert!(!open, "a part left open");
        Ok(parts)
    }

    fn parse(boundary: &str, body: &[u8]) -> Result<Vec<(PartHead, Vec<u8>)>, MultipartError> {
        parse_chunks(boundary, body, &[])
    }

    fn build(boundary: &str, parts: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (t, b) in parts {
            out.extend_from_slice(format!("--{boundary}\r\nContent-Type: {t}\r\n\r\n").as_bytes());
            out.extend_from_slice(b);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        out
    }

    #[test]
    fn one_part() {
        let body = build("XyZ", &[("application/dicom", b"DICM data")]);
        let parts = parse("XyZ", &body).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].0.content_type(), Some("application/dicom"));
        assert_eq!(parts[0].1, b"DICM data");
    }

    #[test]
    fn many_parts_preamble_epilogue_and_padding() {
        let body = b"This is the preamble.\r\n--b1 \t\r\ncontent-type: application/dicom\r\nContent-Length: 3\r\n\r\nabc\r\n--b1\r\nContent-Type: application/dicom+json;\r\n charset=utf-8\r\n\r\n[{}]\r\n--b1\r\n\r\nno headers\r\n--b1--  \r\nthe epilogue, ignored\r\n--b1\r\nnot a part";
        let parts = parse("b1", body).unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].1, b"abc");
        assert_eq!(parts[0].0.get("content-length"), Some("3"));
        assert_eq!(
            parts[1].0.content_type(),
            Some("application/dicom+json; charset=utf-8")
        );
        assert_eq!(parts[1].1, b"[{}]");
        assert_eq!(parts[2].0.headers, vec![]);
        assert_eq!(parts[2].1, b"no headers");
    }

    #[test]
    fn delimiter_split_at_every_position() {
        let bodies: Vec<(&str, Vec<u8>)> = vec![
            (
                "boundary-42",
                build(
                    "boundary-42",
                    &[
                        ("application/dicom", b"first\r\n-- part"),
                        ("application/dicom", b""),
                        ("application/octet-stream", b"\r\n--boundary-4\r\n"),
                    ],
                ),
            ),
            ("b", build("b", &[("a/b", b"\r\n-"), ("a/b", b"x")])),
        ];
        for (boundary, body) in &bodies {
            let whole = parse(boundary, body).unwrap();
            assert_eq!(whole.len(), if *boundary == "b" { 2 } else { 3 });
            // Cut in two at every position, and in chunks of every size.
            for cut in 0..=body.len() {
                assert_eq!(
                    parse_chunks(boundary, body, &[cut]).unwrap(),
                    whole,
                    "cut {cut}"
                );
            }
            for size in 1..=body.len() {
                let cuts: Vec<usize> = (1..)
                    .map(|k| k * size)
                    .take_while(|&c| c < body.len())
                    .collect();
                assert_eq!(
                    parse_chunks(boundary, body, &cuts).unwrap(),
                    whole,
                    "size {size}"
                );
            }
        }
    }

    #[test]
    fn boundary_like_bytes_inside_a_body_do_not_split_it() {
        let b = "abc";
        let inside: &[&[u8]] = &[
            b"--abc",                  // not after CRLF
            b"x--abc\r\n",             // not after CRLF
            b"\r\n--abcd\r\n",         // a longer boundary
            b"\r\n--abc-x",            // neither -- nor CRLF after it
            b"\r\n--abc \tx\r\n",      // padding then something else
            b"\r\n-abc\r\n",           // one dash
            b"--abc--",                // looks like the close delimiter
            b"\r\r\n\n--\r\n--ab\r\n", // near misses
        ];
        for data in inside {
            let body = build(
                b,
                &[("application/octet-stream", data), ("text/plain", b"2")],
            );
            let parts = parse(b, &body).unwrap();
            assert_eq!(parts.len(), 2, "{:?}", String::from_utf8_lossy(data));
            assert_eq!(&parts[0].1, data);
            for cut in 0..=body.len() {
                assert_eq!(parse_chunks(b, &body, &[cut]).unwrap(), parts);
            }
        }
    }

    #[test]
    fn empty_parts() {
        let body = b"--e\r\nContent-Type: a/b\r\n\r\n\r\n--e\r\n\r\n\r\n--e--";
        let parts = parse("e", body).unwrap();
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|(_, d)| d.is_empty()));
        // A multipart body with no part at all.
        assert_eq!(parse("e", b"--e--\r\n").unwrap(), vec![]);
    }

    #[test]
    fn truncated_in_a_part() {
        let body = build("t", &[("a/b", b"0123456789"), ("a/b", b"abcdefghij")]);
        let second = body.len() - 15; // "abcd" of the second part has arrived
        let e = parse("t", &body[..second]).unwrap_err();
        assert!(e.0.contains("in the middle of part 2"), "{e}");
        // Events before the cut: the first part complete, the second begun, not ended.
        let mut p = Parser::new("t");
        let mut ev = vec![];
        p.feed(&body[..second], &mut ev).unwrap();
        assert_eq!(ev.iter().filter(|e| matches!(e, Event::End)).count(), 1);
        assert_eq!(
            ev.iter().filter(|e| matches!(e, Event::Begin(_))).count(),
            2
        );
        assert!(p.finish().is_err());
    }

    #[test]
    fn truncated_in_headers() {
        let body = build(
            "t",
            &[("application/dicom", b"x"), ("application/dicom", b"y")],
        );
        let text = String::from_utf8_lossy(&body).into_owned();
        let at = text.rfind("Content-Type").unwrap() + 5;
        let e = parse("t", &body[..at]).unwrap_err();
        assert!(e.0.contains("in the headers of part 2"), "{e}");
        let e = parse("t", b"--t\r\n").unwrap_err();
        assert!(e.0.contains("in the headers of part 1"), "{e}");
        let e = parse("t", b"--t\r\nBroken header\r\n\r\nx\r\n--t--").unwrap_err();
        assert!(e.0.contains("malformed header"), "{e}");
    }

    #[test]
    fn missing_close_delimiter() {
        let body = build("m", &[("a/b", b"data")]);
        let text = String::from_utf8(body).unwrap();
        let cut = text.strip_suffix("--m--\r\n").unwrap();
        // Ends right after the last part's data (the CRLF of the delimiter).
        let e = parse("m", cut.as_bytes()).unwrap_err();
        assert!(e.0.contains("middle of part 1"), "{e}");
        // Ends after the delimiter without its "--".
        let e = parse("m", format!("{cut}--m").as_bytes()).unwrap_err();
        assert!(e.0.contains("without its closing boundary"), "{e}");
        let e = parse("m", format!("{cut}--m-").as_bytes()).unwrap_err();
        assert!(e.0.contains("without its closing boundary"), "{e}");
        // Ends after a delimiter line that opens a part.
        let e = parse("m", format!("{cut}--m\r\n").as_bytes()).unwrap_err();
        assert!(e.0.contains("headers of part 2"), "{e}");
        // No boundary at all.
        let e = parse("m", b"just some bytes").unwrap_err();
        assert!(e.0.contains("no boundary line"), "{e}");
        assert!(parse("m", b"").is_err());
    }

    #[test]
    fn content_types() {
        let t = parse_content_type(
            "multipart/related; type=\"application/dicom\"; boundary=\"a;b c\\\"d\"",
        )
        .unwrap();
        assert_eq!(t.boundary, "a;b c\"d");
        assert_eq!(t.type_param.as_deref(), Some("application/dicom"));
        assert_eq!(t.media_type, "multipart/related");
        let t =
            parse_content_type("Multipart/Related;boundary=xyz;type=application/dicom").unwrap();
        assert_eq!(t.boundary, "xyz");
        assert_eq!(t.type_param.as_deref(), Some("application/dicom"));
        // A quoted boundary parses the body it names.
        let t = parse_content_type("multipart/related; boundary=\"q q\"").unwrap();
        let parts = parse(&t.boundary, &build("q q", &[("a/b", b"1")])).unwrap();
        assert_eq!(parts[0].1, b"1");
        for bad in [
            "multipart/related",
            "multipart/related; type=application/dicom",
            "multipart/related; boundary=",
            "multipart/related; boundary=\"\"",
            "multipart/related; boundary=\"unterminated",
            "application/dicom; boundary=x",
            "garbage",
            "",
        ] {
            assert!(parse_content_type(bad).is_err(), "{bad}");
        }
        assert!(is_multipart("multipart/related; boundary=x"));
        assert!(!is_multipart("application/dicom"));
        assert_eq!(
            extension_for("application/dicom; transfer-syntax=1.2"),
            ".dcm"
        );
        assert_eq!(extension_for("Application/DICOM+JSON"), ".json");
        assert_eq!(extension_for("application/json"), ".json");
        assert_eq!(extension_for("image/jpeg"), ".bin");
        assert_eq!(extension_for(""), ".bin");
    }

    #[test]
    fn memory_stays_bounded() {
        // A 4 MB part fed in 16 kB chunks: the parser never holds more than a chunk and a
        // delimiter.
        let data = vec![b'-'; 4 << 20];
        let body = build("bound", &[("a/b", &data)]);
        let mut p = Parser::new("bound");
        let mut total = 0;
        for chunk in body.chunks(16 * 1024) {
            let mut ev = vec![];
            p.feed(chunk, &mut ev).unwrap();
            assert!(p.buf.len() < 16 * 1024 + 64, "{}", p.buf.len());
            for e in ev {
                if let Event::Data(d) = e {
                    total += d.len();
                }
            }
        }
        p.finish().unwrap();
        assert_eq!(total, data.len());
    }

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("orthanc-mp-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn stow_body_length_is_the_bytes_sent() {
        let dir = temp_dir("stow");
        let sizes = [0usize, 1, 1000, (SMALL_FILE + 12345) as usize, 77];
        let mut files = vec![];
        for (i, n) in sizes.iter().enumerate() {
            let p = dir.join(format!("f{i}"));
            let bytes: Vec<u8> = (0..*n).map(|k| (k * 7 + i) as u8).collect();
            std::fs::write(&p, &bytes).unwrap();
            files.push(p);
        }
        let boundary = random_boundary();
        assert_ne!(boundary, random_boundary());
        let body = stow_body(&files, "application/dicom", &boundary).unwrap();
        assert_eq!(
            body.content_type,
            format!("multipart/related; type=\"application/dicom\"; boundary={boundary}")
        );
        let length = body.length;
        let bytes: Vec<u8> = crate::runtime::block_on(async move {
            let mut s = Box::pin(body.into_stream());
            let mut out = vec![];
            while let Some(b) = s.next().await {
                out.extend_from_slice(&b.unwrap());
            }
            out
        });
        assert_eq!(bytes.len() as u64, length);
        // The parser reads back each file.
        let parts = parse(&boundary, &bytes).unwrap();
        assert_eq!(parts.len(), files.len());
        for ((head, data), f) in parts.iter().zip(&files) {
            assert_eq!(head.content_type(), Some("application/dicom"));
            assert_eq!(data, &std::fs::read(f).unwrap());
            assert_eq!(
                head.get("content-length"),
                Some(data.len().to_string().as_str())
            );
        }
        // No file: only the close delimiter.
        let empty = stow_body(&[], "application/dicom", "z").unwrap();
        assert_eq!(empty.length, b"--z--\r\n".len() as u64);
        assert!(stow_body(&[dir.join("missing")], "application/dicom", "z").is_err());
        assert!(stow_body(&files, "a/b\r\nX: y", "z").is_err());
        // A file that shrinks after the body was built: an error, not a short body.
        let body = stow_body(&files[3..4], "application/dicom", "z").unwrap();
        std::fs::write(&files[3], b"short").unwrap();
        let r: Result<Vec<Bytes>, _> = crate::runtime::block_on(async move {
            let mut s = Box::pin(body.into_stream());
            let mut out = vec![];
            while let Some(b) = s.next().await {
                out.push(b?);
            }
            Ok::<_, std::io::Error>(out)
        });
        assert!(r.is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
