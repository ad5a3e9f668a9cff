//! The transport of the `orthanc` R package, with no R in it: one pooled HTTP client per
//! `Orthanc` object (`http`), one tokio runtime per process (`runtime`), many requests at
//! once with a bound on how many are in flight (`batch`), the `multipart/related` bodies of
//! DICOMweb (`multipart`), and the decoding of pixel data
//! that Orthanc answers as `.npy` or PAM (`npy`). `cargo test -p orthanc-core` runs on a
//! machine without R.
#![warn(clippy::undocumented_unsafe_blocks, unsafe_op_in_unsafe_fn)]

pub mod background;
pub mod batch;
pub mod dicom_ids;
pub mod http;
pub mod multipart;
pub mod npy;
pub mod runtime;
#[cfg(test)]
mod test_server;

pub use http::{Body, Client, Config, Error, Request, Response};
