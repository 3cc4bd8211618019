//! A BEP 44 value: one bencoded value of at most 1000 bytes, kept as sent.

use super::{ItemError, MAX_VALUE_LEN};
use crate::krpc::is_one_value;

/// One whole bencoded value (string, integer, list or dictionary) of at most
/// [`MAX_VALUE_LEN`] bytes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Value(Vec<u8>);

impl Value {
    /// Takes `bencoded` if it is exactly one well-formed bencoded value that fits.
    pub fn new(bencoded: &[u8]) -> Result<Value, ItemError> {
        if bencoded.len() > MAX_VALUE_LEN {
            return Err(ItemError::ValueTooBig);
        }
        if !is_one_value(bencoded) {
            return Err(ItemError::NotBencoded);
        }
        Ok(Value(bencoded.to_vec()))
    }

    /// The bencoded byte string `<len>:<bytes>`, if it fits.
    pub fn string(bytes: &[u8]) -> Result<Value, ItemError> {
        let mut out = bytes.len().to_string().into_bytes();
        out.push(b':');
        out.extend_from_slice(bytes);
        if out.len() > MAX_VALUE_LEN {
            return Err(ItemError::ValueTooBig);
        }
        Ok(Value(out))
    }

    /// The bencoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The contents when the value is a byte string.
    pub fn as_string(&self) -> Option<&[u8]> {
        let colon = self.0.iter().position(|&b| b == b':')?;
        let len: usize = std::str::from_utf8(&self.0[..colon]).ok()?.parse().ok()?;
        let body = &self.0[colon + 1..];
        (body.len() == len).then_some(body)
    }
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Value({:?})", String::from_utf8_lossy(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_one_bencoded_value_within_the_limit() {
        assert_eq!(
            Value::new(b"5:hello").unwrap().as_string(),
            Some(&b"hello"[..])
        );
        assert!(Value::new(b"d1:ai1ee").unwrap().as_string().is_none());
        assert_eq!(Value::new(b"5:hell"), Err(ItemError::NotBencoded));
        assert_eq!(Value::new(b"i1ei2e"), Err(ItemError::NotBencoded));
        assert_eq!(Value::new(b""), Err(ItemError::NotBencoded));
        let longest = Value::string(&[b'x'; 996]).unwrap();
        assert_eq!(longest.as_bytes().len(), 1000);
        assert_eq!(Value::new(longest.as_bytes()), Ok(longest));
        assert_eq!(Value::string(&[b'x'; 997]), Err(ItemError::ValueTooBig));
        assert_eq!(Value::new(&[b'x'; 1001]), Err(ItemError::ValueTooBig));
    }
}
