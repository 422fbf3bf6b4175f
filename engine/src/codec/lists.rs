//! Borrowed, validated list views used by several messages.

use core::fmt;

use super::alert::AlertDescription;
use super::reader::Reader;
use super::writer::{put_u16, EncodeError};

/// A list of big-endian `u16` values (cipher suites, named groups,
/// signature schemes).
///
/// Two representations share one type:
/// - *wire*: a borrowed, even-length slice exactly as received (what every
///   parser produces; [`U16List::from_wire`]);
/// - *values*: a borrowed `&[u16]` (what a client uses to build a hello;
///   [`U16List::from_values`]).
///
/// Equality compares the sequence of values, whatever the representation.
#[derive(Clone, Copy)]
pub struct U16List<'a>(U16Repr<'a>);

#[derive(Clone, Copy)]
enum U16Repr<'a> {
    Wire(&'a [u8]),
    Values(&'a [u16]),
}

impl<'a> U16List<'a> {
    /// Wraps raw wire bytes (without the length prefix). `None` if the length
    /// is odd.
    pub fn from_wire(bytes: &'a [u8]) -> Option<Self> {
        if bytes.len() % 2 == 0 {
            Some(Self(U16Repr::Wire(bytes)))
        } else {
            None
        }
    }

    /// Wraps a slice of values, for encoding.
    pub const fn from_values(values: &'a [u16]) -> Self {
        Self(U16Repr::Values(values))
    }

    /// The values in order.
    pub fn iter(&self) -> impl Iterator<Item = u16> + 'a {
        let (wire, values): (&'a [u8], &'a [u16]) = match self.0 {
            U16Repr::Wire(w) => (w, &[]),
            U16Repr::Values(v) => (&[], v),
        };
        wire.chunks_exact(2)
            .map(|c| match c {
                [a, b] => u16::from_be_bytes([*a, *b]),
                _ => 0, // unreachable: chunks_exact(2)
            })
            .chain(values.iter().copied())
    }

    /// Whether `v` is in the list.
    pub fn contains(&self, v: u16) -> bool {
        self.iter().any(|x| x == v)
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        match self.0 {
            U16Repr::Wire(w) => w.len() / 2,
            U16Repr::Values(v) => v.len(),
        }
    }

    /// Whether the list has no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads `T list<min..max>` of u16 with a u16 byte-length prefix; odd
    /// length or out-of-range length → `decode_error`.
    pub(crate) fn read_u16_prefixed(
        r: &mut Reader<'a>,
        min: usize,
        max: usize,
    ) -> Result<Self, AlertDescription> {
        Self::from_wire(r.vec_u16(min, max)?).ok_or(AlertDescription::DecodeError)
    }

    /// Same with a u8 byte-length prefix.
    pub(crate) fn read_u8_prefixed(
        r: &mut Reader<'a>,
        min: usize,
        max: usize,
    ) -> Result<Self, AlertDescription> {
        Self::from_wire(r.vec_u8(min, max)?).ok_or(AlertDescription::DecodeError)
    }

    /// Appends the values (no prefix).
    pub(crate) fn write_values(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self.0 {
            U16Repr::Wire(w) => out.extend_from_slice(w),
            U16Repr::Values(v) => v.iter().for_each(|x| put_u16(out, *x)),
        }
        Ok(())
    }
}

impl PartialEq for U16List<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for U16List<'_> {}

impl fmt::Debug for U16List<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|v| format!("{v:#06x}")))
            .finish()
    }
}

/// Iterator over length-prefixed items of an already validated raw list.
#[derive(Clone, Debug)]
pub(crate) struct Items<'a> {
    r: Reader<'a>,
    width: u8,
}

impl<'a> Items<'a> {
    pub(crate) fn new(raw: &'a [u8], width: u8) -> Self {
        Self {
            r: Reader::new(raw),
            width,
        }
    }
}

impl<'a> Iterator for Items<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let item = match self.width {
            1 => self.r.vec_u8(0, usize::MAX),
            2 => self.r.vec_u16(0, usize::MAX),
            _ => self.r.vec_u24(0, usize::MAX),
        };
        item.ok()
    }
}

/// Checks that `raw` is a sequence of `width`-byte-prefixed items, each of
/// length `min_item..=max_item`; returns the count. Any framing error →
/// `decode_error`.
pub(crate) fn validate_items(
    raw: &[u8],
    width: u8,
    min_item: usize,
    max_item: usize,
) -> Result<usize, AlertDescription> {
    let mut r = Reader::new(raw);
    let mut count = 0usize;
    while !r.is_empty() {
        match width {
            1 => r.vec_u8(min_item, max_item)?,
            2 => r.vec_u16(min_item, max_item)?,
            _ => r.vec_u24(min_item, max_item)?,
        };
        count = count.saturating_add(1);
    }
    Ok(count)
}

/// ALPN `ProtocolNameList` (RFC 7301 §3.1):
/// `opaque ProtocolName<1..2^8-1>; ProtocolName protocol_name_list<2..2^16-1>`.
///
/// Like [`U16List`] it is either a validated wire slice (from parsing) or a
/// borrowed list of names (for encoding, [`ProtocolNameList::from_names`]).
/// Either way it is non-empty and every name is 1..=255 bytes.
#[derive(Clone, Copy)]
pub struct ProtocolNameList<'a>(NamesRepr<'a>);

#[derive(Clone, Copy)]
enum NamesRepr<'a> {
    /// Contents of the list (without its u16 prefix), already validated.
    Wire(&'a [u8]),
    Names(&'a [&'a [u8]]),
}

impl<'a> ProtocolNameList<'a> {
    /// Validates wire bytes (without the u16 prefix): non-empty, each name
    /// 1..=255 bytes and u8-prefixed, total at most 65535 bytes.
    /// Violations → `decode_error`.
    pub fn from_wire(bytes: &'a [u8]) -> Result<Self, AlertDescription> {
        if bytes.len() < 2 || bytes.len() > 0xffff {
            return Err(AlertDescription::DecodeError);
        }
        validate_items(bytes, 1, 1, 0xff)?;
        Ok(Self(NamesRepr::Wire(bytes)))
    }

    /// Wraps names for encoding. `None` if the list is empty, a name is empty
    /// or longer than 255 bytes, or the encoded list would exceed 65535 bytes.
    pub fn from_names(names: &'a [&'a [u8]]) -> Option<Self> {
        if names.is_empty() {
            return None;
        }
        let mut total = 0usize;
        for n in names {
            if n.is_empty() || n.len() > 0xff {
                return None;
            }
            total = total.saturating_add(1 + n.len());
        }
        if total > 0xffff {
            return None;
        }
        Some(Self(NamesRepr::Names(names)))
    }

    /// The protocol names in order.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let (wire, names): (&'a [u8], &'a [&'a [u8]]) = match self.0 {
            NamesRepr::Wire(w) => (w, &[]),
            NamesRepr::Names(n) => (&[], n),
        };
        Items::new(wire, 1).chain(names.iter().copied())
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        match self.0 {
            NamesRepr::Wire(_) => self.iter().count(),
            NamesRepr::Names(n) => n.len(),
        }
    }

    /// Always false for a validated list; provided for API symmetry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `name` is offered.
    pub fn contains(&self, name: &[u8]) -> bool {
        self.iter().any(|n| n == name)
    }

    /// Appends the list contents (without the u16 prefix).
    pub(crate) fn write_names(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self.0 {
            NamesRepr::Wire(w) => out.extend_from_slice(w),
            NamesRepr::Names(names) => {
                for n in names {
                    super::writer::put_vec_u8(out, n, 1, 0xff, "ProtocolName")?;
                }
            }
        }
        Ok(())
    }
}

impl PartialEq for ProtocolNameList<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for ProtocolNameList<'_> {}

impl fmt::Debug for ProtocolNameList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u16_list_views() {
        let w = U16List::from_wire(&[0xc0, 0x2f, 0x00, 0x9c]).unwrap();
        assert_eq!(w.len(), 2);
        assert!(w.contains(0xc02f));
        assert!(!w.contains(0x2f00));
        assert_eq!(w.iter().collect::<Vec<_>>(), [0xc02f, 0x009c]);
        assert_eq!(w, U16List::from_values(&[0xc02f, 0x009c]));
        assert_ne!(w, U16List::from_values(&[0xc02f]));
        assert!(U16List::from_wire(&[1, 2, 3]).is_none());
        let mut out = Vec::new();
        U16List::from_values(&[0x0102, 0x0304])
            .write_values(&mut out)
            .unwrap();
        assert_eq!(out, [1, 2, 3, 4]);
        assert_eq!(format!("{w:?}"), "[\"0xc02f\", \"0x009c\"]");
    }

    #[test]
    fn protocol_names() {
        let l = ProtocolNameList::from_wire(b"\x02h2\x08http/1.1").unwrap();
        assert_eq!(l.iter().collect::<Vec<_>>(), [&b"h2"[..], b"http/1.1"]);
        assert_eq!(l.len(), 2);
        assert!(l.contains(b"h2"));
        let names: [&[u8]; 2] = [b"h2", b"http/1.1"];
        assert_eq!(l, ProtocolNameList::from_names(&names).unwrap());
        for bad in [&b""[..], b"\x00", b"\x00\x02h2", b"\x03h2", b"\x02h2\x00"] {
            assert_eq!(
                ProtocolNameList::from_wire(bad),
                Err(AlertDescription::DecodeError),
                "{bad:?}"
            );
        }
        assert!(ProtocolNameList::from_names(&[]).is_none());
        assert!(ProtocolNameList::from_names(&[b""]).is_none());
        let long = [0u8; 256];
        assert!(ProtocolNameList::from_names(&[&long[..]]).is_none());
    }
}
