//! Range bounds and the ZRANGE family: ZRANGE (BYSCORE / BYLEX / REV / LIMIT / WITHSCORES),
//! ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX, ZREVRANGE. ZRANGESTORE
//! (`store.rs`) and ZREMRANGEBY* (`write.rs`) share the parsing and the rank arithmetic.
//!
//! Every query becomes a rank interval `[start, end)` plus a direction, computed with two
//! `count_while` descents, so a range costs O(log n + returned).

use super::*;
use crate::command::args::{is, parse_int};
use crate::resp::Arg;
use crate::util::num::parse_f64;

/// One end of a score range: `(` makes it exclusive.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreBound {
    pub value: f64,
    pub excl: bool,
}

/// Parses a score bound the way ZRANGEBYSCORE does: plain C `strtod` on the text after an
/// optional `(`. It is laxer than score parsing: leading spaces, an empty string (0) and
/// overflow (to ±inf) are accepted; only trailing junk and NaN are refused.
fn parse_score_bound(arg: &[u8]) -> Option<ScoreBound> {
    let (excl, text) = match arg.split_first() {
        Some((b'(', rest)) => (true, rest),
        _ => (false, arg),
    };
    let value = if text.is_empty() {
        0.0
    } else {
        let start = text
            .iter()
            .position(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'))?;
        let t = &text[start..];
        match parse_f64(t) {
            Some(v) => v,
            // parse_f64 refuses overflow and underflow; strtod returns ±inf or 0 for them.
            None => std::str::from_utf8(t)
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
                .filter(|v| !v.is_nan())?,
        }
    };
    Some(ScoreBound { value, excl })
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreRange {
    pub min: ScoreBound,
    pub max: ScoreBound,
}

impl ScoreRange {
    pub fn parse(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
        match (parse_score_bound(min), parse_score_bound(max)) {
            (Some(min), Some(max)) => Ok(ScoreRange { min, max }),
            _ => Err(CmdError::other("ERR min or max is not a float")),
        }
    }

    /// The ascending rank interval of the elements inside the range.
    pub fn ranks(&self, z: &ZSet) -> (usize, usize) {
        let ScoreRange { min, max } = *self;
        let start = z.count_while(|s, _| s < min.value || (min.excl && s == min.value));
        let end = z.count_while(|s, _| s < max.value || (!max.excl && s == max.value));
        (start, end.max(start))
    }
}

/// One end of a lex range: `-` and `+` are the extremes, `[` inclusive, `(` exclusive.
#[derive(Clone, Debug, PartialEq)]
pub enum LexBound {
    Min,
    Max,
    Incl(Box<[u8]>),
    Excl(Box<[u8]>),
}

impl LexBound {
    fn parse(arg: &[u8]) -> Option<LexBound> {
        match arg.split_first()? {
            (b'-', []) => Some(LexBound::Min),
            (b'+', []) => Some(LexBound::Max),
            (b'[', rest) => Some(LexBound::Incl(rest.into())),
            (b'(', rest) => Some(LexBound::Excl(rest.into())),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    pub fn parse(min: &[u8], max: &[u8]) -> Result<LexRange, CmdError> {
        match (LexBound::parse(min), LexBound::parse(max)) {
            (Some(min), Some(max)) => Ok(LexRange { min, max }),
            _ => Err(CmdError::other("ERR min or max not valid string range item")),
        }
    }

    /// The ascending rank interval of the members inside the range (members compared as
    /// bytes; meaningful when all scores are equal, as Redis documents).
    pub fn ranks(&self, z: &ZSet) -> (usize, usize) {
        let start = z.count_while(|_, m| match &self.min {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Incl(x) => m < &**x,
            LexBound::Excl(x) => m <= &**x,
        });
        let end = z.count_while(|_, m| match &self.max {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Incl(x) => m <= &**x,
            LexBound::Excl(x) => m < &**x,
        });
        (start, end.max(start))
    }
}

/// Normalises Redis start/stop indexes (negative from the end) against `len`: the inclusive
/// interval, or `None` when it is empty.
pub fn rank_interval(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut start = if start < 0 { len + start } else { start };
    let mut stop = if stop < 0 { len + stop } else { stop };
    start = start.max(0);
    if start > stop || start >= len {
        return None;
    }
    stop = stop.min(len - 1);
    Some((start as usize, stop as usize))
}

/// What a range selects.
#[derive(Clone, Debug, PartialEq)]
pub enum RangeBy {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// The kind of range before the bounds are parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum By {
    Rank,
    Score,
    Lex,
}

/// A parsed ZRANGE-style query.
#[derive(Clone, Debug, PartialEq)]
pub struct RangeQuery {
    pub by: RangeBy,
    pub rev: bool,
    pub offset: i64,
    /// -1: no limit.
    pub limit: i64,
    pub withscores: bool,
}

impl RangeQuery {
    /// Parses `min max [options]` (`argv` starts at min). `by` and `rev` are preset by the
    /// legacy commands (ZRANGEBYSCORE...), which then refuse BYLEX / REV as syntax errors.
    /// ZRANGESTORE (`store`) has no WITHSCORES. Checks run in Redis's order: the options
    /// (LIMIT values parsed as met), the conflicts, then the bounds.
    pub fn parse(argv: &[Arg], by: Option<By>, rev: Option<bool>, store: bool) -> Result<RangeQuery, CmdError> {
        let (mut by, mut rev) = (by, rev);
        let (mut withscores, mut offset, mut limit) = (false, 0i64, -1i64);
        let mut j = 2;
        while j < argv.len() {
            let opt = &argv[j];
            let left = argv.len() - j - 1;
            if !store && is(opt, "withscores") {
                withscores = true;
            } else if is(opt, "limit") && left >= 2 {
                offset = parse_int(&argv[j + 1])?;
                limit = parse_int(&argv[j + 2])?;
                j += 2;
            } else if rev.is_none() && is(opt, "rev") {
                rev = Some(true);
            } else if by.is_none() && is(opt, "bylex") {
                by = Some(By::Lex);
            } else if by.is_none() && is(opt, "byscore") {
                by = Some(By::Score);
            } else {
                return Err(CmdError::Syntax);
            }
            j += 1;
        }
        let rev = rev.unwrap_or(false);
        let by = by.unwrap_or(By::Rank);
        if limit != -1 && by == By::Rank {
            return Err(CmdError::other(
                "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
            ));
        }
        if withscores && by == By::Lex {
            return Err(CmdError::other(
                "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
            ));
        }
        // Reverse score and lex ranges are written max first.
        let (lo, hi) = if rev && by != By::Rank {
            (&argv[1], &argv[0])
        } else {
            (&argv[0], &argv[1])
        };
        let by = match by {
            By::Rank => RangeBy::Rank(parse_int(lo)?, parse_int(hi)?),
            By::Score => RangeBy::Score(ScoreRange::parse(lo, hi)?),
            By::Lex => RangeBy::Lex(LexRange::parse(lo, hi)?),
        };
        Ok(RangeQuery {
            by,
            rev,
            offset,
            limit,
            withscores,
        })
    }

    /// The ascending rank interval `[start, end)` to visit and whether to visit it backwards.
    pub fn plan(&self, z: &ZSet) -> (usize, usize, bool) {
        let len = z.len();
        let (a, b) = match &self.by {
            RangeBy::Rank(start, stop) => {
                let Some((s, e)) = rank_interval(*start, *stop, len) else {
                    return (0, 0, self.rev);
                };
                // For a reverse range the indexes count from the highest score.
                return if self.rev {
                    (len - 1 - e, len - s, true)
                } else {
                    (s, e + 1, false)
                };
            }
            RangeBy::Score(r) => r.ranks(z),
            RangeBy::Lex(r) => r.ranks(z),
        };
        // LIMIT: a negative offset selects nothing, a negative count means "all".
        if self.offset < 0 {
            return (0, 0, self.rev);
        }
        let skip = usize::try_from(self.offset).unwrap_or(usize::MAX);
        let avail = (b - a).saturating_sub(skip);
        let n = match usize::try_from(self.limit) {
            Ok(limit) => avail.min(limit),
            Err(_) => avail,
        };
        if n == 0 {
            (0, 0, self.rev)
        } else if self.rev {
            (b - skip - n, b - skip, true)
        } else {
            (a + skip, a + skip + n, false)
        }
    }

    /// The selected elements, in reply order (ZRANGESTORE copies them out of the source).
    pub fn collect(&self, z: &ZSet) -> Vec<(Box<[u8]>, f64)> {
        let (start, end, rev) = self.plan(z);
        let mut items = Vec::with_capacity(end - start);
        z.walk(start, end, rev, |m, s| {
            items.push((m.into(), s));
            true
        });
        items
    }
}

/// Runs a range query on `key` and writes the reply.
fn range_reply(
    cx: &mut ShardCx,
    args: &mut Args,
    out: &mut Out,
    by: Option<By>,
    rev: Option<bool>,
) -> Result<(), CmdError> {
    let argv = args.all();
    let q = RangeQuery::parse(&argv[2..], by, rev, false)?;
    let Some(z) = read_zset(cx, &argv[1])? else {
        out.array(0);
        return Ok(());
    };
    let (start, end, rev) = q.plan(z);
    reply_elements_header(out, end - start, q.withscores);
    z.walk(start, end, rev, |m, s| {
        reply_element(out, m, s, q.withscores);
        true
    });
    Ok(())
}

pub fn zrange(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    range_reply(cx, args, out, None, None)
}

pub fn zrevrange(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    range_reply(cx, args, out, Some(By::Rank), Some(true))
}

pub fn zrangebyscore(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    range_reply(cx, args, out, Some(By::Score), Some(false))
}

pub fn zrevrangebyscore(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    range_reply(cx, args, out, Some(By::Score), Some(true))
}

pub fn zrangebylex(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    range_reply(cx, args, out, Some(By::Lex), Some(false))
}

pub fn zrevrangebylex(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    range_reply(cx, args, out, Some(By::Lex), Some(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_bounds_parse_like_strtod() {
        let b = |s: &[u8]| parse_score_bound(s).map(|b| (b.value, b.excl));
        assert_eq!(b(b"(1.5"), Some((1.5, true)));
        assert_eq!(b(b""), Some((0.0, false)));
        assert_eq!(b(b"("), Some((0.0, true)));
        assert_eq!(b(b" 2"), Some((2.0, false)));
        assert_eq!(b(b"1e400"), Some((f64::INFINITY, false)));
        assert_eq!(b(b"-inf"), Some((f64::NEG_INFINITY, false)));
        assert_eq!(b(b"nan"), None);
        assert_eq!(b(b"1x"), None);
        assert_eq!(b(b"[1"), None);
    }

    #[test]
    fn rank_intervals() {
        assert_eq!(rank_interval(0, -1, 3), Some((0, 2)));
        assert_eq!(rank_interval(-100, 100, 3), Some((0, 2)));
        assert_eq!(rank_interval(2, 1, 3), None);
        assert_eq!(rank_interval(3, 5, 3), None);
    }
}
