//! The one door every write on a shard goes through.
//!
//! A command handler calls `ShardCx::emit` with the command as Redis 7.0 would propagate it
//! (`../shared/spec/replication-and-rdb.md`, section 4: absolute expiry times, DEL for expiry,
//! SET for INCRBYFLOAT...). Here it counts towards `dirty` (save points, INFO) and, only when
//! a consumer (replication, a snapshot) has switched the log on, is encoded as a RESP record.
//! With nothing attached an emit is one increment and one branch.

/// One propagated write, borrowed from its `WriteRecords`: the db it applies to and the command
/// as a RESP array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteRecord<'a> {
    pub db: usize,
    pub resp: &'a [u8],
}

/// Write records back to back in one buffer, with each one's db and end. A pipelined batch of
/// writes costs two allocations however many records it makes, and the coordinator thread
/// frees them in two calls rather than one per record.
#[derive(Default, Debug, Clone, PartialEq, Eq)]
pub struct WriteRecords {
    bytes: Vec<u8>,
    /// (db, end of the record's bytes)
    spans: Vec<(usize, usize)>,
}

impl WriteRecords {
    /// One record of already-encoded RESP.
    pub fn one(db: usize, resp: &[u8]) -> WriteRecords {
        let mut r = WriteRecords::default();
        r.push_resp(db, resp);
        r
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Appends `args` encoded as a RESP array.
    pub fn push(&mut self, db: usize, args: &[&[u8]]) {
        encode_command(&mut self.bytes, args);
        self.spans.push((db, self.bytes.len()));
    }

    /// Appends a record already encoded.
    pub fn push_resp(&mut self, db: usize, resp: &[u8]) {
        self.bytes.extend_from_slice(resp);
        self.spans.push((db, self.bytes.len()));
    }

    /// Appends `other`'s records after these.
    pub fn extend(&mut self, other: WriteRecords) {
        if self.is_empty() {
            *self = other;
            return;
        }
        let base = self.bytes.len();
        self.bytes.extend_from_slice(&other.bytes);
        self.spans.extend(other.spans.iter().map(|&(db, end)| (db, base + end)));
    }

    pub fn clear(&mut self) {
        self.bytes.clear();
        self.spans.clear();
    }

    pub fn iter(&self) -> impl Iterator<Item = WriteRecord<'_>> {
        let mut start = 0;
        self.spans.iter().map(move |&(db, end)| {
            let resp = &self.bytes[start..end];
            start = end;
            WriteRecord { db, resp }
        })
    }
}

#[derive(Default, Debug)]
pub struct WriteLog {
    enabled: bool,
    /// Writes since the last successful save (Redis's `server.dirty`).
    pub dirty: u64,
    records: WriteRecords,
}

impl WriteLog {
    /// Turns record encoding on or off (replication and snapshots switch it on).
    pub fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
        if !on {
            self.records.clear();
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    pub fn emit(&mut self, db: usize, args: &[&[u8]]) {
        self.dirty += 1;
        if self.enabled {
            self.records.push(db, args);
        }
    }

    /// Takes the records emitted since the last drain.
    pub fn drain(&mut self) -> WriteRecords {
        std::mem::take(&mut self.records)
    }
}

/// Encodes a command as a RESP array of bulk strings.
pub fn encode_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    let mut n = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(n.format(args.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        out.push(b'$');
        out.extend_from_slice(n.format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_log_only_counts() {
        let mut log = WriteLog::default();
        log.emit(0, &[b"SET", b"k", b"v"]);
        assert_eq!(log.dirty, 1);
        assert!(log.drain().is_empty());
        log.set_enabled(true);
        log.emit(3, &[b"DEL", b"k"]);
        log.emit(4, &[b"SET", b"a", b"b"]);
        let drained = log.drain();
        assert_eq!(
            drained.iter().collect::<Vec<_>>(),
            [
                WriteRecord {
                    db: 3,
                    resp: b"*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n"
                },
                WriteRecord {
                    db: 4,
                    resp: b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\nb\r\n"
                }
            ]
        );
        assert!(log.drain().is_empty());
    }

    #[test]
    fn extend_keeps_each_record_whole() {
        let mut a = WriteRecords::one(0, b"x");
        a.extend(WriteRecords::default());
        let mut b = WriteRecords::one(1, b"yy");
        b.push_resp(2, b"zzz");
        a.extend(b);
        let got: Vec<(usize, &[u8])> = a.iter().map(|r| (r.db, r.resp)).collect();
        assert_eq!(got, [(0, &b"x"[..]), (1, &b"yy"[..]), (2, &b"zzz"[..])]);
        assert_eq!(a.len(), 3);
    }
}
