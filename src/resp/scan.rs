//! Finds where one encoded reply ends, so that replies produced on another shard can be
//! re-ordered (MGET over several shards) without decoding their contents.

/// Length in bytes of the first complete reply in `buf`, or `None` if it is incomplete or
/// malformed.
pub fn reply_len(buf: &[u8]) -> Option<usize> {
    let line_end = buf.windows(2).position(|w| w == b"\r\n")?;
    let after = line_end + 2;
    let num = || -> Option<i64> { std::str::from_utf8(&buf[1..line_end]).ok()?.parse().ok() };
    match *buf.first()? {
        b'+' | b'-' | b':' | b'_' | b'#' | b',' | b'(' => Some(after),
        b'$' | b'=' | b'!' => {
            let n = num()?;
            if n < 0 {
                Some(after)
            } else {
                let end = after + n as usize + 2;
                (buf.len() >= end).then_some(end)
            }
        }
        b'*' | b'~' | b'>' | b'%' => {
            let n = num()?;
            let items = if buf[0] == b'%' { n * 2 } else { n };
            let mut pos = after;
            for _ in 0..items.max(0) {
                pos += reply_len(&buf[pos..])?;
            }
            Some(pos)
        }
        _ => None,
    }
}

/// Splits an array reply into its elements' encodings.
pub fn array_items(buf: &[u8]) -> Option<Vec<&[u8]>> {
    if buf.first() != Some(&b'*') {
        return None;
    }
    let line_end = buf.windows(2).position(|w| w == b"\r\n")?;
    let n: usize = std::str::from_utf8(&buf[1..line_end]).ok()?.parse().ok()?;
    let mut pos = line_end + 2;
    let mut items = Vec::with_capacity(n);
    for _ in 0..n {
        let len = reply_len(&buf[pos..])?;
        items.push(&buf[pos..pos + len]);
        pos += len;
    }
    Some(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_nested_replies() {
        let r = b"*3\r\n$1\r\na\r\n$-1\r\n*1\r\n:5\r\n+OK\r\n";
        assert_eq!(reply_len(r), Some(r.len() - 5));
        let items = array_items(r).unwrap();
        assert_eq!(items, [&b"$1\r\na\r\n"[..], b"$-1\r\n", b"*1\r\n:5\r\n"]);
        assert_eq!(reply_len(b"$5\r\nab"), None);
    }
}
