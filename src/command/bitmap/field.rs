//! BITFIELD and BITFIELD_RO: signed and unsigned integers of 1 to 64 bits (unsigned: 63) at
//! any bit offset of a string, read, written and incremented with redis-server 7.0's
//! overflow rules (WRAP, SAT, FAIL) and replies.

use super::{bit_at, bit_offset, bits_for_write};
use crate::command::args::{is, parse_int};
use crate::command::string::read_string;
use crate::command::{Args, CmdError, class};
use crate::resp::Out;
use crate::shard::ShardCx;

/// What happens when SET or INCRBY goes past the field's range.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// A field's type: signedness and width in bits.
#[derive(Clone, Copy)]
struct Field {
    signed: bool,
    bits: u32,
}

impl Field {
    fn parse(arg: &[u8]) -> Result<Field, CmdError> {
        let err = || {
            CmdError::other(
                "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
            )
        };
        let signed = match arg.first() {
            Some(b'i' | b'I') => true,
            Some(b'u' | b'U') => false,
            _ => return Err(err()),
        };
        let bits = parse_int(&arg[1..]).map_err(|_| err())?;
        let max = if signed { 64 } else { 63 };
        if !(1..=max).contains(&bits) {
            return Err(err());
        }
        Ok(Field {
            signed,
            bits: bits as u32,
        })
    }

    /// The field's range of values.
    fn limits(self) -> (i128, i128) {
        if self.signed {
            (-(1i128 << (self.bits - 1)), (1i128 << (self.bits - 1)) - 1)
        } else {
            (0, (1i128 << self.bits) - 1)
        }
    }

    /// Reads the field at bit `at` (bits past the end read as zeros).
    fn get(self, bytes: &[u8], at: u64) -> i128 {
        let raw = (0..u64::from(self.bits)).fold(0u64, |v, i| (v << 1) | bit_at(bytes, at + i));
        self.value_of_raw(raw)
    }

    /// The value of the field's raw bits (sign-extended when signed).
    fn value_of_raw(self, raw: u64) -> i128 {
        let high = 1u64 << (self.bits - 1);
        if self.signed && raw & high != 0 {
            i128::from(raw) - (1i128 << self.bits)
        } else {
            i128::from(raw)
        }
    }

    /// Writes `value`'s low bits into the field at bit `at` (inside `bytes`).
    fn set(self, bytes: &mut [u8], at: u64, value: i128) {
        for i in 0..u64::from(self.bits) {
            let bit = (value >> (u64::from(self.bits) - 1 - i)) & 1;
            let pos = at + i;
            let mask = 0x80u8 >> (pos & 7);
            let byte = &mut bytes[(pos >> 3) as usize];
            *byte = if bit == 1 { *byte | mask } else { *byte & !mask };
        }
    }

    /// `value` brought into range as `overflow` says; `None` when it says FAIL.
    fn fit(self, value: i128, overflow: Overflow) -> Option<i128> {
        let (min, max) = self.limits();
        if (min..=max).contains(&value) {
            return Some(value);
        }
        match overflow {
            Overflow::Fail => None,
            Overflow::Sat => Some(value.clamp(min, max)),
            Overflow::Wrap => Some(self.value_of_raw((value & ((1i128 << self.bits) - 1)) as u64)),
        }
    }
}

/// One parsed GET, SET or INCRBY, with the OVERFLOW in force where it appeared.
struct Op {
    kind: OpKind,
    field: Field,
    at: u64,
    overflow: Overflow,
}

enum OpKind {
    Get,
    Set(i64),
    IncrBy(i64),
}

/// Parses the subcommands in redis-server's order of checks.
fn parse_ops(args: &[crate::resp::Arg]) -> Result<Vec<Op>, CmdError> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 0;
    while j < args.len() {
        let (name, left) = (&args[j], args.len() - j - 1);
        if is(name, "overflow") && left >= 1 {
            overflow = match &args[j + 1] {
                a if is(a, "wrap") => Overflow::Wrap,
                a if is(a, "sat") => Overflow::Sat,
                a if is(a, "fail") => Overflow::Fail,
                _ => return Err(CmdError::other("ERR Invalid OVERFLOW type specified")),
            };
            j += 2;
            continue;
        }
        let write = if is(name, "get") && left >= 2 {
            false
        } else if (is(name, "set") || is(name, "incrby")) && left >= 3 {
            true
        } else {
            return Err(CmdError::Syntax);
        };
        let field = Field::parse(&args[j + 1])?;
        let at = bit_offset(&args[j + 2], Some(field.bits))?;
        let kind = if !write {
            OpKind::Get
        } else {
            let n = parse_int(&args[j + 3])?;
            if is(name, "set") {
                OpKind::Set(n)
            } else {
                OpKind::IncrBy(n)
            }
        };
        ops.push(Op {
            kind,
            field,
            at,
            overflow,
        });
        j += if write { 4 } else { 3 };
    }
    Ok(ops)
}

pub fn bitfield(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    run(cx, args, out, false)
}

pub fn bitfield_ro(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    run(cx, args, out, true)
}

fn run(cx: &mut ShardCx, args: &mut Args, out: &mut Out, read_only: bool) -> Result<(), CmdError> {
    let key = args.next()?;
    let ops = parse_ops(args.rest())?;
    let reach = ops
        .iter()
        .filter(|op| !matches!(op.kind, OpKind::Get))
        .map(|op| op.at + u64::from(op.field.bits))
        .max();
    let Some(reach) = reach else {
        // Only GETs: a read, a missing key reading as zeros.
        let bytes = read_string(cx, key)?.unwrap_or_default();
        out.array(ops.len());
        for op in &ops {
            out.int(op.field.get(&bytes, op.at) as i64);
        }
        return Ok(());
    };
    if read_only {
        return Err(CmdError::other("ERR BITFIELD_RO only supports the GET subcommand"));
    }
    let (bytes, grew) = bits_for_write(cx, key, reach.div_ceil(8) as usize)?;
    out.array(ops.len());
    let mut changes = 0;
    for op in &ops {
        let old = op.field.get(bytes, op.at);
        let (wanted, reply_old) = match op.kind {
            OpKind::Get => {
                out.int(old as i64);
                continue;
            }
            // An unsigned SET takes the argument's 64 bits as unsigned, as redis-server does.
            OpKind::Set(v) if !op.field.signed => (i128::from(v as u64), true),
            OpKind::Set(v) => (i128::from(v), true),
            OpKind::IncrBy(n) => (old + i128::from(n), false),
        };
        match op.field.fit(wanted, op.overflow) {
            None => out.null(),
            Some(new) => {
                out.int(if reply_old { old } else { new } as i64);
                op.field.set(bytes, op.at, new);
                if grew || new != old {
                    changes += 1;
                }
            }
        }
    }
    if changes > 0 {
        cx.notify(class::STRING, "setbit", key);
        cx.emit_argv(args.all());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_wrap_saturate_and_fail_like_redis() {
        let i8f = Field { signed: true, bits: 8 };
        let u2 = Field { signed: false, bits: 2 };
        assert_eq!(i8f.fit(128, Overflow::Wrap), Some(-128));
        assert_eq!(i8f.fit(-129, Overflow::Wrap), Some(127));
        assert_eq!(i8f.fit(300, Overflow::Sat), Some(127));
        assert_eq!(i8f.fit(300, Overflow::Fail), None);
        assert_eq!(u2.fit(5, Overflow::Wrap), Some(1));
        assert_eq!(u2.fit(-1, Overflow::Wrap), Some(3));
        assert_eq!(u2.fit(-1, Overflow::Sat), Some(0));
        let mut bytes = [0u8; 3];
        i8f.set(&mut bytes, 4, -2);
        assert_eq!(bytes, [0x0F, 0xE0, 0]);
        assert_eq!(i8f.get(&bytes, 4), -2);
        assert_eq!(
            Field {
                signed: false,
                bits: 12
            }
            .get(&bytes, 4),
            0xFE0
        );
    }
}
