//! Encoding helpers: big-endian integers and length-prefixed vectors with
//! back-patched lengths.
//!
//! Policy: encoders never truncate. Every variable-length field is checked
//! against the range its wire type allows (both the prefix capacity and the
//! RFC's minimum/maximum); a violation yields [`EncodeError`] and the output
//! buffer is restored to the length it had before the failing call, so no
//! half-written structure is left behind.

use core::fmt;

/// An encoder was given a value that cannot be represented on the wire
/// (a vector longer or shorter than its RFC range, or an integer too wide for
/// its field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EncodeError {
    field: &'static str,
}

impl EncodeError {
    /// Creates an error naming the offending field.
    pub const fn new(field: &'static str) -> Self {
        Self { field }
    }

    /// Name of the field whose value was out of range.
    pub const fn field(&self) -> &'static str {
        self.field
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "value of `{}` out of its wire range", self.field)
    }
}

impl std::error::Error for EncodeError {}

/// Largest value of a 24-bit length.
pub const U24_MAX: usize = 0xff_ffff;

/// Appends one byte.
pub fn put_u8(out: &mut Vec<u8>, v: u8) {
    out.push(v);
}

/// Appends a big-endian u16.
pub fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Appends a big-endian 24-bit integer. Fails (writing nothing) if
/// `v > 0xff_ffff`.
pub fn put_u24(out: &mut Vec<u8>, v: u32) -> Result<(), EncodeError> {
    if v as usize > U24_MAX {
        return Err(EncodeError::new("u24"));
    }
    let [_, a, b, c] = v.to_be_bytes();
    out.extend_from_slice(&[a, b, c]);
    Ok(())
}

/// Appends a big-endian u32.
pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Writes a `width`-byte length prefix, runs `f` to append the body, then
/// back-patches the prefix. The body length must lie in `min..=max`
/// (`max` is clamped to what `width` bytes can express). On any failure the
/// buffer is truncated back to its original length.
fn with_len(
    out: &mut Vec<u8>,
    width: usize,
    min: usize,
    max: usize,
    field: &'static str,
    f: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let start = out.len();
    let capacity = match width {
        1 => 0xff,
        2 => 0xffff,
        _ => U24_MAX,
    };
    let max = max.min(capacity);
    out.resize(start.saturating_add(width), 0);
    let result = f(out).and_then(|()| {
        let body_len = out
            .len()
            .checked_sub(start.saturating_add(width))
            .ok_or(EncodeError::new(field))?;
        if body_len < min || body_len > max {
            return Err(EncodeError::new(field));
        }
        let be = (body_len as u32).to_be_bytes();
        let src = be.get(4 - width..).ok_or(EncodeError::new(field))?;
        let dst = out
            .get_mut(start..start.saturating_add(width))
            .ok_or(EncodeError::new(field))?;
        dst.copy_from_slice(src);
        Ok(())
    });
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Appends a body with a 1-byte length prefix (any length 0..=255).
pub fn with_u8_len(
    out: &mut Vec<u8>,
    f: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    with_len(out, 1, 0, 0xff, "u8-prefixed vector", f)
}

/// Appends a body with a 2-byte length prefix (any length 0..=65535).
pub fn with_u16_len(
    out: &mut Vec<u8>,
    f: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    with_len(out, 2, 0, 0xffff, "u16-prefixed vector", f)
}

/// Appends a body with a 3-byte length prefix (any length 0..=2^24-1).
pub fn with_u24_len(
    out: &mut Vec<u8>,
    f: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    with_len(out, 3, 0, U24_MAX, "u24-prefixed vector", f)
}

/// Like [`with_u8_len`] but with an RFC range `min..=max` for the body length.
pub(crate) fn with_u8_len_in(
    out: &mut Vec<u8>,
    min: usize,
    max: usize,
    field: &'static str,
    f: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    with_len(out, 1, min, max, field, f)
}

/// Like [`with_u16_len`] but with an RFC range `min..=max` for the body length.
pub(crate) fn with_u16_len_in(
    out: &mut Vec<u8>,
    min: usize,
    max: usize,
    field: &'static str,
    f: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    with_len(out, 2, min, max, field, f)
}

/// Like [`with_u24_len`] but with an RFC range `min..=max` for the body length.
pub(crate) fn with_u24_len_in(
    out: &mut Vec<u8>,
    min: usize,
    max: usize,
    field: &'static str,
    f: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    with_len(out, 3, min, max, field, f)
}

/// `opaque data<min..max>` with a 1-byte prefix.
pub(crate) fn put_vec_u8(
    out: &mut Vec<u8>,
    data: &[u8],
    min: usize,
    max: usize,
    field: &'static str,
) -> Result<(), EncodeError> {
    with_u8_len_in(out, min, max, field, |o| {
        o.extend_from_slice(data);
        Ok(())
    })
}

/// `opaque data<min..max>` with a 2-byte prefix.
pub(crate) fn put_vec_u16(
    out: &mut Vec<u8>,
    data: &[u8],
    min: usize,
    max: usize,
    field: &'static str,
) -> Result<(), EncodeError> {
    with_u16_len_in(out, min, max, field, |o| {
        o.extend_from_slice(data);
        Ok(())
    })
}

/// `opaque data<min..max>` with a 3-byte prefix.
pub(crate) fn put_vec_u24(
    out: &mut Vec<u8>,
    data: &[u8],
    min: usize,
    max: usize,
    field: &'static str,
) -> Result<(), EncodeError> {
    with_u24_len_in(out, min, max, field, |o| {
        o.extend_from_slice(data);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers() {
        let mut v = Vec::new();
        put_u8(&mut v, 1);
        put_u16(&mut v, 0x0203);
        put_u24(&mut v, 0x040506).unwrap();
        put_u32(&mut v, 0x0708090a);
        assert_eq!(v, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert!(put_u24(&mut v, 0x0100_0000).is_err());
        assert_eq!(v.len(), 10);
    }

    #[test]
    fn back_patching_and_nesting() {
        let mut v = vec![0xaa];
        with_u16_len(&mut v, |o| {
            put_u8(o, 9);
            with_u8_len(o, |o| {
                o.extend_from_slice(b"abc");
                Ok(())
            })
        })
        .unwrap();
        assert_eq!(v, [0xaa, 0, 5, 9, 3, b'a', b'b', b'c']);
        let mut v = Vec::new();
        with_u24_len(&mut v, |o| {
            o.extend_from_slice(&[7; 0x101]);
            Ok(())
        })
        .unwrap();
        assert_eq!(v.get(..4), Some(&[0, 1, 1, 7][..]));
    }

    #[test]
    fn overflow_is_an_error_and_rolls_back() {
        let mut v = vec![1, 2];
        let r = with_u8_len(&mut v, |o| {
            o.extend_from_slice(&[0; 256]);
            Ok(())
        });
        assert!(r.is_err());
        assert_eq!(v, [1, 2]);
        let r = with_u16_len(&mut v, |o| {
            o.extend_from_slice(&[0; 65536]);
            Ok(())
        });
        assert!(r.is_err());
        assert_eq!(v, [1, 2]);
        assert!(put_vec_u8(&mut v, b"", 1, 255, "x").is_err());
        assert_eq!(v, [1, 2]);
        // Inner failure propagates and rolls back the outer prefix too.
        let r = with_u16_len(&mut v, |o| put_vec_u8(o, &[0; 300], 0, 255, "inner"));
        assert_eq!(r, Err(EncodeError::new("inner")));
        assert_eq!(v, [1, 2]);
        // A closure that shrinks the buffer below the prefix is caught.
        let r = with_u16_len(&mut v, |o| {
            o.clear();
            Ok(())
        });
        assert!(r.is_err());
    }
}
