//! The replication backlog: the last `repl-backlog-size` bytes of the stream, addressed by
//! global offset, from which a replica that reconnects resumes (`+CONTINUE`, R7).

use std::collections::VecDeque;

pub struct Backlog {
    buf: VecDeque<u8>,
    size: usize,
    /// Offset of the first byte in `buf` (Redis's `repl_backlog_first_byte_offset`).
    first_offset: i64,
}

impl Backlog {
    /// An empty backlog whose next byte will have offset `next_offset`.
    pub fn new(size: usize, next_offset: i64) -> Backlog {
        Backlog {
            buf: VecDeque::new(),
            size: size.max(16 * 1024),
            first_offset: next_offset,
        }
    }

    pub fn append(&mut self, bytes: &[u8]) {
        self.buf.extend(bytes);
        let excess = self.buf.len().saturating_sub(self.size);
        if excess > 0 {
            self.buf.drain(..excess);
            self.first_offset += excess as i64;
        }
    }

    pub fn first_offset(&self) -> i64 {
        self.first_offset
    }

    pub fn histlen(&self) -> usize {
        self.buf.len()
    }

    pub fn size(&self) -> usize {
        self.size
    }

    pub fn resize(&mut self, size: usize) {
        self.size = size.max(16 * 1024);
        self.append(&[]);
    }

    /// The bytes from `offset` to the end, if the backlog still has them all.
    pub fn since(&self, offset: i64) -> Option<Vec<u8>> {
        let end = self.first_offset + self.buf.len() as i64;
        if offset < self.first_offset || offset > end {
            return None;
        }
        let skip = (offset - self.first_offset) as usize;
        Some(self.buf.iter().skip(skip).copied().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_tail_and_serves_offsets() {
        let mut b = Backlog::new(16 * 1024, 1);
        b.append(&vec![b'x'; 20_000]);
        assert_eq!(b.histlen(), 16 * 1024);
        assert_eq!(b.first_offset(), 1 + 20_000 - 16 * 1024);
        assert!(b.since(1).is_none());
        assert_eq!(b.since(20_001).map(|v| v.len()), Some(0));
        assert_eq!(b.since(20_000).map(|v| v.len()), Some(1));
    }
}
