//! DUMP payloads: one value as RDB encodes it (type, then value, no key), then the RDB
//! version as two little-endian bytes and a CRC-64 of everything before it as eight, the
//! form redis-server's DUMP writes and its RESTORE checks.

use super::{CRC64, RDB_VERSION, RdbError, RdbReader, RdbValue, ValueRef, write::encode_value};

/// Why a payload cannot be restored, worded by the caller as redis-server words each.
#[derive(Debug)]
pub enum PayloadError {
    /// Too short, from a newer RDB version, or a checksum mismatch.
    Footer,
    /// The footer is right but the value does not decode (or is an empty collection).
    Format(Option<RdbError>),
}

/// The DUMP payload of `value`.
pub fn dump_payload(value: ValueRef<'_>, compress: bool) -> Vec<u8> {
    let mut out = Vec::new();
    encode_value(value, compress, &mut out);
    with_footer(out)
}

/// FUNCTION DUMP's payload: each library's code as a FUNCTION2 record, then the footer.
pub fn dump_functions<'a>(codes: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for code in codes {
        out.push(super::opcode::FUNCTION2);
        super::write::put_string(&mut out, code, true);
    }
    with_footer(out)
}

/// FUNCTION RESTORE: the libraries' code in a FUNCTION DUMP payload.
pub fn restore_functions(payload: &[u8]) -> Result<Vec<Vec<u8>>, PayloadError> {
    let body = checked_body(payload)?;
    RdbReader::lone_functions(body).map_err(|e| PayloadError::Format(Some(e)))
}

/// Appends the RDB version and the CRC-64 of everything before it.
fn with_footer(mut out: Vec<u8>) -> Vec<u8> {
    out.extend_from_slice(&(RDB_VERSION as u16).to_le_bytes());
    let crc = CRC64.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The body of a payload whose footer (version, CRC-64) is right.
fn checked_body(payload: &[u8]) -> Result<&[u8], PayloadError> {
    let Some(body_len) = payload.len().checked_sub(10) else {
        return Err(PayloadError::Footer);
    };
    let (body, footer) = payload.split_at(body_len);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if u32::from(version) > RDB_VERSION {
        return Err(PayloadError::Footer);
    }
    let stored = u64::from_le_bytes(footer[2..10].try_into().expect("eight bytes"));
    let computed = CRC64.checksum(&payload[..body_len + 2]);
    if stored != computed {
        return Err(PayloadError::Footer);
    }
    Ok(body)
}

/// Checks a payload's footer and decodes its value.
pub fn restore_payload(payload: &[u8]) -> Result<RdbValue, PayloadError> {
    let body = checked_body(payload)?;
    match RdbReader::lone_value(body) {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(PayloadError::Format(None)),
        Err(e) => Err(PayloadError::Format(Some(e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_refuse_damage() {
        let p = dump_payload(ValueRef::String(b"hello"), false);
        assert_eq!(&p[..7], b"\x00\x05hello");
        assert_eq!(restore_payload(&p).unwrap(), RdbValue::String(b"hello".to_vec()));
        let mut bad = p.clone();
        bad[3] ^= 1;
        assert!(matches!(restore_payload(&bad), Err(PayloadError::Footer)));
        assert!(matches!(restore_payload(&p[..9]), Err(PayloadError::Footer)));
        // A valid footer over a body that is not a value.
        let mut junk = vec![200u8, 1, 2];
        junk.extend_from_slice(&10u16.to_le_bytes());
        let crc = CRC64.checksum(&junk);
        junk.extend_from_slice(&crc.to_le_bytes());
        assert!(matches!(restore_payload(&junk), Err(PayloadError::Format(_))));
    }
}
