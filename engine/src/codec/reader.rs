//! Parsing cursor over a borrowed slice, built on nom 8's complete-input
//! parsers. Every failure maps to `decode_error`; range checks on
//! variable-length vectors also map to `decode_error` (RFC 5246 §7.2.2:
//! "some field was out of the specified range or the length of the message
//! was incorrect").

use nom::bytes::complete::take;
use nom::multi::length_data;
use nom::number::complete::{be_u16, be_u24, be_u32, be_u8};
use nom::Parser;

use super::alert::AlertDescription;

type NomError<'a> = nom::error::Error<&'a [u8]>;

const DECODE: AlertDescription = AlertDescription::DecodeError;

/// A cursor over attacker-controlled bytes. Never panics, never allocates.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    fn run<T>(
        &mut self,
        mut p: impl Parser<&'a [u8], Output = T, Error = NomError<'a>>,
    ) -> Result<T, AlertDescription> {
        match p.parse_complete(self.rest) {
            Ok((rest, v)) => {
                self.rest = rest;
                Ok(v)
            }
            Err(_) => Err(DECODE),
        }
    }

    pub(crate) fn u8(&mut self) -> Result<u8, AlertDescription> {
        self.run(be_u8)
    }

    pub(crate) fn u16(&mut self) -> Result<u16, AlertDescription> {
        self.run(be_u16)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, AlertDescription> {
        self.run(be_u32)
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], AlertDescription> {
        self.run(take(n))
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<&'a [u8; N], AlertDescription> {
        let s = self.take(N)?;
        <&[u8; N]>::try_from(s).map_err(|_| DECODE)
    }

    /// `opaque x<min..max>` with a 1-byte length.
    pub(crate) fn vec_u8(&mut self, min: usize, max: usize) -> Result<&'a [u8], AlertDescription> {
        let d = self.run(length_data(be_u8))?;
        in_range(d, min, max)
    }

    /// `opaque x<min..max>` with a 2-byte length.
    pub(crate) fn vec_u16(&mut self, min: usize, max: usize) -> Result<&'a [u8], AlertDescription> {
        let d = self.run(length_data(be_u16))?;
        in_range(d, min, max)
    }

    /// `opaque x<min..max>` with a 3-byte length.
    pub(crate) fn vec_u24(&mut self, min: usize, max: usize) -> Result<&'a [u8], AlertDescription> {
        let d = self.run(length_data(be_u24))?;
        in_range(d, min, max)
    }

    /// Number of bytes not yet consumed.
    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Succeeds only if every byte was consumed (trailing bytes → decode_error).
    pub(crate) fn finish(&self) -> Result<(), AlertDescription> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DECODE)
        }
    }
}

fn in_range(d: &[u8], min: usize, max: usize) -> Result<&[u8], AlertDescription> {
    if d.len() < min || d.len() > max {
        Err(DECODE)
    } else {
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_bounds() {
        let mut r = Reader::new(&[1, 0, 2, 0, 0, 3, 0, 0, 0, 4, 2, 9, 9]);
        assert_eq!(r.u8(), Ok(1));
        assert_eq!(r.u16(), Ok(2));
        assert_eq!(r.take(3), Ok(&[0, 0, 3][..]));
        assert_eq!(r.u32(), Ok(4));
        assert_eq!(r.vec_u8(1, 2), Ok(&[9, 9][..]));
        assert!(r.finish().is_ok());
        assert_eq!(r.u8(), Err(DECODE));

        assert_eq!(Reader::new(&[3, 1, 2]).vec_u8(0, 255), Err(DECODE));
        assert_eq!(Reader::new(&[0]).vec_u8(1, 255), Err(DECODE));
        assert_eq!(Reader::new(&[0, 3, 1, 2, 3]).vec_u16(0, 2), Err(DECODE));
        assert_eq!(Reader::new(&[0, 0, 1, 7]).vec_u24(1, 1), Ok(&[7][..]));
        assert_eq!(
            Reader::new(&[0xff, 0xff, 0xff]).vec_u24(0, usize::MAX),
            Err(DECODE)
        );
        assert_eq!(Reader::new(&[1, 2]).array::<3>(), Err(DECODE));
        assert_eq!(Reader::new(&[1, 2, 3]).array::<3>(), Ok(&[1, 2, 3]));
        assert_eq!(Reader::new(&[1]).finish(), Err(DECODE));
    }
}
