//! A cursor over a command's arguments: take the next one as bytes, integer or float;
//! `done()` rejects leftovers with Redis's syntax error.

use crate::resp::Arg;

use super::CmdError;
use crate::store::canonical_int;

pub struct Args<'a> {
    argv: &'a [Arg],
    pos: usize,
}

impl<'a> Args<'a> {
    /// A cursor positioned after the command name.
    pub fn new(argv: &'a [Arg]) -> Self {
        Args { argv, pos: 1 }
    }

    pub fn all(&self) -> &'a [Arg] {
        self.argv
    }

    pub fn remaining(&self) -> usize {
        self.argv.len().saturating_sub(self.pos)
    }

    pub fn rest(&self) -> &'a [Arg] {
        &self.argv[self.pos.min(self.argv.len())..]
    }

    /// The next argument, or a syntax error when there is none. (Not an `Iterator`: it fails
    /// with Redis's syntax error instead of ending.)
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<&'a [u8], CmdError> {
        let a = self.argv.get(self.pos).ok_or(CmdError::Syntax)?;
        self.pos += 1;
        Ok(a)
    }

    pub fn next_opt(&mut self) -> Option<&'a [u8]> {
        let a = self.argv.get(self.pos)?;
        self.pos += 1;
        Some(a)
    }

    /// The next argument as an i64, with Redis's "not an integer" error.
    pub fn int(&mut self) -> Result<i64, CmdError> {
        parse_int(self.next()?)
    }

    pub fn float(&mut self) -> Result<f64, CmdError> {
        parse_float(self.next()?)
    }

    pub fn done(&self) -> Result<(), CmdError> {
        if self.pos < self.argv.len() {
            Err(CmdError::Syntax)
        } else {
            Ok(())
        }
    }
}

/// Parses an integer argument as Redis does (`string2ll`: canonical decimal only).
pub fn parse_int(b: &[u8]) -> Result<i64, CmdError> {
    canonical_int(b).ok_or(CmdError::NotInteger)
}

/// Parses a float argument (INCRBYFLOAT increments, scores): no spaces, no NaN.
pub fn parse_float(b: &[u8]) -> Result<f64, CmdError> {
    let s = std::str::from_utf8(b).map_err(|_| CmdError::NotFloat)?;
    if s.is_empty() || s.starts_with(|c: char| c.is_whitespace()) || s.ends_with(|c: char| c.is_whitespace()) {
        return Err(CmdError::NotFloat);
    }
    let v: f64 = s.parse().map_err(|_| CmdError::NotFloat)?;
    if v.is_nan() { Err(CmdError::NotFloat) } else { Ok(v) }
}

/// True when `arg` equals `word` ignoring ASCII case (option names).
pub fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}
