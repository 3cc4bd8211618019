//! Bencode primitives over a borrowed datagram: checked strings and integers, and an iterative
//! skipper for values the codec does not read. Nothing here allocates or recurses.

use super::error::DecodeError;

/// Deepest nesting of lists and dictionaries accepted anywhere in a message (the top-level
/// dictionary is depth 1). KRPC needs 3; the slack is for extensions under unknown keys.
pub const MAX_DEPTH: usize = 32;

/// A cursor over a datagram: `rest` is the unread tail of `buf`.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, rest: buf }
    }

    /// The byte under the cursor.
    #[inline]
    pub(crate) fn peek(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Moves past the byte under the cursor (callers have peeked it).
    #[inline]
    pub(crate) fn bump(&mut self) {
        self.advance(1);
    }

    /// The cursor's offset.
    pub(crate) fn position(&self) -> usize {
        self.buf.len() - self.rest.len()
    }

    /// Moves `n` bytes on (at most to the end).
    #[inline(always)]
    fn advance(&mut self, n: usize) {
        self.rest = self.rest.get(n..).unwrap_or_default();
    }

    /// The bytes from `start` (an earlier [`position`](Self::position)) to the cursor.
    pub(crate) fn since(&self, start: usize) -> &'a [u8] {
        self.buf.get(start..self.position()).unwrap_or_default()
    }

    /// `true` when the whole datagram has been read.
    pub(crate) fn at_end(&self) -> bool {
        self.rest.is_empty()
    }

    /// Consumes the `e` that closes a container, or reports that another item follows.
    #[inline]
    pub(crate) fn close(&mut self) -> Result<bool, DecodeError> {
        match self.peek() {
            Some(b'e') => {
                self.advance(1);
                Ok(true)
            }
            Some(_) => Ok(false),
            None => Err(DecodeError::Truncated),
        }
    }

    /// Reads a byte string (`<len>:<bytes>`). The length must be canonical (no leading zeros)
    /// and fit in the datagram.
    #[inline(always)]
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let rest = self.rest;
        // Keys, ids, tokens and peers have one- or two-digit lengths.
        let (len, header) = match *rest {
            [d @ b'0'..=b'9', b':', ..] => (usize::from(d - b'0'), 2),
            [h @ b'1'..=b'9', l @ b'0'..=b'9', b':', ..] => {
                (usize::from(h - b'0') * 10 + usize::from(l - b'0'), 3)
            }
            // `nodes` (208 bytes for 8 nodes) and `values` bodies.
            [h @ b'1'..=b'9', m @ b'0'..=b'9', l @ b'0'..=b'9', b':', ..] => {
                let digits = [h, m, l].map(|d| usize::from(d - b'0'));
                (digits[0] * 100 + digits[1] * 10 + digits[2], 4)
            }
            _ => return self.long_bytes(),
        };
        let end = header + len;
        if end > rest.len() {
            return Err(DecodeError::Truncated);
        }
        self.rest = &rest[end..];
        Ok(&rest[header..end])
    }

    /// [`bytes`](Self::bytes) for lengths of three digits or more, and for every error. The
    /// length is compared with the datagram's length digit by digit, so it cannot overflow.
    #[inline(never)]
    fn long_bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let rest = self.rest;
        let (len, digits) = match rest {
            [b'0', ..] => return Err(DecodeError::InvalidSyntax),
            [d @ b'1'..=b'9', ..] => {
                let mut len = usize::from(d - b'0');
                let mut i = 1;
                loop {
                    match rest.get(i) {
                        Some(&b':') => break,
                        Some(&d @ b'0'..=b'9') => {
                            len = len
                                .checked_mul(10)
                                .and_then(|l| l.checked_add(usize::from(d - b'0')))
                                .filter(|&l| l <= rest.len())
                                .ok_or(DecodeError::Truncated)?;
                            i += 1;
                        }
                        Some(_) => return Err(DecodeError::InvalidSyntax),
                        None => return Err(DecodeError::Truncated),
                    }
                }
                (len, i)
            }
            [] => return Err(DecodeError::Truncated),
            _ => return Err(DecodeError::InvalidSyntax),
        };
        let start = digits + 1;
        let end = start.checked_add(len).ok_or(DecodeError::Truncated)?;
        let value = rest.get(start..end).ok_or(DecodeError::Truncated)?;
        self.advance(end);
        Ok(value)
    }

    /// Reads an integer (`i<digits>e`) into an `i64`: no sign but `-`, no leading zeros, no
    /// `-0`, no empty digits, no overflow.
    #[inline(always)]
    pub(crate) fn int(&mut self) -> Result<i64, DecodeError> {
        let rest = self.rest;
        // Flags (`implied_port`, `ro`) are one digit.
        if let [b'i', d @ b'0'..=b'9', b'e', ..] = *rest {
            self.rest = &rest[3..];
            return Ok(i64::from(d - b'0'));
        }
        if rest.first() != Some(&b'i') {
            return Err(DecodeError::InvalidSyntax);
        }
        let negative = rest.get(1) == Some(&b'-');
        let mut i = if negative { 2 } else { 1 };
        match rest.get(i) {
            None => return Err(DecodeError::Truncated),
            Some(b'0') => {
                // Zero must stand alone and unsigned.
                return match rest.get(i + 1) {
                    Some(b'e') if !negative => {
                        self.advance(i + 2);
                        Ok(0)
                    }
                    None => Err(DecodeError::Truncated),
                    Some(_) => Err(DecodeError::InvalidInteger),
                };
            }
            Some(b'1'..=b'9') => {}
            Some(_) => return Err(DecodeError::InvalidInteger),
        }
        let digits_start = i;
        while let Some(b'0'..=b'9') = rest.get(i) {
            i += 1;
        }
        match rest.get(i) {
            Some(b'e') => {}
            Some(_) => return Err(DecodeError::InvalidInteger),
            None => return Err(DecodeError::Truncated),
        }
        let digits = &rest[digits_start..i];
        // 19 decimal digits always fit in a u64; the range check below does the rest.
        if digits.len() > 19 {
            return Err(DecodeError::InvalidInteger);
        }
        let magnitude = digits
            .iter()
            .fold(0u64, |m, &d| m * 10 + u64::from(d - b'0'));
        let value = if negative {
            0i64.checked_sub_unsigned(magnitude)
        } else {
            i64::try_from(magnitude).ok()
        };
        let value = value.ok_or(DecodeError::InvalidInteger)?;
        self.advance(i + 1);
        Ok(value)
    }

    /// Skips one value of any type. `depth` is the nesting depth of the container that holds
    /// it; containers inside may reach [`MAX_DEPTH`]. Dictionary keys must be strings, and a
    /// key must have a value. Iterative: two bit sets remember, per open level, whether it is
    /// a dictionary and whether that dictionary expects a key next.
    pub(crate) fn skip_value(&mut self, depth: usize) -> Result<(), DecodeError> {
        let mut level = 0usize;
        let mut is_dict: u64 = 0;
        let mut wants_key: u64 = 0;
        loop {
            let bit = 1u64 << level;
            let in_dict = level > 0 && is_dict & bit != 0;
            if in_dict && wants_key & bit != 0 {
                match self.peek() {
                    Some(b'e') => {
                        self.advance(1);
                        level -= 1;
                        if level == 0 {
                            return Ok(());
                        }
                    }
                    Some(b'0'..=b'9') => {
                        self.bytes()?;
                        wants_key &= !bit;
                    }
                    Some(_) => return Err(DecodeError::InvalidSyntax),
                    None => return Err(DecodeError::Truncated),
                }
                continue;
            }
            if in_dict {
                // The value about to be read completes this key-value pair.
                wants_key |= bit;
            }
            match self.peek() {
                Some(b'e') if level > 0 && !in_dict => {
                    self.advance(1);
                    level -= 1;
                }
                Some(b'i') => {
                    self.int()?;
                }
                Some(b'0'..=b'9') => {
                    self.bytes()?;
                }
                Some(open @ (b'l' | b'd')) => {
                    if depth + level + 1 > MAX_DEPTH {
                        return Err(DecodeError::TooDeep);
                    }
                    self.advance(1);
                    level += 1;
                    let bit = 1u64 << level;
                    if open == b'd' {
                        is_dict |= bit;
                        wants_key |= bit;
                    } else {
                        is_dict &= !bit;
                    }
                    continue;
                }
                Some(_) => return Err(DecodeError::InvalidSyntax),
                None => return Err(DecodeError::Truncated),
            }
            if level == 0 {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skip(input: &[u8]) -> Result<usize, DecodeError> {
        let mut r = Reader::new(input);
        r.skip_value(1)?;
        Ok(r.position())
    }

    #[test]
    fn skip_stops_after_exactly_one_value() {
        assert_eq!(skip(b"i5ei6e"), Ok(3));
        assert_eq!(skip(b"3:abcX"), Ok(5));
        assert_eq!(skip(b"le1:x"), Ok(2));
        assert_eq!(skip(b"dei1e"), Ok(2));
        assert_eq!(skip(b"ld1:ali1eee3:xyzeX"), Ok(17));
        assert_eq!(skip(b"d1:ad1:bd1:cleeee"), Ok(17));
    }

    #[test]
    fn skip_rejects_malformed_containers() {
        assert_eq!(skip(b"d1:ae"), Err(DecodeError::InvalidSyntax));
        assert_eq!(skip(b"di1e1:ae"), Err(DecodeError::InvalidSyntax));
        assert_eq!(skip(b"dle1:ae"), Err(DecodeError::InvalidSyntax));
        assert_eq!(skip(b"e"), Err(DecodeError::InvalidSyntax));
        assert_eq!(skip(b"l"), Err(DecodeError::Truncated));
        assert_eq!(skip(b"d1:a"), Err(DecodeError::Truncated));
        assert_eq!(skip(b""), Err(DecodeError::Truncated));
    }

    #[test]
    fn skip_depth_counts_from_the_holder() {
        let deep = |n: usize| [b"l".repeat(n), b"e".repeat(n)].concat();
        let ok = deep(MAX_DEPTH - 1);
        let mut r = Reader::new(&ok);
        assert_eq!(r.skip_value(1), Ok(()));
        let over = deep(MAX_DEPTH);
        let mut r = Reader::new(&over);
        assert_eq!(r.skip_value(1), Err(DecodeError::TooDeep));
        let mut r = Reader::new(&over);
        assert_eq!(r.skip_value(0), Ok(()));
    }

    #[test]
    fn integers_and_lengths_are_canonical() {
        let int = |s: &[u8]| Reader::new(s).int();
        assert_eq!(int(b"i0e"), Ok(0));
        assert_eq!(int(b"i-9223372036854775808e"), Ok(i64::MIN));
        assert_eq!(int(b"i9223372036854775807e"), Ok(i64::MAX));
        assert_eq!(
            int(b"i9223372036854775808e"),
            Err(DecodeError::InvalidInteger)
        );
        assert_eq!(int(b"i-0e"), Err(DecodeError::InvalidInteger));
        assert_eq!(int(b"i01e"), Err(DecodeError::InvalidInteger));
        assert_eq!(int(b"i12"), Err(DecodeError::Truncated));
        let bytes = |s: &'static [u8]| Reader::new(s).bytes();
        assert_eq!(bytes(b"0:"), Ok(&b""[..]));
        assert_eq!(bytes(b"10:0123456789"), Ok(&b"0123456789"[..]));
        assert_eq!(bytes(b"01:a"), Err(DecodeError::InvalidSyntax));
        assert_eq!(bytes(b"11:0123456789"), Err(DecodeError::Truncated));
        assert_eq!(
            bytes(b"18446744073709551615:x"),
            Err(DecodeError::Truncated)
        );
        assert_eq!(bytes(b"3x:abc"), Err(DecodeError::InvalidSyntax));
    }
}
