//! Request parsing: RESP multibulk arrays and inline commands, as redis-server 7.0 reads them.
//!
//! A short argument is copied into its [`Arg`]; when a request has a long one, the request is
//! split off the read buffer as one frozen `Bytes` and its long arguments are slices of it.
//! It is resumable, so a request that arrives over many reads is scanned once, not once per
//! read, and a hostile length only ever reserves what has actually arrived.

use bytes::{Buf, BytesMut};

use super::arg::{Arg, INLINE_MAX as ARG_INLINE_MAX};

use super::inline::split_inline;

/// Longest inline request or header line Redis accepts (`PROTO_INLINE_MAX_SIZE`).
pub const INLINE_MAX: usize = 64 * 1024;

/// Limits a connection applies while parsing, from the config (`proto-max-bulk-len`).
#[derive(Clone, Copy, Debug)]
pub struct ParseLimits {
    /// Largest bulk argument (`proto-max-bulk-len`, 512mb by default).
    pub max_bulk_len: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_bulk_len: 512 * 1024 * 1024,
        }
    }
}

/// A protocol violation. Redis answers it with `-ERR Protocol error: ...` and closes the
/// connection once the reply is written; the text here is the part after `ERR `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl ProtocolError {
    fn new(msg: &str) -> Self {
        ProtocolError(format!("Protocol error: {msg}"))
    }
}

/// One parsed request: its arguments.
pub type Request = Vec<Arg>;

/// Resumable parser state for one connection.
#[derive(Default, Debug)]
pub struct RequestParser {
    /// Arguments announced by the `*<n>` header of the request being read, if any.
    expected: Option<usize>,
    /// (start, len) of each argument already located in the buffer.
    spans: Vec<(usize, usize)>,
    /// Where scanning resumes in the buffer.
    pos: usize,
}

/// Result of looking for a CRLF-terminated line.
enum Line {
    Found { end: usize, next: usize },
    Missing,
}

fn find_line(buf: &[u8], from: usize) -> Line {
    match buf[from..].iter().position(|&b| b == b'\r') {
        Some(i) if from + i + 1 < buf.len() => Line::Found {
            end: from + i,
            next: from + i + 2,
        },
        _ => Line::Missing,
    }
}

/// Parses the decimal length of a `*` or `$` header the way Redis does (`string2ll`): an
/// optional minus, then `0` alone or digits without a leading zero (`$04` and `-0` are
/// invalid lengths there, so they are here).
fn parse_len(bytes: &[u8]) -> Option<i64> {
    let (neg, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    let canonical = match digits {
        [b'0'] => !neg,
        [first, ..] => first.is_ascii_digit() && *first != b'0',
        [] => false,
    };
    if !canonical || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = digits
        .iter()
        .try_fold(0i64, |acc, &d| acc.checked_mul(10)?.checked_add((d - b'0') as i64))?;
    Some(if neg { -v } else { v })
}

/// Most arguments a request may have to take the one-pass path of [`whole_request`].
const WHOLE_MAX_ARGS: usize = 8;

/// The argument spans of a request found whole in a buffer, and where the request ends.
struct WholeRequest {
    spans: [(usize, usize); WHOLE_MAX_ARGS],
    count: usize,
    end: usize,
}

/// The header number that starts at `pos` and ends at a CR, read in the same pass that looks
/// for the CR: (value, index past the line end). None for what [`parse_len`] would not read
/// as a plain non-negative length (sign, leading zero, over 18 digits) or a missing line end;
/// the resumable path then decides.
fn header_number(buf: &[u8], pos: usize) -> Option<(usize, usize)> {
    let first = *buf.get(pos)?;
    if !(b'1'..=b'9').contains(&first) {
        return (first == b'0' && buf.get(pos + 1) == Some(&b'\r') && pos + 2 < buf.len()).then_some((0, pos + 3));
    }
    let mut value = (first - b'0') as usize;
    let mut at = pos + 1;
    loop {
        let byte = *buf.get(at)?;
        if byte == b'\r' {
            break;
        }
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 || at - pos >= 18 {
            return None;
        }
        value = value * 10 + digit as usize;
        at += 1;
    }
    (at + 1 < buf.len()).then_some((value, at + 2))
}

/// Locates every argument of a request that is whole at the front of `buf`, in one pass that
/// reads each length while it looks for the line's end. This is the common case (a pipeline
/// read in full); None sends the request down the resumable path, which also gives every
/// error: incomplete, malformed, over the limits, or more than [`WHOLE_MAX_ARGS`] arguments.
fn whole_request(buf: &[u8], limits: &ParseLimits) -> Option<WholeRequest> {
    let (count, mut pos) = header_number(buf, 1)?;
    if count == 0 || count > WHOLE_MAX_ARGS {
        return None;
    }
    let mut found = WholeRequest {
        spans: [(0, 0); WHOLE_MAX_ARGS],
        count,
        end: 0,
    };
    for span in &mut found.spans[..count] {
        if buf.get(pos) != Some(&b'$') {
            return None;
        }
        let (len, start) = header_number(buf, pos + 1)?;
        if len > limits.max_bulk_len || start + len + 2 > buf.len() {
            return None;
        }
        *span = (start, len);
        pos = start + len + 2;
    }
    found.end = pos;
    Some(found)
}

/// Takes the request that ends at `end` off `buf`, its arguments at `spans`. Short arguments
/// are copied inline; when one is long, the request is split off as one frozen frame and
/// the long ones are slices of it.
fn take_request(buf: &mut BytesMut, spans: &[(usize, usize)], end: usize) -> Request {
    let mut args = super::argv::take(spans.len());
    if spans.iter().all(|&(_, len)| len <= ARG_INLINE_MAX) {
        let bytes = &buf[..];
        args.resize_with(spans.len(), Arg::default);
        for (arg, &(start, len)) in args.iter_mut().zip(spans) {
            match bytes.get(start..start + ARG_INLINE_MAX).and_then(|w| w.try_into().ok()) {
                Some(window) => arg.set_inline_window(window, len),
                None => *arg = Arg::inline(&bytes[start..start + len]).unwrap_or_default(),
            }
        }
        buf.advance(end);
    } else {
        let frame = buf.split_to(end).freeze();
        args.extend(
            spans
                .iter()
                .map(|&(start, len)| Arg::slice_of(&frame, start..start + len)),
        );
    }
    args
}

impl RequestParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next complete request off `buf`. `Ok(None)` means more bytes are needed.
    /// Empty requests (`*0`, `*-1`, blank inline lines) are skipped as Redis skips them.
    pub fn next(&mut self, buf: &mut BytesMut, limits: &ParseLimits) -> Result<Option<Request>, ProtocolError> {
        loop {
            if buf.is_empty() {
                return Ok(None);
            }
            let parsed = if self.expected.is_some() || buf[0] == b'*' {
                self.multibulk(buf, limits)?
            } else {
                Self::inline(buf)?
            };
            match parsed {
                Some(req) if req.is_empty() => continue,
                other => return Ok(other),
            }
        }
    }

    fn inline(buf: &mut BytesMut) -> Result<Option<Request>, ProtocolError> {
        // redis-server looks for the newline with a C string search, which stops at a NUL:
        // a line with a NUL before its newline stays incomplete until it is too big.
        let nl = match buf.iter().position(|&b| b == b'\n' || b == 0) {
            Some(at) if buf[at] == b'\n' => at,
            _ => {
                if buf.len() > INLINE_MAX {
                    return Err(ProtocolError::new("too big inline request"));
                }
                return Ok(None);
            }
        };
        let line = buf.split_to(nl + 1).freeze();
        let text = line.slice(..nl);
        let text = match text.last() {
            Some(b'\r') => text.slice(..text.len() - 1),
            _ => text,
        };
        match split_inline(&text) {
            Some(args) => Ok(Some(args.into_iter().map(Arg::from).collect())),
            None => Err(ProtocolError::new("unbalanced quotes in request")),
        }
    }

    fn multibulk(&mut self, buf: &mut BytesMut, limits: &ParseLimits) -> Result<Option<Request>, ProtocolError> {
        if self.expected.is_none() {
            if let Some(whole) = whole_request(buf, limits) {
                return Ok(Some(take_request(buf, &whole.spans[..whole.count], whole.end)));
            }
            let Line::Found { end, next } = find_line(buf, 0) else {
                if buf.len() > INLINE_MAX {
                    return Err(ProtocolError::new("too big mbulk count string"));
                }
                return Ok(None);
            };
            let count = match parse_len(&buf[1..end]) {
                Some(n) if n <= i32::MAX as i64 => n,
                _ => return Err(ProtocolError::new("invalid multibulk length")),
            };
            if count <= 0 {
                let _ = buf.split_to(next);
                return Ok(Some(Vec::new()));
            }
            self.expected = Some(count as usize);
            self.spans.clear();
            // Never trust the header for an allocation: grow as arguments arrive.
            self.spans.reserve((count as usize).min(1024));
            self.pos = next;
        }
        let expected = self.expected.unwrap_or(0);
        while self.spans.len() < expected {
            let pos = self.pos;
            if pos >= buf.len() {
                return Ok(None);
            }
            if buf[pos] != b'$' {
                let got = buf[pos] as char;
                self.reset();
                return Err(ProtocolError::new(&format!("expected '$', got '{got}'")));
            }
            let Line::Found { end, next } = find_line(buf, pos) else {
                if buf.len() - pos > INLINE_MAX {
                    self.reset();
                    return Err(ProtocolError::new("too big bulk count string"));
                }
                return Ok(None);
            };
            let len = match parse_len(&buf[pos + 1..end]) {
                Some(n) if n >= 0 && n as u64 <= limits.max_bulk_len as u64 => n as usize,
                _ => {
                    self.reset();
                    return Err(ProtocolError::new("invalid bulk length"));
                }
            };
            if buf.len() < next + len + 2 {
                // Reserve only what is plausible soon; the read loop grows the buffer further.
                let want = (next + len + 2 - buf.len()).min(1 << 20);
                buf.reserve(want);
                return Ok(None);
            }
            self.spans.push((next, len));
            self.pos = next + len + 2;
        }
        let args = take_request(buf, &self.spans, self.pos);
        self.reset();
        Ok(Some(args))
    }

    fn reset(&mut self) {
        self.expected = None;
        self.spans.clear();
        self.pos = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
        let mut buf = BytesMut::from(input);
        let mut p = RequestParser::new();
        let mut out = Vec::new();
        while let Some(req) = p.next(&mut buf, &ParseLimits::default())? {
            out.push(req.iter().map(|b| b.to_vec()).collect());
        }
        Ok(out)
    }

    #[test]
    fn multibulk_and_inline_mix() {
        let got = parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\nSET inl ine\n\n*0\r\n").unwrap();
        assert_eq!(
            got,
            vec![
                vec![b"GET".to_vec(), b"k".to_vec()],
                vec![b"PING".to_vec()],
                vec![b"SET".to_vec(), b"inl".to_vec(), b"ine".to_vec()],
            ]
        );
    }

    #[test]
    fn short_and_long_arguments_in_one_pipeline() {
        let long = vec![b'v'; 100];
        let mut input = b"*3\r\n$3\r\nSET\r\n$16\r\nkey:000000012345\r\n$100\r\n".to_vec();
        input.extend_from_slice(&long);
        input.extend_from_slice(b"\r\n*2\r\n$3\r\nGET\r\n$23\r\n");
        input.extend_from_slice(&[b'k'; 23]);
        input.extend_from_slice(b"\r\n*2\r\n$3\r\nGET\r\n$24\r\n");
        input.extend_from_slice(&[b'k'; 24]);
        input.extend_from_slice(b"\r\n");
        let got = parse_all(&input).unwrap();
        assert_eq!(
            got,
            vec![
                vec![b"SET".to_vec(), b"key:000000012345".to_vec(), long],
                vec![b"GET".to_vec(), vec![b'k'; 23]],
                vec![b"GET".to_vec(), vec![b'k'; 24]],
            ]
        );
    }

    #[test]
    fn incomplete_then_complete() {
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$5\r\nhel"[..]);
        let mut p = RequestParser::new();
        assert_eq!(p.next(&mut buf, &ParseLimits::default()).unwrap(), None);
        buf.extend_from_slice(b"lo\r\n");
        let req = p.next(&mut buf, &ParseLimits::default()).unwrap().unwrap();
        assert_eq!(req[1].as_ref(), b"hello");
        assert!(buf.is_empty());
    }

    #[test]
    fn protocol_errors_match_redis_texts() {
        let err = |i: &[u8]| parse_all(i).unwrap_err().0;
        assert_eq!(err(b"*x\r\n"), "Protocol error: invalid multibulk length");
        assert_eq!(
            err(b"*1\r\n+a\r\n"),
            "Protocol error: expected '+', got '+'".replace("'+', got", "'$', got")
        );
        assert_eq!(err(b"*1\r\n$-5\r\n"), "Protocol error: invalid bulk length");
        assert_eq!(err(b"*1\r\n$600000000\r\n"), "Protocol error: invalid bulk length");
        assert_eq!(err(b"SET \"a b\n"), "Protocol error: unbalanced quotes in request");
    }

    #[test]
    fn lengths_are_read_as_redis_reads_them() {
        let err = |i: &[u8]| parse_all(i).unwrap_err().0;
        // redis-server 7.0 answers each of these with the same error (string2ll).
        assert_eq!(err(b"*1\r\n$04\r\nPING\r\n"), "Protocol error: invalid bulk length");
        assert_eq!(
            err(b"*01\r\n$4\r\nPING\r\n"),
            "Protocol error: invalid multibulk length"
        );
        assert_eq!(err(b"*-0\r\n"), "Protocol error: invalid multibulk length");
        assert_eq!(err(b"*1\r\n$-0\r\n"), "Protocol error: invalid bulk length");
        assert_eq!(err(b"*1\r\n$+4\r\nPING\r\n"), "Protocol error: invalid bulk length");
        assert_eq!(
            parse_all(b"*1\r\n$0\r\n\r\n*-1\r\n").unwrap(),
            vec![vec![Vec::<u8>::new()]]
        );
    }

    /// Feeds `input` in pieces of `step` bytes, as reads would deliver it.
    fn parse_in_steps(input: &[u8], step: usize) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
        let mut buf = BytesMut::new();
        let mut p = RequestParser::new();
        let mut out = Vec::new();
        for piece in input.chunks(step) {
            buf.extend_from_slice(piece);
            while let Some(req) = p.next(&mut buf, &ParseLimits::default())? {
                out.push(req.iter().map(|b| b.to_vec()).collect());
            }
        }
        Ok(out)
    }

    fn encode(requests: &[Vec<Vec<u8>>]) -> Vec<u8> {
        let mut out = Vec::new();
        for args in requests {
            out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
            for arg in args {
                out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
                out.extend_from_slice(arg);
                out.extend_from_slice(b"\r\n");
            }
        }
        out
    }

    proptest::proptest! {
        /// A pipeline read whole takes the one-pass path; read a byte at a time, every request
        /// takes the resumable one. Both give the same requests, or the same error, for
        /// well-formed input and for input with one byte changed.
        #[test]
        fn one_pass_and_resumable_paths_agree(
            requests in proptest::collection::vec(
                proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..30), 1..11),
                1..6,
            ),
            flip in proptest::option::of((proptest::num::usize::ANY, proptest::num::u8::ANY)),
            step in 1usize..7,
        ) {
            let mut input = encode(&requests);
            if let Some((at, byte)) = flip {
                let at = at % input.len();
                input[at] = byte;
            } else {
                proptest::prop_assert_eq!(parse_all(&input).unwrap(), requests);
            }
            proptest::prop_assert_eq!(parse_all(&input), parse_in_steps(&input, 1));
            proptest::prop_assert_eq!(parse_all(&input), parse_in_steps(&input, step));
        }
    }

    #[test]
    fn an_inline_line_with_a_nul_waits_as_in_redis() {
        // Found by the proptest below: the NUL once made the splitter loop forever.
        let mut buf = BytesMut::from(&b"PING\0junk\r\nPING\r\n"[..]);
        let mut p = RequestParser::new();
        assert_eq!(p.next(&mut buf, &ParseLimits::default()).unwrap(), None);
        let mut big = b"PING\0".to_vec();
        big.resize(INLINE_MAX + 10, b'x');
        let mut buf = BytesMut::from(&big[..]);
        assert_eq!(
            p.next(&mut buf, &ParseLimits::default()).unwrap_err().0,
            "Protocol error: too big inline request"
        );
    }

    #[test]
    fn hostile_header_does_not_allocate() {
        let mut buf = BytesMut::from(&b"*2147483647\r\n$536870912\r\nab"[..]);
        let mut p = RequestParser::new();
        assert_eq!(p.next(&mut buf, &ParseLimits::default()).unwrap(), None);
        assert!(buf.capacity() < 4 << 20);
    }
}
