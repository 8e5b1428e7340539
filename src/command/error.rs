//! Every error a command can answer, with Redis 7.0's exact texts. Handlers return these with
//! `?`; one function turns them into the `-` reply.

use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdError {
    /// `name` as the client spelled it, lower-cased.
    WrongArity(String),
    UnknownCommand(String),
    Syntax,
    NotInteger,
    NotFloat,
    WrongType,
    Overflow,
    NoSuchKey,
    /// `name` of the command, lower-case (`set`, `getex`, `expire`...).
    InvalidExpire(&'static str),
    DbIndexOutOfRange,
    StringTooLong,
    OffsetOutOfRange,
    NanOrInfinity,
    SameObject,
    /// Any other error; the text includes its code (`ERR ...`, `NOAUTH ...`).
    Other(Cow<'static, str>),
}

impl CmdError {
    pub fn other(msg: impl Into<Cow<'static, str>>) -> Self {
        CmdError::Other(msg.into())
    }

    pub fn message(&self) -> Cow<'static, str> {
        use CmdError::*;
        match self {
            WrongArity(name) => format!("ERR wrong number of arguments for '{name}' command").into(),
            UnknownCommand(text) => text.clone().into(),
            Syntax => "ERR syntax error".into(),
            NotInteger => "ERR value is not an integer or out of range".into(),
            NotFloat => "ERR value is not a valid float".into(),
            WrongType => "WRONGTYPE Operation against a key holding the wrong kind of value".into(),
            Overflow => "ERR increment or decrement would overflow".into(),
            NoSuchKey => "ERR no such key".into(),
            InvalidExpire(cmd) => format!("ERR invalid expire time in '{cmd}' command").into(),
            DbIndexOutOfRange => "ERR DB index is out of range".into(),
            StringTooLong => "ERR string exceeds maximum allowed size (proto-max-bulk-len)".into(),
            OffsetOutOfRange => "ERR offset is out of range".into(),
            NanOrInfinity => "ERR increment would produce NaN or Infinity".into(),
            SameObject => "ERR source and destination objects are the same".into(),
            Other(text) => text.clone(),
        }
    }

    /// The unknown-command error as Redis words it, quoting up to the first args.
    pub fn unknown(name: &[u8], args: &[bytes::Bytes]) -> Self {
        let mut text = format!(
            "ERR unknown command '{}', with args beginning with: ",
            printable(name, 128)
        );
        for a in args.iter().take(16) {
            if text.len() >= 512 {
                break;
            }
            text.push_str(&format!("'{}' ", printable(a, 128)));
        }
        CmdError::UnknownCommand(text)
    }
}

/// Lossy text of client bytes for error messages, cut at `max` bytes.
pub fn printable(b: &[u8], max: usize) -> String {
    String::from_utf8_lossy(&b[..b.len().min(max)]).into_owned()
}

impl From<crate::shard::WrongType> for CmdError {
    fn from(_: crate::shard::WrongType) -> Self {
        CmdError::WrongType
    }
}
