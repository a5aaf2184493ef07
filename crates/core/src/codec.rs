//! Panic-free big-endian reading of untrusted bytes, and the matching writers.

/// Why a read stopped: the buffer is too short (and how long it must be), or the bytes are invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// At least this many bytes (counted from the start of the reader's buffer) are needed.
    Short(usize),
    /// The bytes can never form a valid element.
    Invalid(crate::Error),
}

impl From<crate::Error> for ReadError {
    fn from(e: crate::Error) -> Self {
        ReadError::Invalid(e)
    }
}

pub(crate) type ReadResult<T> = Result<T, ReadError>;

/// A cursor over a byte slice. Every read is bounds-checked and never panics.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn take(&mut self, n: usize) -> ReadResult<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(ReadError::Invalid(crate::Error::Malformed(
                "length overflows the address space",
            )))?;
        match self.buf.get(self.pos..end) {
            Some(s) => {
                self.pos = end;
                Ok(s)
            }
            None => Err(ReadError::Short(end)),
        }
    }

    pub(crate) fn array<const N: usize>(&mut self) -> ReadResult<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> ReadResult<u8> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> ReadResult<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> ReadResult<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> ReadResult<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Reads a `u16` length and then that many bytes.
    pub(crate) fn u16_prefixed(&mut self) -> ReadResult<&'a [u8]> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }
}

/// Appends a `u16` length prefix and the bytes; the caller has checked the length fits.
pub(crate) fn put_u16_prefixed(out: &mut Vec<u8>, bytes: &[u8]) -> crate::Result<()> {
    let len = u16::try_from(bytes.len())
        .map_err(|_| crate::Error::InvalidArgument("a field is longer than 65535 bytes"))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_reads_report_the_length_needed() {
        let mut r = Reader::new(&[0, 5, 1, 2]);
        assert_eq!(r.u16_prefixed(), Err(ReadError::Short(7)));
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u32(), Err(ReadError::Short(4)));
        assert_eq!(r.u16(), Ok(0x0102));
        assert_eq!(r.remaining(), 1);
    }
}
