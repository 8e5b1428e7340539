//! The one door every write on a shard goes through.
//!
//! A command handler calls `ShardCx::emit` with the command as Redis 7.0 would propagate it
//! (`../shared/spec/replication-and-rdb.md`, section 4: absolute expiry times, DEL for expiry,
//! SET for INCRBYFLOAT...). Here it counts towards `dirty` (save points, INFO) and, only when
//! a consumer (replication, a snapshot) has switched the log on, is encoded as a RESP record.
//! With nothing attached an emit is one increment and one branch.

/// One propagated write: the db it applies to and the command as a RESP array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteRecord {
    pub db: usize,
    pub resp: Vec<u8>,
}

#[derive(Default, Debug)]
pub struct WriteLog {
    enabled: bool,
    /// Writes since the last successful save (Redis's `server.dirty`).
    pub dirty: u64,
    records: Vec<WriteRecord>,
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
        if !self.enabled {
            return;
        }
        let mut resp = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
        encode_command(&mut resp, args);
        self.records.push(WriteRecord { db, resp });
    }

    /// Takes the records emitted since the last drain.
    pub fn drain(&mut self) -> Vec<WriteRecord> {
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
        assert_eq!(
            log.drain(),
            vec![WriteRecord {
                db: 3,
                resp: b"*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n".to_vec()
            }]
        );
    }
}
