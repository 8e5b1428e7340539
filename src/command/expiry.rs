//! Expiry options shared by SET, GETEX and the EXPIRE family, with Redis 7.0's validation.
//!
//! All of them end in an absolute unix-millisecond deadline, which is also what goes into the
//! write log (R5: relative TTLs become PXAT / PEXPIREAT).

use super::args::{is, parse_int};
use super::{Args, CmdError};

/// One expiry request, before it is checked against the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpireArg {
    /// EX seconds / EXPIRE.
    RelSeconds(i64),
    /// PX milliseconds / PEXPIRE.
    RelMillis(i64),
    /// EXAT unix-seconds / EXPIREAT.
    AtSeconds(i64),
    /// PXAT unix-milliseconds / PEXPIREAT.
    AtMillis(i64),
}

impl ExpireArg {
    /// The absolute deadline in ms. SET and GETEX refuse non-positive values
    /// (`positive_only`); EXPIRE accepts them (the key is then deleted at once).
    /// Overflow gives `invalid expire time in '<cmd>' command`, as in Redis.
    pub fn deadline(self, now_ms: u64, cmd: &'static str, positive_only: bool) -> Result<i64, CmdError> {
        let invalid = CmdError::InvalidExpire(cmd);
        let (v, seconds, relative) = match self {
            ExpireArg::RelSeconds(v) => (v, true, true),
            ExpireArg::RelMillis(v) => (v, false, true),
            ExpireArg::AtSeconds(v) => (v, true, false),
            ExpireArg::AtMillis(v) => (v, false, false),
        };
        if positive_only && v <= 0 {
            return Err(invalid);
        }
        let ms = if seconds {
            v.checked_mul(1000).ok_or(invalid.clone())?
        } else {
            v
        };
        if relative {
            ms.checked_add(now_ms as i64).ok_or(invalid)
        } else {
            Ok(ms)
        }
    }
}

/// The options of SET and GETEX, parsed as Redis's shared parser does: an option may repeat
/// (the last value wins) but may not meet one it conflicts with. The expire value is only
/// parsed after every option is accepted, so a syntax error wins over a bad number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetOptions<'a> {
    pub nx: bool,
    pub xx: bool,
    pub get: bool,
    pub keep_ttl: bool,
    pub persist: bool,
    expire: Option<(ExpireUnit, &'a [u8])>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ExpireUnit {
    Ex,
    Px,
    ExAt,
    PxAt,
}

impl SetOptions<'_> {
    /// The expiry asked for, with Redis's "not an integer" error for a bad value.
    pub fn expire(&self) -> Result<Option<ExpireArg>, CmdError> {
        let Some((unit, raw)) = self.expire else {
            return Ok(None);
        };
        let v = parse_int(raw)?;
        Ok(Some(match unit {
            ExpireUnit::Ex => ExpireArg::RelSeconds(v),
            ExpireUnit::Px => ExpireArg::RelMillis(v),
            ExpireUnit::ExAt => ExpireArg::AtSeconds(v),
            ExpireUnit::PxAt => ExpireArg::AtMillis(v),
        }))
    }

    pub fn has_expire(&self) -> bool {
        self.expire.is_some()
    }
}

/// Which command's options are being parsed: SET takes NX/XX/GET/KEEPTTL, GETEX takes PERSIST.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum OptionsFor {
    Set,
    GetEx,
}

pub fn parse_set_options<'a>(args: &mut Args<'a>, target: OptionsFor) -> Result<SetOptions<'a>, CmdError> {
    let mut o = SetOptions::default();
    let set = target == OptionsFor::Set;
    while let Some(opt) = args.next_opt() {
        let has_expire = o.expire.is_some();
        if is(opt, "nx") && set && !o.xx {
            o.nx = true;
        } else if is(opt, "xx") && set && !o.nx {
            o.xx = true;
        } else if is(opt, "get") && set {
            o.get = true;
        } else if is(opt, "keepttl") && set && !o.persist && !has_expire {
            o.keep_ttl = true;
        } else if is(opt, "persist") && !set && !o.keep_ttl && !has_expire {
            o.persist = true;
        } else if let Some(unit) = expire_unit(opt) {
            let same_unit = o.expire.is_none_or(|(u, _)| u == unit);
            if o.keep_ttl || o.persist || !same_unit || args.remaining() == 0 {
                return Err(CmdError::Syntax);
            }
            o.expire = Some((unit, args.next()?));
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(o)
}

fn expire_unit(opt: &[u8]) -> Option<ExpireUnit> {
    if is(opt, "ex") {
        Some(ExpireUnit::Ex)
    } else if is(opt, "px") {
        Some(ExpireUnit::Px)
    } else if is(opt, "exat") {
        Some(ExpireUnit::ExAt)
    } else if is(opt, "pxat") {
        Some(ExpireUnit::PxAt)
    } else {
        None
    }
}

/// The NX / XX / GT / LT condition of EXPIRE and friends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExpireCondition {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

impl ExpireCondition {
    pub fn parse(args: &mut Args) -> Result<Self, CmdError> {
        let mut c = ExpireCondition::default();
        while let Some(opt) = args.next_opt() {
            if is(opt, "nx") {
                c.nx = true;
            } else if is(opt, "xx") {
                c.xx = true;
            } else if is(opt, "gt") {
                c.gt = true;
            } else if is(opt, "lt") {
                c.lt = true;
            } else {
                return Err(CmdError::other(format!(
                    "ERR Unsupported option {}",
                    super::error::printable(opt, 128)
                )));
            }
        }
        if c.nx && (c.xx || c.gt || c.lt) {
            return Err(CmdError::other(
                "ERR NX and XX, GT or LT options at the same time are not compatible",
            ));
        }
        if c.gt && c.lt {
            return Err(CmdError::other(
                "ERR GT and LT options at the same time are not compatible",
            ));
        }
        Ok(c)
    }

    /// Whether a key whose current deadline is `current` (0 = none) may get `new`.
    /// A key without a TTL counts as expiring never, i.e. later than any deadline.
    pub fn allows(&self, current: u64, new: i64) -> bool {
        let has = current != 0;
        if self.nx && has || self.xx && !has {
            return false;
        }
        if self.gt && (!has || new <= current as i64) {
            return false;
        }
        if self.lt && has && new >= current as i64 {
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str], t: OptionsFor) -> Result<Option<ExpireArg>, CmdError> {
        let argv: Vec<crate::resp::Arg> = words.iter().map(|w| crate::resp::Arg::from(*w)).collect();
        let mut a = Args::new(&argv);
        parse_set_options(&mut a, t)?.expire()
    }

    #[test]
    fn set_option_conflicts() {
        assert!(parse(&["x", "NX", "XX"], OptionsFor::Set).is_err());
        assert!(parse(&["x", "EX", "1", "PX", "1"], OptionsFor::Set).is_err());
        assert!(parse(&["x", "EX", "1", "KEEPTTL"], OptionsFor::Set).is_err());
        assert!(parse(&["x", "EX"], OptionsFor::Set).is_err());
        assert!(parse(&["x", "PERSIST"], OptionsFor::Set).is_err());
        let o = parse(&["x", "nx", "get", "ex", "5", "EX", "7"], OptionsFor::Set).unwrap();
        assert_eq!(o, Some(ExpireArg::RelSeconds(7)));
        assert_eq!(parse(&["x", "EX", "abc"], OptionsFor::Set), Err(CmdError::NotInteger));
        assert_eq!(
            parse(&["x", "EX", "abc", "foo"], OptionsFor::Set),
            Err(CmdError::Syntax)
        );
        assert_eq!(
            parse(&["x", "EX", "abc", "PX", "5"], OptionsFor::Set),
            Err(CmdError::Syntax)
        );
    }

    #[test]
    fn deadlines_and_overflow() {
        assert_eq!(ExpireArg::RelSeconds(2).deadline(1000, "set", true), Ok(3000));
        assert!(ExpireArg::RelSeconds(0).deadline(1000, "set", true).is_err());
        assert!(
            ExpireArg::RelSeconds(i64::MAX / 10)
                .deadline(1000, "set", true)
                .is_err()
        );
        assert_eq!(ExpireArg::RelSeconds(-1).deadline(1000, "expire", false), Ok(0));
    }

    #[test]
    fn conditions() {
        let gt = ExpireCondition {
            gt: true,
            ..Default::default()
        };
        assert!(!gt.allows(0, 5));
        assert!(gt.allows(4, 5));
        let lt = ExpireCondition {
            lt: true,
            ..Default::default()
        };
        assert!(lt.allows(0, 5));
        assert!(!lt.allows(4, 5));
    }
}
