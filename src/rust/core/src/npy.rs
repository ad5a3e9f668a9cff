//! Decoding of NumPy `.npy` files (what Orthanc answers on `/instances/{id}/numpy` and
//! `/series/{id}/numpy`), and of PAM images (`image/x-portable-arbitrarymap`, what Orthanc
//! answers on `/instances/{id}/frames/{n}/image-uint16` and friends).
//!
//! Both give an [`Array`]: a shape and values stored in column-major order (R's order),
//! optionally with the axes permuted. Nothing here panics on bad input: a malformed or
//! truncated file is an [`NpyError`].
//!
//! The `.npy` format: <https://numpy.org/devdocs/reference/generated/numpy.lib.format.html>.

use std::fmt;

/// Why a `.npy` or PAM file could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyError(pub String);

impl fmt::Display for NpyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NpyError {}

fn err<T>(msg: impl Into<String>) -> Result<T, NpyError> {
    Err(NpyError(msg.into()))
}

/// Values of a decoded array: whole numbers that fit an R integer, or doubles.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    Int(Vec<i32>),
    Real(Vec<f64>),
}

impl Values {
    pub fn len(&self) -> usize {
        match self {
            Values::Int(v) => v.len(),
            Values::Real(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An n-dimensional array: `values` in column-major order for `shape` (the first index
/// varies fastest), as R stores arrays.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub values: Values,
}

impl Array {
    /// The same array with its axes reordered: axis `i` of the result is axis `axes[i]` of
    /// `self` (like R's `aperm()` and NumPy's `transpose()`).
    pub fn permuted(&self, axes: &[usize]) -> Result<Array, NpyError> {
        let n = self.shape.len();
        let mut seen = vec![false; n];
        if axes.len() != n {
            return err(format!(
                "the permutation has {} axes, the array {}",
                axes.len(),
                n
            ));
        }
        for &a in axes {
            if a >= n || seen[a] {
                return err("the axes are not a permutation");
            }
            seen[a] = true;
        }
        // Column-major strides of the source.
        let mut strides = vec![1usize; n];
        for i in 1..n {
            strides[i] = strides[i - 1] * self.shape[i - 1];
        }
        let shape: Vec<usize> = axes.iter().map(|&a| self.shape[a]).collect();
        let src_strides: Vec<usize> = axes.iter().map(|&a| strides[a]).collect();
        let order = gather_order(&shape, &src_strides);
        let values = match &self.values {
            Values::Int(v) => Values::Int(order.iter().map(|&i| v[i]).collect()),
            Values::Real(v) => Values::Real(order.iter().map(|&i| v[i]).collect()),
        };
        Ok(Array { shape, values })
    }
}

/// For an output of `shape` in column-major order, the index in the source of each element,
/// where moving one step along output axis `k` moves `strides[k]` in the source.
fn gather_order(shape: &[usize], strides: &[usize]) -> Vec<usize> {
    let total: usize = shape.iter().product();
    let mut out = Vec::with_capacity(total);
    if total == 0 {
        return out;
    }
    let mut idx = vec![0usize; shape.len()];
    let mut pos = 0usize;
    for _ in 0..total {
        out.push(pos);
        // Odometer: first axis fastest.
        for k in 0..shape.len() {
            idx[k] += 1;
            pos += strides[k];
            if idx[k] < shape[k] {
                break;
            }
            pos -= strides[k] * shape[k];
            idx[k] = 0;
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Int,
    Uint,
    Float,
}

/// A dtype such as `<u2`: byte order, kind and item size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Dtype {
    big_endian: bool,
    kind: Kind,
    size: usize,
}

fn parse_descr(descr: &str) -> Result<Dtype, NpyError> {
    let mut chars = descr.chars();
    let (big_endian, rest) = match chars.next() {
        Some('<') | Some('=') => (false, chars.as_str()),
        Some('>') => (true, chars.as_str()),
        Some('|') => (false, chars.as_str()),
        _ => (false, descr),
    };
    let mut rc = rest.chars();
    let kind = match rc.next() {
        Some('b') => Kind::Bool,
        Some('i') => Kind::Int,
        Some('u') => Kind::Uint,
        Some('f') => Kind::Float,
        _ => return err(format!("unsupported dtype `{descr}`")),
    };
    let size: usize = rc
        .as_str()
        .parse()
        .map_err(|_| NpyError(format!("unsupported dtype `{descr}`")))?;
    let ok = match kind {
        Kind::Bool => size == 1,
        Kind::Int | Kind::Uint => matches!(size, 1 | 2 | 4 | 8),
        Kind::Float => matches!(size, 4 | 8),
    };
    if !ok {
        return err(format!("unsupported dtype `{descr}`"));
    }
    Ok(Dtype {
        big_endian,
        kind,
        size,
    })
}

/// The header of a `.npy` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub descr: String,
    pub fortran_order: bool,
    pub shape: Vec<usize>,
}

/// A tiny reader of the Python literal in a `.npy` header:
/// `{'descr': '<u2', 'fortran_order': False, 'shape': (1, 288, 288, 1), }`.
struct Lit<'a> {
    s: &'a [u8],
    i: usize,
}

#[derive(Debug)]
enum Value {
    Str(String),
    Bool(bool),
    Tuple(Vec<usize>),
}

impl<'a> Lit<'a> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), NpyError> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            err(format!(
                "malformed .npy header: expected `{}` at byte {}",
                c as char, self.i
            ))
        }
    }

    fn string(&mut self) -> Result<String, NpyError> {
        let q = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => return err("malformed .npy header: expected a string"),
        };
        self.i += 1;
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i] != q {
            self.i += 1;
        }
        if self.i >= self.s.len() {
            return err("malformed .npy header: unterminated string");
        }
        let out = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        self.i += 1;
        Ok(out)
    }

    fn word(&mut self) -> &'a [u8] {
        self.ws();
        let start = self.i;
        while self.i < self.s.len() && (self.s[self.i].is_ascii_alphanumeric()) {
            self.i += 1;
        }
        &self.s[start..self.i]
    }

    fn value(&mut self) -> Result<Value, NpyError> {
        match self.peek() {
            Some(b'\'' | b'"') => Ok(Value::Str(self.string()?)),
            Some(b'(') => {
                self.i += 1;
                let mut dims = Vec::new();
                loop {
                    if self.peek() == Some(b')') {
                        self.i += 1;
                        break;
                    }
                    let w = self.word();
                    let w = std::str::from_utf8(w).unwrap_or("");
                    // Python 2 era files may write `288L`.
                    let d: usize = w.trim_end_matches('L').parse().map_err(|_| {
                        NpyError("malformed .npy header: bad dimension in shape".into())
                    })?;
                    dims.push(d);
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b')') => {}
                        _ => return err("malformed .npy header: bad shape"),
                    }
                }
                Ok(Value::Tuple(dims))
            }
            Some(b'[') => err("structured dtypes are not supported"),
            _ => match self.word() {
                b"True" => Ok(Value::Bool(true)),
                b"False" => Ok(Value::Bool(false)),
                _ => err("malformed .npy header: unexpected value"),
            },
        }
    }

    fn dict(&mut self) -> Result<Header, NpyError> {
        self.expect(b'{')?;
        let (mut descr, mut fortran, mut shape) = (None, None, None);
        loop {
            if self.peek() == Some(b'}') {
                self.i += 1;
                break;
            }
            let key = self.string()?;
            self.expect(b':')?;
            let v = self.value()?;
            match (key.as_str(), v) {
                ("descr", Value::Str(s)) => descr = Some(s),
                ("fortran_order", Value::Bool(b)) => fortran = Some(b),
                ("shape", Value::Tuple(t)) => shape = Some(t),
                ("descr" | "fortran_order" | "shape", _) => {
                    return err(format!("malformed .npy header: bad value for `{key}`"))
                }
                _ => {}
            }
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {}
                _ => return err("malformed .npy header: expected `,` or `}`"),
            }
        }
        match (descr, fortran, shape) {
            (Some(descr), Some(fortran_order), Some(shape)) => Ok(Header {
                descr,
                fortran_order,
                shape,
            }),
            _ => err("malformed .npy header: `descr`, `fortran_order` or `shape` is missing"),
        }
    }
}

const MAGIC: &[u8] = b"\x93NUMPY";

/// Parse the header of a `.npy` file; returns it and the offset of the data.
pub fn parse_header(bytes: &[u8]) -> Result<(Header, usize), NpyError> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        if bytes.starts_with(b"PK") {
            return err("this is a .npz (zip) file, not a .npy file");
        }
        return err("not a .npy file (the magic string is missing)");
    }
    let (major, _minor) = match bytes.get(6..8) {
        Some(v) => (v[0], v[1]),
        None => return err("truncated .npy file (no version)"),
    };
    let (len, start) = match major {
        1 => match bytes.get(8..10) {
            Some(b) => (u16::from_le_bytes([b[0], b[1]]) as usize, 10usize),
            None => return err("truncated .npy file (no header length)"),
        },
        2 | 3 => match bytes.get(8..12) {
            Some(b) => (
                u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize,
                12usize,
            ),
            None => return err("truncated .npy file (no header length)"),
        },
        v => return err(format!("unsupported .npy format version {v}")),
    };
    let end = start
        .checked_add(len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| NpyError("truncated .npy file (header cut short)".into()))?;
    let header = Lit {
        s: &bytes[start..end],
        i: 0,
    }
    .dict()?;
    Ok((header, end))
}

/// Decode a whole `.npy` file into an [`Array`] with the file's shape (in column-major
/// order whatever the file's order). Integers up to 32 bits that fit an R integer (not
/// `i32::MIN`, R's NA) and booleans give [`Values::Int`]; the rest gives [`Values::Real`].
pub fn decode_npy(bytes: &[u8]) -> Result<Array, NpyError> {
    let (header, offset) = parse_header(bytes)?;
    let dtype = parse_descr(&header.descr)?;
    let count = header
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| NpyError("the shape is too large".into()))?;
    let nbytes = count
        .checked_mul(dtype.size)
        .ok_or_else(|| NpyError("the shape is too large".into()))?;
    let data = &bytes[offset..];
    if data.len() < nbytes {
        return err(format!(
            "truncated .npy file: {} bytes of data for {} values of {} bytes",
            data.len(),
            count,
            dtype.size
        ));
    }
    let values = read_values(&data[..nbytes], dtype);
    let n = header.shape.len();
    if header.fortran_order || n < 2 {
        return Ok(Array {
            shape: header.shape,
            values,
        });
    }
    // C order: the data is the column-major array of the reversed shape; reverse the axes.
    let reversed = Array {
        shape: header.shape.iter().rev().copied().collect(),
        values,
    };
    let axes: Vec<usize> = (0..n).rev().collect();
    reversed.permuted(&axes)
}

fn read_values(data: &[u8], t: Dtype) -> Values {
    let chunks = data.chunks_exact(t.size);
    macro_rules! read {
        ($ty:ty, $n:expr) => {
            chunks.map(|c| {
                let mut b = [0u8; $n];
                b.copy_from_slice(c);
                if t.big_endian {
                    <$ty>::from_be_bytes(b)
                } else {
                    <$ty>::from_le_bytes(b)
                }
            })
        };
    }
    match (t.kind, t.size) {
        (Kind::Bool, _) => Values::Int(data.iter().map(|&b| (b != 0) as i32).collect()),
        (Kind::Uint, 1) => Values::Int(data.iter().map(|&b| b as i32).collect()),
        (Kind::Int, 1) => Values::Int(data.iter().map(|&b| b as i8 as i32).collect()),
        (Kind::Uint, 2) => Values::Int(read!(u16, 2).map(|v| v as i32).collect()),
        (Kind::Int, 2) => Values::Int(read!(i16, 2).map(|v| v as i32).collect()),
        (Kind::Int, 4) => {
            let v: Vec<i32> = read!(i32, 4).collect();
            if v.contains(&i32::MIN) {
                Values::Real(v.into_iter().map(f64::from).collect())
            } else {
                Values::Int(v)
            }
        }
        (Kind::Uint, 4) => Values::Real(read!(u32, 4).map(f64::from).collect()),
        (Kind::Int, 8) => Values::Real(read!(i64, 8).map(|v| v as f64).collect()),
        (Kind::Uint, 8) => Values::Real(read!(u64, 8).map(|v| v as f64).collect()),
        (Kind::Float, 4) => Values::Real(read!(f32, 4).map(f64::from).collect()),
        (Kind::Float, _) => Values::Real(read!(f64, 8).collect()),
        // parse_descr() admits no other combination.
        _ => Values::Real(Vec::new()),
    }
}

/// Decode a PAM image (`P7`, as Orthanc writes it: one or two bytes per sample, big-endian).
/// The result has shape (height, width, depth): `a[r, c, k]` is sample `k` of the pixel at
/// row `r`, column `c`. With `signed`, 16-bit samples are read as two's complement (what
/// Orthanc writes for `image-int16`).
pub fn decode_pam(bytes: &[u8], signed: bool) -> Result<Array, NpyError> {
    if !bytes.starts_with(b"P7") {
        return err("not a PAM image (the `P7` magic is missing)");
    }
    let (mut width, mut height, mut depth, mut maxval) = (None, None, None, None);
    let mut pos = 2usize;
    let data_start = loop {
        // One line at a time.
        let rest = &bytes[pos..];
        let nl = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => i,
            None => return err("truncated PAM image (no ENDHDR)"),
        };
        let line = String::from_utf8_lossy(&rest[..nl]);
        pos += nl + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line == "ENDHDR" {
            break pos;
        }
        let mut parts = line.splitn(2, char::is_whitespace);
        let key = parts.next().unwrap_or("");
        let val = parts.next().unwrap_or("").trim();
        let num = || -> Result<usize, NpyError> {
            val.parse()
                .map_err(|_| NpyError(format!("malformed PAM header: bad {key} `{val}`")))
        };
        match key {
            "WIDTH" => width = Some(num()?),
            "HEIGHT" => height = Some(num()?),
            "DEPTH" => depth = Some(num()?),
            "MAXVAL" => maxval = Some(num()?),
            _ => {}
        }
    };
    let (w, h, d, maxval) = match (width, height, depth, maxval) {
        (Some(w), Some(h), Some(d), Some(m)) => (w, h, d, m),
        _ => return err("malformed PAM header: WIDTH, HEIGHT, DEPTH or MAXVAL is missing"),
    };
    if maxval == 0 || maxval > 65535 {
        return err(format!("malformed PAM header: MAXVAL {maxval}"));
    }
    let size = if maxval < 256 { 1 } else { 2 };
    let count = w
        .checked_mul(h)
        .and_then(|n| n.checked_mul(d))
        .ok_or_else(|| NpyError("the PAM image is too large".into()))?;
    let data = &bytes[data_start..];
    if data.len() / size < count {
        return err(format!(
            "truncated PAM image: {} bytes of data for {} samples of {} bytes",
            data.len(),
            count,
            size
        ));
    }
    let values: Vec<i32> = if size == 1 {
        data[..count].iter().map(|&b| b as i32).collect()
    } else {
        data[..count * 2]
            .chunks_exact(2)
            .map(|c| {
                if signed {
                    i16::from_be_bytes([c[0], c[1]]) as i32
                } else {
                    u16::from_be_bytes([c[0], c[1]]) as i32
                }
            })
            .collect()
    };
    // Row-major (height, width, depth) with depth fastest = column-major (depth, width,
    // height); permute to (height, width, depth).
    Array {
        shape: vec![d, w, h],
        values: Values::Int(values),
    }
    .permuted(&[2, 1, 0])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A .npy file of version `major` with the given header dict and data.
    fn npy(major: u8, dict: &str, data: &[u8]) -> Vec<u8> {
        let mut h = dict.as_bytes().to_vec();
        let pre = if major == 1 { 10 } else { 12 };
        while (pre + h.len() + 1) % 64 != 0 {
            h.push(b' ');
        }
        h.push(b'\n');
        let mut out = b"\x93NUMPY".to_vec();
        out.push(major);
        out.push(0);
        if major == 1 {
            out.extend_from_slice(&(h.len() as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&(h.len() as u32).to_le_bytes());
        }
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out
    }

    fn ints(a: &Array) -> Vec<i32> {
        match &a.values {
            Values::Int(v) => v.clone(),
            Values::Real(v) => panic!("expected integers, got {v:?}"),
        }
    }

    fn reals(a: &Array) -> Vec<f64> {
        match &a.values {
            Values::Real(v) => v.clone(),
            Values::Int(v) => panic!("expected doubles, got {v:?}"),
        }
    }

    #[test]
    fn c_order_u2_is_transposed_to_column_major() {
        // 2 rows x 3 columns, C order: [[1, 2, 3], [4, 5, 6]].
        let data: Vec<u8> = [1u16, 2, 3, 4, 5, 6]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let f = npy(
            1,
            "{'descr': '<u2', 'fortran_order': False, 'shape': (2, 3), }",
            &data,
        );
        let a = decode_npy(&f).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        // Column-major: a[0,0], a[1,0], a[0,1], a[1,1], ...
        assert_eq!(ints(&a), vec![1, 4, 2, 5, 3, 6]);
    }

    #[test]
    fn fortran_order_is_kept() {
        let data: Vec<u8> = [1i16, -4, 2, 5, 3, -6]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let f = npy(
            1,
            "{'descr': '<i2', 'fortran_order': True, 'shape': (2, 3), }",
            &data,
        );
        let a = decode_npy(&f).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(ints(&a), vec![1, -4, 2, 5, 3, -6]);
    }

    #[test]
    fn four_dimensions_like_orthanc() {
        // (frames=2, rows=2, cols=3, channels=1), value = 100*f + 10*r + c.
        let mut vals = vec![];
        for f in 0..2u8 {
            for r in 0..2u8 {
                for c in 0..3u8 {
                    vals.push(100 * f + 10 * r + c);
                }
            }
        }
        let f = npy(
            1,
            "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2,3,1), }",
            &vals,
        );
        let a = decode_npy(&f).unwrap();
        assert_eq!(a.shape, vec![2, 2, 3, 1]);
        // To (rows, cols, frames, channels).
        let p = a.permuted(&[1, 2, 0, 3]).unwrap();
        assert_eq!(p.shape, vec![2, 3, 2, 1]);
        let v = ints(&p);
        let at = |r: usize, c: usize, f: usize| v[r + 2 * c + 6 * f];
        for f in 0..2 {
            for r in 0..2 {
                for c in 0..3 {
                    assert_eq!(at(r, c, f), (100 * f + 10 * r + c) as i32);
                }
            }
        }
    }

    #[test]
    fn dtypes() {
        let f = npy(
            1,
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
            &[1.5f32.to_le_bytes(), (-2.25f32).to_le_bytes()].concat(),
        );
        assert_eq!(reals(&decode_npy(&f).unwrap()), vec![1.5, -2.25]);
        let f = npy(
            1,
            "{'descr': '>f8', 'fortran_order': False, 'shape': (1,), }",
            &0.1f64.to_be_bytes(),
        );
        assert_eq!(reals(&decode_npy(&f).unwrap()), vec![0.1]);
        let f = npy(
            1,
            "{'descr': '>u2', 'fortran_order': False, 'shape': (2,), }",
            &[0x01, 0x02, 0xff, 0xff],
        );
        assert_eq!(ints(&decode_npy(&f).unwrap()), vec![258, 65535]);
        let f = npy(
            1,
            "{'descr': '<u4', 'fortran_order': False, 'shape': (1,), }",
            &u32::MAX.to_le_bytes(),
        );
        assert_eq!(reals(&decode_npy(&f).unwrap()), vec![u32::MAX as f64]);
        let f = npy(
            1,
            "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }",
            &[(-7i32).to_le_bytes(), 70000i32.to_le_bytes()].concat(),
        );
        assert_eq!(ints(&decode_npy(&f).unwrap()), vec![-7, 70000]);
        // i32::MIN is R's NA: doubles then.
        let f = npy(
            1,
            "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }",
            &i32::MIN.to_le_bytes(),
        );
        assert_eq!(reals(&decode_npy(&f).unwrap()), vec![i32::MIN as f64]);
        let f = npy(
            1,
            "{'descr': '|i1', 'fortran_order': False, 'shape': (2,), }",
            &[0xff, 0x7f],
        );
        assert_eq!(ints(&decode_npy(&f).unwrap()), vec![-1, 127]);
        let f = npy(
            1,
            "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }",
            &[0, 1, 2],
        );
        assert_eq!(ints(&decode_npy(&f).unwrap()), vec![0, 1, 1]);
        let f = npy(
            1,
            "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }",
            &(-3i64).to_le_bytes(),
        );
        assert_eq!(reals(&decode_npy(&f).unwrap()), vec![-3.0]);
    }

    #[test]
    fn versions_2_and_3_and_key_order() {
        for major in [2u8, 3] {
            let f = npy(
                major,
                "{\"shape\": (1,1), \"fortran_order\": False, \"descr\": \"<u2\"}",
                &[7, 0],
            );
            let a = decode_npy(&f).unwrap();
            assert_eq!(a.shape, vec![1, 1]);
            assert_eq!(ints(&a), vec![7]);
        }
    }

    #[test]
    fn scalars_and_empty_shapes() {
        let f = npy(
            1,
            "{'descr': '|u1', 'fortran_order': False, 'shape': (), }",
            &[9],
        );
        let a = decode_npy(&f).unwrap();
        assert!(a.shape.is_empty());
        assert_eq!(ints(&a), vec![9]);
        let f = npy(
            1,
            "{'descr': '|u1', 'fortran_order': False, 'shape': (0, 3), }",
            &[],
        );
        let a = decode_npy(&f).unwrap();
        assert_eq!(a.shape, vec![0, 3]);
        assert!(a.values.is_empty());
    }

    #[test]
    fn bad_files_are_errors() {
        let good = npy(
            1,
            "{'descr': '<u2', 'fortran_order': False, 'shape': (2, 3), }",
            &[0u8; 12],
        );
        assert!(decode_npy(&good).is_ok());
        // Every truncation is an error, never a panic.
        for n in 0..good.len() {
            assert!(decode_npy(&good[..n]).is_err(), "prefix of {n} bytes");
        }
        let e = |b: &[u8]| decode_npy(b).unwrap_err().0;
        assert!(e(b"").contains("magic"));
        assert!(e(b"PK\x03\x04").contains("npz"));
        assert!(e(b"\x93NUMPY\x09\x00\x00\x00").contains("version 9"));
        // Header length beyond the file.
        assert!(e(b"\x93NUMPY\x01\x00\xff\x00{}").contains("truncated"));
        assert!(e(b"\x93NUMPY\x02\x00\xff\xff\xff\xff{}").contains("truncated"));
        let bad = |dict: &str| e(&npy(1, dict, &[0u8; 64]));
        assert!(
            bad("{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }")
                .contains("unsupported dtype")
        );
        assert!(
            bad("{'descr': '<u3', 'fortran_order': False, 'shape': (1,), }")
                .contains("unsupported dtype")
        );
        assert!(
            bad("{'descr': '<f2', 'fortran_order': False, 'shape': (1,), }")
                .contains("unsupported dtype")
        );
        assert!(
            bad("{'descr': [('a', '<u2')], 'fortran_order': False, 'shape': (1,), }")
                .contains("structured")
        );
        assert!(bad("{'descr': '<u2', 'shape': (1,), }").contains("missing"));
        assert!(
            bad("{'descr': '<u2', 'fortran_order': Maybe, 'shape': (1,), }").contains("malformed")
        );
        assert!(
            bad("{'descr': '<u2', 'fortran_order': False, 'shape': (1,x), }").contains("malformed")
        );
        assert!(
            bad("{'descr': '<u2', 'fortran_order': False, 'shape': (1, 2").contains("malformed")
        );
        assert!(bad("{'descr: '<u2'").contains("malformed"));
        assert!(
            bad("{'descr': '<u2', 'fortran_order': False, 'shape': 'x', }").contains("bad value")
        );
        // A shape whose size overflows.
        assert!(bad(&format!(
            "{{'descr': '<u2', 'fortran_order': False, 'shape': ({}, {}), }}",
            usize::MAX,
            usize::MAX
        ))
        .contains("too large"));
        // Not enough data for the shape.
        assert!(
            bad("{'descr': '<u2', 'fortran_order': False, 'shape': (100,), }")
                .contains("truncated")
        );
    }

    #[test]
    fn permutation_checks() {
        let a = Array {
            shape: vec![2, 2],
            values: Values::Int(vec![1, 2, 3, 4]),
        };
        assert!(a.permuted(&[0]).is_err());
        assert!(a.permuted(&[0, 0]).is_err());
        assert!(a.permuted(&[0, 2]).is_err());
        assert_eq!(ints(&a.permuted(&[1, 0]).unwrap()), vec![1, 3, 2, 4]);
    }

    fn pam(w: usize, h: usize, d: usize, maxval: usize, data: &[u8]) -> Vec<u8> {
        let mut out = format!(
            "P7\nWIDTH {w}\nHEIGHT {h}\nDEPTH {d}\nMAXVAL {maxval}\nTUPLTYPE GRAYSCALE\nENDHDR\n"
        )
        .into_bytes();
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn pam_16_bit_rows_and_columns() {
        // 2 rows x 3 columns, row-major, big-endian.
        let data: Vec<u8> = [1u16, 2, 3, 4, 5, 65535]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        let a = decode_pam(&pam(3, 2, 1, 65535, &data), false).unwrap();
        assert_eq!(a.shape, vec![2, 3, 1]);
        assert_eq!(ints(&a), vec![1, 4, 2, 5, 3, 65535]);
        let a = decode_pam(&pam(3, 2, 1, 65535, &data), true).unwrap();
        assert_eq!(ints(&a), vec![1, 4, 2, 5, 3, -1]);
    }

    #[test]
    fn pam_8_bit_rgb() {
        // 1 row x 2 columns x RGB.
        let a = decode_pam(&pam(2, 1, 3, 255, &[1, 2, 3, 4, 5, 6]), false).unwrap();
        assert_eq!(a.shape, vec![1, 2, 3]);
        // a[0, c, k]: column-major (r fastest, then c, then k).
        assert_eq!(ints(&a), vec![1, 4, 2, 5, 3, 6]);
    }

    #[test]
    fn bad_pam_is_an_error() {
        let good = pam(2, 2, 1, 255, &[1, 2, 3, 4]);
        assert!(decode_pam(&good, false).is_ok());
        for n in 0..good.len() {
            assert!(
                decode_pam(&good[..n], false).is_err(),
                "prefix of {n} bytes"
            );
        }
        assert!(decode_pam(b"P5\n", false).is_err());
        assert!(decode_pam(b"P7\nWIDTH x\nENDHDR\n", false).is_err());
        assert!(decode_pam(b"P7\nWIDTH 1\nHEIGHT 1\nENDHDR\n", false).is_err());
        assert!(decode_pam(&pam(1, 1, 1, 0, &[0]), false).is_err());
        assert!(decode_pam(&pam(1, 1, 1, 70000, &[0, 0]), false).is_err());
        assert!(decode_pam(&pam(usize::MAX, 2, 1, 255, &[0]), false).is_err());
    }
}
