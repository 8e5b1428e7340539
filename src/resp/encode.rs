//! Reply encoding for RESP2 and RESP3.
//!
//! Handlers write replies straight into the connection's (or the shard batch's) output buffer,
//! as Redis's `addReply*` family does, so a large LRANGE or MGET costs no per-element
//! allocation. The RESP2/RESP3 differences (nulls, maps, sets, doubles, booleans, pushes) are
//! decided here and nowhere else.

/// The protocol a client negotiated with `HELLO`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Proto {
    #[default]
    Resp2,
    Resp3,
}

/// A growable reply buffer bound to one protocol version.
#[derive(Debug, Default)]
pub struct Out {
    buf: Vec<u8>,
    proto: Proto,
}

impl Out {
    pub fn new(proto: Proto) -> Self {
        Out {
            buf: Vec::with_capacity(256),
            proto,
        }
    }

    pub fn proto(&self) -> Proto {
        self.proto
    }

    pub fn set_proto(&mut self, proto: Proto) {
        self.proto = proto;
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Bytes the buffer holds from the allocator (CLIENT LIST `tot-mem`).
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// Drops what was written after `len` (used to undo a partly written reply).
    pub fn truncate(&mut self, len: usize) {
        self.buf.truncate(len);
    }

    /// Appends bytes that are already encoded replies (from another shard's batch).
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// An encoder writing into `buf`, emptied first (a buffer reused from an earlier reply).
    pub fn with_buffer(mut buf: Vec<u8>, proto: Proto) -> Self {
        buf.clear();
        Out { buf, proto }
    }

    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    fn header(&mut self, mark: u8, n: i64) {
        self.buf.push(mark);
        self.buf.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// A simple string; `s` must not contain CR or LF.
    pub fn simple(&mut self, s: &[u8]) {
        self.buf.push(b'+');
        self.buf.extend_from_slice(s);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An error reply; `msg` starts with its code (`ERR ...`, `WRONGTYPE ...`).
    pub fn error(&mut self, msg: &str) {
        self.buf.push(b'-');
        // Newlines would break the framing: Redis replaces them with spaces.
        self.buf
            .extend(msg.bytes().map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }));
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn int(&mut self, n: i64) {
        self.header(b':', n);
    }

    pub fn bulk(&mut self, data: &[u8]) {
        self.header(b'$', data.len() as i64);
        self.buf.extend_from_slice(data);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// A bulk string holding the decimal form of `n` (GET of an integer-encoded string).
    pub fn bulk_int(&mut self, n: i64) {
        let mut b = itoa::Buffer::new();
        self.bulk(b.format(n).as_bytes());
    }

    /// The null bulk string (`$-1` in RESP2, `_` in RESP3).
    pub fn null(&mut self) {
        match self.proto {
            Proto::Resp2 => self.buf.extend_from_slice(b"$-1\r\n"),
            Proto::Resp3 => self.buf.extend_from_slice(b"_\r\n"),
        }
    }

    /// The null array (`*-1` in RESP2, `_` in RESP3), e.g. an aborted EXEC or a timed-out BLPOP.
    pub fn null_array(&mut self) {
        match self.proto {
            Proto::Resp2 => self.buf.extend_from_slice(b"*-1\r\n"),
            Proto::Resp3 => self.buf.extend_from_slice(b"_\r\n"),
        }
    }

    pub fn array(&mut self, n: usize) {
        self.header(b'*', n as i64);
    }

    /// A map of `n` pairs; RESP2 flattens it into an array of `2n` elements.
    pub fn map(&mut self, n: usize) {
        match self.proto {
            Proto::Resp2 => self.header(b'*', 2 * n as i64),
            Proto::Resp3 => self.header(b'%', n as i64),
        }
    }

    pub fn set(&mut self, n: usize) {
        match self.proto {
            Proto::Resp2 => self.header(b'*', n as i64),
            Proto::Resp3 => self.header(b'~', n as i64),
        }
    }

    /// An out-of-band push (pub/sub messages); RESP2 sends it as a plain array.
    pub fn push(&mut self, n: usize) {
        match self.proto {
            Proto::Resp2 => self.header(b'*', n as i64),
            Proto::Resp3 => self.header(b'>', n as i64),
        }
    }

    pub fn boolean(&mut self, v: bool) {
        match self.proto {
            Proto::Resp2 => self.int(v as i64),
            Proto::Resp3 => self.buf.extend_from_slice(if v { b"#t\r\n" } else { b"#f\r\n" }),
        }
    }

    /// A double already formatted the way Redis 7.0 prints it (`%.17g`, `inf`, `-inf`):
    /// a bulk string in RESP2, a `,` double in RESP3.
    pub fn double_text(&mut self, text: &[u8]) {
        match self.proto {
            Proto::Resp2 => self.bulk(text),
            Proto::Resp3 => {
                self.buf.push(b',');
                self.buf.extend_from_slice(text);
                self.buf.extend_from_slice(b"\r\n");
            }
        }
    }

    /// Verbatim text (INFO, CLIENT LIST under RESP3); a bulk string in RESP2.
    pub fn verbatim(&mut self, text: &[u8]) {
        match self.proto {
            Proto::Resp2 => self.bulk(text),
            Proto::Resp3 => {
                self.header(b'=', text.len() as i64 + 4);
                self.buf.extend_from_slice(b"txt:");
                self.buf.extend_from_slice(text);
                self.buf.extend_from_slice(b"\r\n");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp2_and_resp3_forms() {
        let mut o2 = Out::new(Proto::Resp2);
        let mut o3 = Out::new(Proto::Resp3);
        for o in [&mut o2, &mut o3] {
            o.null();
            o.map(1);
            o.boolean(true);
            o.double_text(b"1.5");
        }
        assert_eq!(o2.as_bytes(), b"$-1\r\n*2\r\n:1\r\n$3\r\n1.5\r\n");
        assert_eq!(o3.as_bytes(), b"_\r\n%1\r\n#t\r\n,1.5\r\n");
    }

    #[test]
    fn error_newlines_are_flattened() {
        let mut o = Out::new(Proto::Resp2);
        o.error("ERR a\r\nb");
        assert_eq!(o.as_bytes(), b"-ERR a  b\r\n");
    }
}
