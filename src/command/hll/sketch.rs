//! The HyperLogLog string format redis-server reads and writes, so a sketch moves between the
//! two servers unchanged (RDB, replication, DUMP, GET/SET).
//!
//! A 16-byte header (`HYLL`, the encoding, three unused bytes, the cached cardinality as a
//! little-endian u64 whose top bit marks it stale), then 16384 six-bit registers: dense, packed
//! little-endian bit first into 12288 bytes; or sparse, as runs: ZERO `00xxxxxx` (1 to 64 zero
//! registers), XZERO `01xxxxxx yyyyyyyy` (1 to 16384), VAL `1vvvvvxx` (1 to 4 registers of
//! value 1 to 32). An element sets register `h & 16383` to the position of the lowest set
//! bit of `h >> 14` (with bit 50 set), where `h` is MurmurHash64A with seed 0xadc83b19. A
//! sparse sketch turns dense when a register passes 32 or it would grow past
//! `hll-sparse-max-bytes`; a change rewrites at most the run it lands in and then merges equal
//! neighbouring VAL runs, as redis-server does, so both produce the same bytes.

/// Registers, and the bits of the hash that pick one.
pub const REGISTERS: usize = 16384;
const INDEX_BITS: u32 = 14;
/// Bits of the hash left to count zeros in.
const Q: usize = 64 - INDEX_BITS as usize;
const HEADER: usize = 16;
pub const DENSE_LEN: usize = HEADER + REGISTERS * 6 / 8;
const SPARSE: u8 = 1;
const DENSE: u8 = 0;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const XZERO_MAX_LEN: usize = 16384;
const SEED: u64 = 0xadc8_3b19;
const STALE: u8 = 0x80;

/// The sketch cannot be read: a string that is not one (WRONGTYPE), or one whose sparse runs
/// do not add up (INVALIDOBJ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bad {
    NotHll,
    Corrupt,
}

/// Checks the header as redis-server does before it touches a sketch.
pub fn check(bytes: &[u8]) -> Result<(), Bad> {
    if bytes.len() < HEADER || &bytes[..4] != b"HYLL" || bytes[4] > SPARSE {
        return Err(Bad::NotHll);
    }
    if bytes[4] == DENSE && bytes.len() != DENSE_LEN {
        return Err(Bad::NotHll);
    }
    Ok(())
}

/// A new, empty sketch: sparse, one XZERO run over every register, cached count 0.
pub fn empty() -> Vec<u8> {
    let mut v = b"HYLL".to_vec();
    v.extend_from_slice(&[SPARSE, 0, 0, 0]);
    v.extend_from_slice(&[0; 8]);
    push_zeros(&mut v, REGISTERS);
    v
}

/// The register an element lands in and the value it offers.
fn register_of(element: &[u8]) -> (usize, u8) {
    let hash = murmur2::murmur64a(element, SEED);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> INDEX_BITS) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// The cached cardinality, when it is not stale.
pub fn cached(bytes: &[u8]) -> Option<u64> {
    (bytes[15] & STALE == 0).then(|| u64::from_le_bytes(bytes[8..16].try_into().expect("eight bytes")))
}

pub fn set_cached(bytes: &mut [u8], count: u64) {
    bytes[8..16].copy_from_slice(&count.to_le_bytes());
}

pub fn mark_stale(bytes: &mut [u8]) {
    bytes[15] |= STALE;
}

fn dense_get(regs: &[u8], i: usize) -> u8 {
    let (byte, shift) = (i * 6 / 8, i * 6 % 8);
    let lo = u16::from(regs[byte]);
    let hi = u16::from(regs.get(byte + 1).copied().unwrap_or(0));
    (((lo | (hi << 8)) >> shift) & 63) as u8
}

fn dense_set(regs: &mut [u8], i: usize, value: u8) {
    let (byte, shift) = (i * 6 / 8, i * 6 % 8);
    let both = (u16::from(value) << shift, 63u16 << shift);
    regs[byte] = (regs[byte] & !(both.1 as u8)) | both.0 as u8;
    if byte + 1 < regs.len() {
        regs[byte + 1] = (regs[byte + 1] & !((both.1 >> 8) as u8)) | (both.0 >> 8) as u8;
    }
}

/// One sparse run: `len` registers of `value` (0 for the zero runs), `width` bytes long.
#[derive(Clone, Copy)]
struct Run {
    value: u8,
    len: usize,
    width: usize,
}

fn run_at(s: &[u8], at: usize) -> Result<Run, Bad> {
    let b = s[at];
    Ok(if b & 0x80 != 0 {
        Run {
            value: ((b >> 2) & 31) + 1,
            len: usize::from(b & 3) + 1,
            width: 1,
        }
    } else if b & 0x40 != 0 {
        let next = *s.get(at + 1).ok_or(Bad::Corrupt)?;
        Run {
            value: 0,
            len: ((usize::from(b & 0x3f) << 8) | usize::from(next)) + 1,
            width: 2,
        }
    } else {
        Run {
            value: 0,
            len: usize::from(b & 0x3f) + 1,
            width: 1,
        }
    })
}

/// Appends zero runs covering `n` registers (one run when it fits).
fn push_zeros(out: &mut Vec<u8>, mut n: usize) {
    while n > 0 {
        let len = n.min(XZERO_MAX_LEN);
        if len > ZERO_MAX_LEN {
            out.extend_from_slice(&[0x40 | ((len - 1) >> 8) as u8, ((len - 1) & 0xff) as u8]);
        } else {
            out.push((len - 1) as u8);
        }
        n -= len;
    }
}

fn val_byte(value: u8, len: usize) -> u8 {
    0x80 | ((value - 1) << 2) | (len - 1) as u8
}

/// Calls `f(register, value)` for every register, sparse or dense; Corrupt when the runs do
/// not cover the registers exactly.
fn for_each_register(bytes: &[u8], mut f: impl FnMut(usize, u8)) -> Result<(), Bad> {
    let regs = &bytes[HEADER..];
    if bytes[4] == DENSE {
        (0..REGISTERS).for_each(|i| f(i, dense_get(regs, i)));
        return Ok(());
    }
    let (mut at, mut i) = (0, 0);
    while at < regs.len() {
        let run = run_at(regs, at)?;
        if i + run.len > REGISTERS {
            return Err(Bad::Corrupt);
        }
        (i..i + run.len).for_each(|r| f(r, run.value));
        i += run.len;
        at += run.width;
    }
    if i == REGISTERS { Ok(()) } else { Err(Bad::Corrupt) }
}

/// Raises `max[i]` to each register of the sketch.
pub fn merge_into(bytes: &[u8], max: &mut [u8; REGISTERS]) -> Result<(), Bad> {
    for_each_register(bytes, |i, v| max[i] = max[i].max(v))
}

/// The estimate of distinct elements from register values (Ertl's improved estimator, with
/// redis-server's constants, so both servers answer the same number).
pub fn estimate(values: impl Iterator<Item = u8>) -> u64 {
    let mut histogram = [0u32; 64];
    values.for_each(|v| histogram[usize::from(v & 63)] += 1);
    let m = REGISTERS as f64;
    let mut z = m * tau((m - f64::from(histogram[Q + 1])) / m);
    for j in (1..=Q).rev() {
        z += f64::from(histogram[j]);
        z *= 0.5;
    }
    z += m * sigma(f64::from(histogram[0]) / m);
    (0.721_347_520_444_481_7 * m * m / z).round() as u64
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let (mut y, mut z) = (1.0, x);
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if z == before {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let (mut y, mut z) = (1.0, 1.0 - x);
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if z == before {
            return z / 3.0;
        }
    }
}

/// The sketch's cardinality from its registers.
pub fn count(bytes: &[u8]) -> Result<u64, Bad> {
    let mut values = Vec::with_capacity(REGISTERS);
    for_each_register(bytes, |_, v| values.push(v))?;
    Ok(estimate(values.into_iter()))
}

/// Rewrites a sparse sketch as a dense one with the same header.
pub fn to_dense(bytes: &[u8]) -> Result<Vec<u8>, Bad> {
    let mut dense = bytes[..HEADER].to_vec();
    dense[4] = DENSE;
    dense.resize(DENSE_LEN, 0);
    let regs = &mut dense[HEADER..];
    let mut values = [0u8; REGISTERS];
    for_each_register(bytes, |i, v| values[i] = v)?;
    for (i, &v) in values.iter().enumerate().filter(|(_, v)| **v > 0) {
        dense_set(regs, i, v);
    }
    Ok(dense)
}

/// Raises register `index` to `value` in `sketch` (a checked sketch); true when it changed.
/// A sparse sketch may turn dense (`sparse_max` is `hll-sparse-max-bytes`).
pub fn raise(sketch: &mut Vec<u8>, index: usize, value: u8, sparse_max: usize) -> Result<bool, Bad> {
    if sketch[4] == SPARSE {
        if value <= VAL_MAX_VALUE
            && let Some(changed) = sparse_raise(sketch, index, value, sparse_max)?
        {
            return Ok(changed);
        }
        *sketch = to_dense(sketch)?;
    }
    Ok(dense_raise(sketch, index, value))
}

/// `raise` on a dense sketch, in place.
fn dense_raise(sketch: &mut [u8], index: usize, value: u8) -> bool {
    let regs = &mut sketch[HEADER..];
    if dense_get(regs, index) >= value {
        return false;
    }
    dense_set(regs, index, value);
    true
}

/// Adds an element to a dense sketch in place (a dense sketch never changes size); true when
/// a register changed.
pub fn add_dense(sketch: &mut [u8], element: &[u8]) -> bool {
    let (index, value) = register_of(element);
    dense_raise(sketch, index, value)
}

/// Adds an element; true when a register changed.
pub fn add(sketch: &mut Vec<u8>, element: &[u8], sparse_max: usize) -> Result<bool, Bad> {
    let (index, value) = register_of(element);
    raise(sketch, index, value, sparse_max)
}

/// The sparse update: `None` when the sketch must turn dense first (it would outgrow
/// `sparse_max`).
fn sparse_raise(sketch: &mut Vec<u8>, index: usize, value: u8, sparse_max: usize) -> Result<Option<bool>, Bad> {
    let regs = &sketch[HEADER..];
    // Find the run holding `index`, and the one before it.
    let (mut at, mut first, mut prev) = (0, 0, None);
    let run = loop {
        if at >= regs.len() {
            return Err(Bad::Corrupt);
        }
        let run = run_at(regs, at)?;
        if index < first + run.len {
            break run;
        }
        prev = Some(at);
        first += run.len;
        at += run.width;
    };
    if run.value >= value {
        return Ok(Some(false));
    }
    let start = HEADER + at;
    if run.len == 1 {
        // A single register: rewrite its run in place.
        if run.width == 1 {
            sketch[start] = val_byte(value, 1);
        } else {
            sketch.splice(start..start + 2, [val_byte(value, 1)]);
        }
    } else {
        // Split the run: what precedes `index`, the register itself, what follows.
        let (before, after) = (index - first, first + run.len - 1 - index);
        let mut seq = Vec::with_capacity(5);
        let fill = |seq: &mut Vec<u8>, n: usize| {
            if n == 0 {
                return;
            }
            if run.value == 0 {
                push_zeros(seq, n);
            } else {
                seq.push(val_byte(run.value, n));
            }
        };
        fill(&mut seq, before);
        seq.push(val_byte(value, 1));
        fill(&mut seq, after);
        let grows = seq.len() - run.width;
        if grows > 0 && sketch.len() + grows > sparse_max {
            return Ok(None);
        }
        sketch.splice(start..start + run.width, seq);
    }
    merge_neighbours(sketch, prev.unwrap_or(0));
    mark_stale(sketch);
    Ok(Some(true))
}

/// Merges equal VAL runs next to each other, looking at up to five runs from `from`.
fn merge_neighbours(sketch: &mut Vec<u8>, from: usize) {
    let mut at = HEADER + from;
    let mut left = 5;
    while at < sketch.len() && left > 0 {
        left -= 1;
        let b = sketch[at];
        if b & 0xc0 == 0x40 {
            at += 2;
            continue;
        }
        if b & 0x80 == 0 {
            at += 1;
            continue;
        }
        if let Some(&next) = sketch.get(at + 1)
            && next & 0x80 != 0
            && (b >> 2) & 31 == (next >> 2) & 31
        {
            let len = usize::from(b & 3) + usize::from(next & 3) + 2;
            if len <= VAL_MAX_LEN {
                sketch[at + 1] = val_byte(((b >> 2) & 31) + 1, len);
                sketch.remove(at);
                continue;
            }
        }
        at += 1;
    }
}

/// Writes `max` into `sketch` (a checked sketch), raising each register; dense first when
/// `dense` (PFMERGE turns its target dense when a source is).
pub fn store_max(sketch: &mut Vec<u8>, max: &[u8; REGISTERS], dense: bool, sparse_max: usize) -> Result<(), Bad> {
    if dense && sketch[4] == SPARSE {
        *sketch = to_dense(sketch)?;
    }
    for (i, &v) in max.iter().enumerate().filter(|(_, v)| **v > 0) {
        raise(sketch, i, v, sparse_max)?;
    }
    mark_stale(sketch);
    Ok(())
}

/// The registers of a dense sketch, in order.
pub fn dense_registers(bytes: &[u8]) -> impl Iterator<Item = u8> + '_ {
    (0..REGISTERS).map(|i| dense_get(&bytes[HEADER..], i))
}

/// A sparse sketch's runs as PFDEBUG DECODE spells them: `z:n` and `Z:n` for zero runs,
/// `v:value,n` for value runs.
pub fn describe_runs(bytes: &[u8]) -> Result<String, Bad> {
    let regs = &bytes[HEADER..];
    let mut words = Vec::new();
    let mut at = 0;
    while at < regs.len() {
        let run = run_at(regs, at)?;
        words.push(match (run.value, run.width) {
            (0, 1) => format!("z:{}", run.len),
            (0, _) => format!("Z:{}", run.len),
            (v, _) => format!("v:{v},{}", run.len),
        });
        at += run.width;
    }
    Ok(words.join(" "))
}

/// PFSELFTEST: dense registers keep what is written to them, and sparse and dense sketches
/// fed the same elements agree and stay within the estimator's error; the first failure
/// found, if any.
pub fn self_test() -> Result<(), String> {
    let mut regs = vec![0u8; REGISTERS * 6 / 8];
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..1000 {
        let values: Vec<u8> = (0..REGISTERS).map(|_| (next() & 63) as u8).collect();
        values.iter().enumerate().for_each(|(i, &v)| dense_set(&mut regs, i, v));
        if let Some(i) = (0..REGISTERS).find(|&i| dense_get(&regs, i) != values[i]) {
            return Err(format!("Register error at index {i}"));
        }
    }
    let (mut sparse, mut dense) = (empty(), to_dense(&empty()).map_err(|_| "conversion".to_string())?);
    let error_bound = 1.04 / (REGISTERS as f64).sqrt();
    let mut checkpoint = 1u64;
    for n in 1..=100_000u64 {
        let element = n.to_le_bytes();
        // The sparse one turns dense past the default size, as it would in use.
        add(&mut sparse, &element, 3000).map_err(|_| "sparse add".to_string())?;
        add(&mut dense, &element, 3000).map_err(|_| "dense add".to_string())?;
        if n != checkpoint {
            continue;
        }
        let (a, b) = (count(&sparse), count(&dense));
        if a != b {
            return Err(format!("Sparse and dense sketches disagree at {n}: {a:?} and {b:?}"));
        }
        let estimate = b.unwrap_or(0) as f64;
        // Small counts may be off by one or two; large ones stay within a few standard errors.
        let bound = (error_bound * 4.0 * n as f64).max(2.0);
        if (estimate - n as f64).abs() > bound {
            return Err(format!("Approximation error at {n}: estimated {estimate}"));
        }
        checkpoint *= 10;
    }
    Ok(())
}

/// Whether the sketch is dense.
pub fn is_dense(bytes: &[u8]) -> bool {
    bytes[4] == DENSE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_sketch_is_one_xzero_run() {
        let e = empty();
        assert_eq!(e.len(), 18);
        assert_eq!(&e[16..], &[0x7f, 0xff]);
        assert_eq!(count(&e), Ok(0));
        assert_eq!(cached(&e), Some(0));
    }

    #[test]
    fn sparse_and_dense_agree() {
        let mut sparse = empty();
        for i in 0..2000 {
            add(&mut sparse, format!("e{i}").as_bytes(), 1 << 20).unwrap();
        }
        assert!(!is_dense(&sparse));
        let dense = to_dense(&sparse).unwrap();
        assert_eq!(count(&sparse), count(&dense));
        let n = count(&dense).unwrap() as f64;
        assert!((n - 2000.0).abs() < 100.0, "{n}");
        let mut max = [0u8; REGISTERS];
        merge_into(&sparse, &mut max).unwrap();
        let mut back = empty();
        store_max(&mut back, &max, false, 1 << 20).unwrap();
        assert_eq!(count(&back), count(&sparse));
    }

    #[test]
    fn dense_registers_round_trip() {
        let mut regs = vec![0u8; REGISTERS * 6 / 8];
        for i in [0, 1, 2, 3, 5, 100, REGISTERS - 2, REGISTERS - 1] {
            dense_set(&mut regs, i, (i % 63 + 1) as u8);
        }
        for i in [0, 1, 2, 3, 5, 100, REGISTERS - 2, REGISTERS - 1] {
            assert_eq!(dense_get(&regs, i), (i % 63 + 1) as u8, "{i}");
        }
        assert_eq!(dense_get(&regs, 4), 0);
    }
}
