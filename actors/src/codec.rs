//! The one place that turns stored values into bytes and back.
//!
//! Every value starts with a format-version byte, then bincode 2.0.1 (serde, standard
//! config: little-endian varints). bincode is not self-describing: adding, removing or
//! reordering a field changes the format, so such a change must bump `FORMAT_VERSION`
//! and add a migration from the old version here. The golden-bytes tests below fail when
//! the format changes by accident. Types stored through this codec must not use the serde
//! attributes bincode cannot honour (`flatten`, `tag`, `untagged`, `skip_serializing_if`).

use serde::{de::DeserializeOwned, Serialize};

/// The current snapshot format.
pub const FORMAT_VERSION: u8 = 1;

/// Decoding refuses to allocate more than this, so a corrupt length prefix cannot OOM us.
const DECODE_LIMIT: usize = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("empty value")]
    Empty,
    #[error("unknown format version {0} (this build reads version {FORMAT_VERSION})")]
    UnknownVersion(u8),
    #[error("encode failed: {0}")]
    Encode(#[from] bincode::error::EncodeError),
    #[error("decode failed: {0}")]
    Decode(#[from] bincode::error::DecodeError),
    #[error("{0} trailing bytes after value")]
    Trailing(usize),
}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(128);
    out.push(FORMAT_VERSION);
    bincode::serde::encode_into_std_write(value, &mut out, config())?;
    Ok(out)
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (&version, body) = bytes.split_first().ok_or(CodecError::Empty)?;
    if version != FORMAT_VERSION {
        return Err(CodecError::UnknownVersion(version));
    }
    let cfg = config().with_limit::<DECODE_LIMIT>();
    let (value, used) = bincode::serde::decode_from_slice(body, cfg)?;
    if used != body.len() {
        return Err(CodecError::Trailing(body.len() - used));
    }
    Ok(value)
}
