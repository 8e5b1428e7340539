//! Building RESP commands and reading replies back: exact bytes, parsed values and the
//! orderless forms that compare servers whose orders may differ.

// ---------------------------------------------------------------------------------------------
// Building commands
// ---------------------------------------------------------------------------------------------

/// One command argument.
pub trait IntoArg {
    fn into_arg(self) -> Vec<u8>;
}

impl IntoArg for &str {
    fn into_arg(self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}
impl IntoArg for String {
    fn into_arg(self) -> Vec<u8> {
        self.into_bytes()
    }
}
impl IntoArg for &String {
    fn into_arg(self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}
impl IntoArg for &[u8] {
    fn into_arg(self) -> Vec<u8> {
        self.to_vec()
    }
}
impl<const N: usize> IntoArg for &[u8; N] {
    fn into_arg(self) -> Vec<u8> {
        self.to_vec()
    }
}
impl IntoArg for Vec<u8> {
    fn into_arg(self) -> Vec<u8> {
        self
    }
}
impl IntoArg for &Vec<u8> {
    fn into_arg(self) -> Vec<u8> {
        self.clone()
    }
}
macro_rules! int_arg {
    ($($t:ty),*) => {$(
        impl IntoArg for $t {
            fn into_arg(self) -> Vec<u8> {
                self.to_string().into_bytes()
            }
        }
    )*};
}
int_arg!(i32, i64, u32, u64, usize, u16, i128, f64);

/// `cmd!("SET", key, 5)`: a command as a list of byte arguments.
#[macro_export]
macro_rules! cmd {
    ($($a:expr),+ $(,)?) => {{
        #[allow(clippy::useless_vec)]
        let v: Vec<Vec<u8>> = vec![$($crate::common::IntoArg::into_arg($a)),+];
        v
    }};
}

/// Splits `"SET k v 'a b'"` on spaces; single quotes group words (no escapes), `''` is empty.
pub fn c(line: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cur: Option<Vec<u8>> = None;
    let mut quoted = false;
    for b in line.bytes() {
        match b {
            b'\'' => {
                quoted = !quoted;
                cur.get_or_insert_with(Vec::new);
            }
            b' ' if !quoted => {
                if let Some(w) = cur.take() {
                    out.push(w);
                }
            }
            _ => cur.get_or_insert_with(Vec::new).push(b),
        }
    }
    assert!(!quoted, "unbalanced quote in test line {line:?}");
    if let Some(w) = cur {
        out.push(w);
    }
    out
}

/// RESP multibulk encoding of `args`.
pub fn encode(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Reading replies
// ---------------------------------------------------------------------------------------------

/// End of the CRLF line starting at `pos`: (index of `\r`, index after `\n`).
fn line_at(buf: &[u8], pos: usize) -> Option<(usize, usize)> {
    let i = buf[pos..].windows(2).position(|w| w == b"\r\n")?;
    Some((pos + i, pos + i + 2))
}

fn header_num(buf: &[u8], pos: usize) -> Option<(i64, usize)> {
    let (end, next) = line_at(buf, pos)?;
    let n = std::str::from_utf8(&buf[pos + 1..end])
        .ok()?
        .parse::<i64>()
        .unwrap_or_else(|_| panic!("bad reply header {:?}", String::from_utf8_lossy(&buf[pos..end])));
    Some((n, next))
}

/// Where the complete reply starting at `pos` ends, or `None` if more bytes are needed.
/// Knows RESP2 and RESP3 (including attributes, which prefix the reply they describe).
pub fn reply_end(buf: &[u8], pos: usize) -> Option<usize> {
    if pos >= buf.len() {
        return None;
    }
    match buf[pos] {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => line_at(buf, pos).map(|(_, next)| next),
        b'$' | b'!' | b'=' => {
            let (n, next) = header_num(buf, pos)?;
            if n < 0 {
                return Some(next);
            }
            let end = next + n as usize + 2;
            (buf.len() >= end).then_some(end)
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let (n, mut next) = header_num(buf, pos)?;
            if n < 0 {
                return Some(next);
            }
            let items = if matches!(buf[pos], b'%' | b'|') { 2 * n } else { n };
            for _ in 0..items {
                next = reply_end(buf, next)?;
            }
            if buf[pos] == b'|' {
                // An attribute is followed by the reply it annotates.
                return reply_end(buf, next);
            }
            Some(next)
        }
        other => panic!(
            "unexpected reply type byte {:?} in {:?}",
            other as char,
            String::from_utf8_lossy(&buf[pos..buf.len().min(pos + 200)])
        ),
    }
}

/// A parsed reply, for tests that inspect values rather than bytes.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<Reply>),
    Map(Vec<(Reply, Reply)>),
    Set(Vec<Reply>),
    Double(String),
    Bool(bool),
    Verbatim(Vec<u8>),
    Push(Vec<Reply>),
}

impl Reply {
    pub fn parse(raw: &[u8]) -> Reply {
        let (r, end) = parse_at(raw, 0);
        assert_eq!(end, raw.len(), "trailing bytes after reply");
        r
    }
    pub fn int(&self) -> i64 {
        match self {
            Reply::Int(n) => *n,
            other => panic!("expected integer reply, got {other:?}"),
        }
    }
    pub fn bulk(&self) -> Option<Vec<u8>> {
        match self {
            Reply::Bulk(b) | Reply::Verbatim(b) => Some(b.clone()),
            Reply::Nil => None,
            other => panic!("expected bulk reply, got {other:?}"),
        }
    }
    pub fn text(&self) -> String {
        match self {
            Reply::Simple(s) | Reply::Error(s) | Reply::Double(s) => s.clone(),
            Reply::Bulk(b) | Reply::Verbatim(b) => String::from_utf8_lossy(b).into_owned(),
            Reply::Int(n) => n.to_string(),
            other => panic!("expected a text reply, got {other:?}"),
        }
    }
    pub fn items(&self) -> Vec<Reply> {
        match self {
            Reply::Array(v) | Reply::Set(v) | Reply::Push(v) => v.clone(),
            other => panic!("expected an array reply, got {other:?}"),
        }
    }
}

fn parse_at(buf: &[u8], pos: usize) -> (Reply, usize) {
    let (end, next) = line_at(buf, pos).expect("complete reply");
    let head = &buf[pos + 1..end];
    let text = || String::from_utf8_lossy(head).into_owned();
    let num = || text().parse::<i64>().expect("numeric header");
    match buf[pos] {
        b'+' => (Reply::Simple(text()), next),
        b'-' => (Reply::Error(text()), next),
        b':' => (Reply::Int(num()), next),
        b'_' => (Reply::Nil, next),
        b',' => (Reply::Double(text()), next),
        b'(' => (Reply::Simple(text()), next),
        b'#' => (Reply::Bool(head == b"t"), next),
        b'$' | b'!' | b'=' => {
            let n = num();
            if n < 0 {
                return (Reply::Nil, next);
            }
            let data = buf[next..next + n as usize].to_vec();
            let r = match buf[pos] {
                b'$' => Reply::Bulk(data),
                b'!' => Reply::Error(String::from_utf8_lossy(&data).into_owned()),
                // Verbatim strings carry a 3-letter format and a colon before the text.
                _ => Reply::Verbatim(data[4.min(data.len())..].to_vec()),
            };
            (r, next + n as usize + 2)
        }
        b'*' | b'~' | b'>' => {
            let n = num();
            if n < 0 {
                return (Reply::Nil, next);
            }
            let mut items = Vec::new();
            let mut p = next;
            for _ in 0..n {
                let (r, q) = parse_at(buf, p);
                items.push(r);
                p = q;
            }
            let r = match buf[pos] {
                b'*' => Reply::Array(items),
                b'~' => Reply::Set(items),
                _ => Reply::Push(items),
            };
            (r, p)
        }
        b'%' | b'|' => {
            let n = num();
            let mut pairs = Vec::new();
            let mut p = next;
            for _ in 0..n {
                let (k, q) = parse_at(buf, p);
                let (v, q) = parse_at(buf, q);
                pairs.push((k, v));
                p = q;
            }
            if buf[pos] == b'|' {
                return parse_at(buf, p);
            }
            (Reply::Map(pairs), p)
        }
        other => panic!("unexpected reply type {:?}", other as char),
    }
}

/// Raw bytes of each element of an aggregate reply (its header dropped).
pub fn elements(raw: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let (_, mut p) = line_at(raw, 0).expect("header");
    let header = raw[..p].to_vec();
    let kind = raw[0];
    let mut out = Vec::new();
    if !matches!(kind, b'*' | b'~' | b'>' | b'%') || raw[1] == b'-' {
        return (raw.to_vec(), out);
    }
    while p < raw.len() {
        let mut q = reply_end(raw, p).expect("complete element");
        if kind == b'%' {
            q = reply_end(raw, q).expect("complete map value");
        }
        out.push(raw[p..q].to_vec());
        p = q;
    }
    (header, out)
}

/// An order-free normal form of an aggregate reply: its elements sorted (KEYS, SMEMBERS...).
pub fn sorted_form(raw: &[u8]) -> Vec<u8> {
    let (mut header, mut items) = elements(raw);
    items.sort();
    for i in items {
        header.extend_from_slice(&i);
    }
    header
}
