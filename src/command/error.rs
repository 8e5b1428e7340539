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
    /// Over `maxmemory` with nothing left to evict.
    OutOfMemory,
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
            OutOfMemory => "OOM command not allowed when used memory > 'maxmemory'.".into(),
            InvalidExpire(cmd) => format!("ERR invalid expire time in '{cmd}' command").into(),
            DbIndexOutOfRange => "ERR DB index is out of range".into(),
            StringTooLong => "ERR string exceeds maximum allowed size (proto-max-bulk-len)".into(),
            OffsetOutOfRange => "ERR offset is out of range".into(),
            NanOrInfinity => "ERR increment would produce NaN or Infinity".into(),
            SameObject => "ERR source and destination objects are the same".into(),
            Other(text) => text.clone(),
        }
    }

    /// The unknown-command error as Redis words it: arguments quoted until the text reaches
    /// 128 bytes, the last one cut to fit.
    pub fn unknown(name: &[u8], args: &[crate::resp::Arg]) -> Self {
        let mut quoted = String::new();
        for a in args {
            if quoted.len() >= 128 {
                break;
            }
            let room = 128 - quoted.len();
            quoted.push_str(&format!("'{}' ", printable(a, room)));
        }
        CmdError::UnknownCommand(format!(
            "ERR unknown command '{}', with args beginning with: {quoted}",
            printable(name, 128)
        ))
    }

    /// The error for a container command (CONFIG, CLIENT...) whose subcommand is unknown, or
    /// known but given the wrong number of arguments (`known` lists the subcommands).
    pub fn subcommand(container: &str, sub: &[u8], known: &[&str]) -> Self {
        let lower = String::from_utf8_lossy(sub).to_ascii_lowercase();
        if known.contains(&lower.as_str()) {
            CmdError::WrongArity(format!("{container}|{lower}"))
        } else {
            CmdError::other(format!(
                "ERR unknown subcommand '{}'. Try {} HELP.",
                printable(sub, 128),
                container.to_ascii_uppercase()
            ))
        }
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
