//! The full-sync payload, received to disk as redis-server 7.0 does by default
//! (`repl-diskless-load disabled`): the bytes go to `dir/temp-<unixtime>.<pid>.rdb` as they
//! arrive, so memory stays at one read buffer whatever the dataset's size; once complete the
//! file is fsynced, loaded into the shards (clients get `-LOADING` meanwhile) and renamed to
//! `dbfilename`, so the replica's dump is the master's snapshot, `repl-id` and `repl-offset`
//! included (which is what lets a restarted replica continue with PSYNC).
//!
//! Both payload forms are handled: `$<len>` (exactly len bytes follow) and `$EOF:<40 bytes>`
//! (the bytes end with the same 40-byte mark; the size is unknown until then). The mark may
//! be split across reads, so up to 39 received bytes are held back until it is known they are
//! not its beginning.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::{LOAD_BATCH, Link, progress};
use crate::rdb::{RdbEntry, RdbReader};
use crate::shard::shard_of;
use crate::txn::{CoreCx, Lock};

/// File bytes of loaded entries a shard is sent at most at once.
const LOAD_BATCH_BYTES: u64 = 4 << 20;

/// Length of the random mark that ends an EOF-marked payload.
pub const EOF_MARK_LEN: usize = 40;

/// Finds the end of an EOF-marked payload in a sequence of reads, holding back only the
/// bytes that could still be the start of the mark.
pub struct EofMark {
    mark: Vec<u8>,
    /// Received bytes not passed on yet: fewer than the mark's length, and not the mark.
    held: Vec<u8>,
}

impl EofMark {
    pub fn new(mark: &[u8]) -> EofMark {
        EofMark {
            mark: mark.to_vec(),
            held: Vec::with_capacity(mark.len()),
        }
    }

    /// Takes the next received bytes and passes every byte known to be payload to `emit`.
    /// Answers `Some(n)` once the mark is complete, `n` being how many bytes of `data` the
    /// payload and mark used (anything after them is the stream).
    pub fn feed<E>(&mut self, data: &[u8], emit: &mut impl FnMut(&[u8]) -> Result<(), E>) -> Result<Option<usize>, E> {
        let m = self.mark.len();
        // A mark that starts in the held bytes and ends in `data`.
        if !self.held.is_empty() {
            let mut window = self.held.clone();
            window.extend_from_slice(&data[..data.len().min(m - 1)]);
            let starts = self.held.len();
            if let Some(s) = (0..starts).find(|&s| window.len() >= s + m && window[s..s + m] == self.mark[..]) {
                emit(&self.held[..s])?;
                self.held.clear();
                return Ok(Some(s + m - starts));
            }
        }
        // A mark wholly inside `data`.
        if data.len() >= m
            && let Some(p) = data.windows(m).position(|w| w == &self.mark[..])
        {
            emit(&self.held)?;
            self.held.clear();
            emit(&data[..p])?;
            return Ok(Some(p + m));
        }
        // No mark yet: keep the last m-1 bytes, the longest possible start of one.
        let keep = m - 1;
        if data.len() >= keep {
            emit(&self.held)?;
            self.held.clear();
            emit(&data[..data.len() - keep])?;
            self.held.extend_from_slice(&data[data.len() - keep..]);
        } else {
            let from_held = keep - data.len();
            if self.held.len() > from_held {
                let cut = self.held.len() - from_held;
                emit(&self.held[..cut])?;
                self.held.drain(..cut);
            }
            self.held.extend_from_slice(data);
        }
        Ok(None)
    }
}

/// The temp file a payload is written to; removed on drop unless it was renamed.
pub struct TempRdb {
    path: PathBuf,
    file: Option<std::fs::File>,
    pub written: u64,
}

impl TempRdb {
    fn create(dir: &str) -> Result<TempRdb, String> {
        let name = format!("temp-{}.{}.rdb", crate::shard::unix_ms() / 1000, std::process::id());
        let path = Path::new(dir).join(name);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| format!("Opening the temp file needed for MASTER <-> REPLICA synchronization: {e}"))?;
        Ok(TempRdb {
            path,
            file: Some(file),
            written: 0,
        })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        if bytes.is_empty() {
            return Ok(());
        }
        let file = self.file.as_mut().ok_or("temp file already closed")?;
        file.write_all(bytes)
            .map_err(|e| format!("Write error or short write writing to the DB dump file needed for MASTER <-> REPLICA synchronization: {e}"))?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Fsyncs and closes the file, off the core (a large fsync can take seconds).
    async fn sync(&mut self) -> Result<(), String> {
        let Some(file) = self.file.take() else {
            return Ok(());
        };
        off_core(move || file.sync_all()).await.map_err(|e| {
            format!("Failed trying to sync the temp DB to disk in MASTER <-> REPLICA synchronization: {e}")
        })
    }

    /// Renames the file to `dir/name` and fsyncs the directory, off the core.
    pub async fn install(mut self, dir: &str, name: &str) -> Result<(), String> {
        let (from, dir) = (std::mem::take(&mut self.path), PathBuf::from(dir));
        let to = dir.join(name);
        let result = off_core(move || {
            std::fs::rename(&from, &to).inspect_err(|_| {
                let _ = std::fs::remove_file(&from);
            })?;
            if let Ok(d) = std::fs::File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })
        .await;
        result.map_err(|e| {
            format!("Failed trying to rename the temp DB into {name} in MASTER <-> REPLICA synchronization: {e}")
        })
    }
}

impl Drop for TempRdb {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Runs blocking file work on a plain thread and waits for it without blocking the core.
async fn off_core<T: Send + 'static>(f: impl FnOnce() -> std::io::Result<T> + Send + 'static) -> std::io::Result<T> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::Builder::new()
        .name("shoal-repl-file".into())
        .spawn(move || {
            let _ = tx.send(f());
        })?;
    loop {
        match rx.try_recv() {
            Ok(r) => return r,
            Err(crossbeam_channel::TryRecvError::Empty) => {
                crate::runtime::sleep(std::time::Duration::from_millis(1)).await;
            }
            Err(crossbeam_channel::TryRecvError::Disconnected) => {
                return Err(std::io::Error::other("file thread ended without an answer"));
            }
        }
    }
}

/// Receives the payload announced by `header` (`$<len>` or `$EOF:<mark>`) into a temp file
/// in `dir`, leaving any byte after it in `link.buf` for the stream. The file is fsynced.
pub(super) async fn receive(link: &mut Link, header: &str) -> Result<TempRdb, String> {
    let Some(spec) = header.strip_prefix('$') else {
        return Err(format!(
            "Bad protocol from MASTER, the first byte is not '$' (we received '{header}'), are you sure the host and port are right?"
        ));
    };
    let repl = link.repl().clone();
    let dir = link.core.server.config().dir.clone();
    let mut file = TempRdb::create(&dir)?;
    if let Some(mark) = spec.strip_prefix("EOF:") {
        if mark.len() < EOF_MARK_LEN {
            return Err(format!("Bad EOF mark from MASTER: '{header}'"));
        }
        crate::server::log::notice("MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF to disk");
        let mut eof = EofMark::new(&mark.as_bytes()[..EOF_MARK_LEN]);
        loop {
            let data = link.buf.split();
            let end = eof.feed(&data, &mut |b: &[u8]| file.write(b))?;
            progress(&repl, |p| p.read = file.written);
            if let Some(used) = end {
                link.buf.extend_from_slice(&data[used..]);
                break;
            }
            link.fill().await?;
        }
    } else {
        let len: u64 = spec
            .parse()
            .map_err(|_| format!("Bad payload length from MASTER: '{header}'"))?;
        crate::server::log::notice(&format!(
            "MASTER <-> REPLICA sync: receiving {len} bytes from master to disk"
        ));
        progress(&repl, |p| p.total = len);
        loop {
            let want = (len - file.written).min(link.buf.len() as u64) as usize;
            let part = link.buf.split_to(want);
            file.write(&part)?;
            progress(&repl, |p| p.read = file.written);
            if file.written == len {
                break;
            }
            link.fill().await?;
        }
    }
    file.sync().await?;
    Ok(file)
}

/// Flushes every shard and loads the RDB in `path`; answers the stream db and the
/// `repl-offset` aux field.
pub(super) async fn load(core: &Rc<CoreCx>, path: &Path) -> Result<(usize, Option<i64>), String> {
    let fail =
        |e: String| format!("Failed trying to load the MASTER synchronization DB from disk, check server logs: {e}");
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let progress = &crate::persist::load::LOADING;
    progress.begin(file.metadata().map(|m| m.len()).unwrap_or(0));
    let result = load_file(core, file, &fail).await;
    progress.end();
    result
}

async fn load_file(
    core: &Rc<CoreCx>,
    file: std::fs::File,
    fail: &dyn Fn(String) -> String,
) -> Result<(usize, Option<i64>), String> {
    crate::server::log::notice("MASTER <-> REPLICA sync: Flushing old data");
    let shards = core.shards;
    for s in 0..shards {
        core.run_on(s, Lock::Pass, |shard| {
            for db in shard.dbs.iter_mut() {
                db.clear();
            }
            shard.touch_whole_db(None);
        })
        .await;
    }
    crate::server::log::notice("MASTER <-> REPLICA sync: Loading DB in memory");
    let databases = core.server.config().databases as usize;
    let reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut rdb = RdbReader::new(reader).map_err(|e| fail(e.to_string()))?;
    let mut buckets: Vec<Vec<RdbEntry>> = (0..shards).map(|_| Vec::new()).collect();
    // File bytes behind each bucket: a bucket goes to its shard after LOAD_BATCH entries or
    // LOAD_BATCH_BYTES, so big values are not all held twice (as entries and as values).
    let mut bucket_bytes = vec![0u64; shards];
    let mut loaded = 0u64;
    let mut at = rdb.offset();
    while let Some(entry) = rdb.next_entry().map_err(|e| fail(e.to_string()))? {
        let size = rdb.offset() - at;
        at = rdb.offset();
        crate::persist::load::LOADING.at(at);
        if entry.db >= databases {
            continue;
        }
        let s = shard_of(&entry.key, shards);
        buckets[s].push(entry);
        bucket_bytes[s] += size;
        loaded += 1;
        if buckets[s].len() >= LOAD_BATCH || bucket_bytes[s] >= LOAD_BATCH_BYTES {
            bucket_bytes[s] = 0;
            let batch = std::mem::take(&mut buckets[s]);
            core.run_on(s, Lock::Pass, move |shard| {
                crate::persist::load::insert_entries(shard, batch)
            })
            .await;
        }
    }
    for (s, batch) in buckets.into_iter().enumerate() {
        if !batch.is_empty() {
            core.run_on(s, Lock::Pass, move |shard| {
                crate::persist::load::insert_entries(shard, batch)
            })
            .await;
        }
    }
    // The master's libraries replace this server's, as its data does.
    crate::command::script::library::flush();
    if let Err(e) = crate::command::script::library::restore(rdb.functions()) {
        return Err(fail(e));
    }
    for w in rdb.warnings() {
        crate::server::log::warning(w);
    }
    let num = |k: &str| {
        rdb.aux_value(k)
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.parse::<i64>().ok())
    };
    let stream_db = num("repl-stream-db")
        .filter(|d| *d >= 0 && (*d as usize) < databases)
        .unwrap_or(0) as usize;
    let offset = num("repl-offset");
    crate::persist::load::record_load(loaded, 0);
    crate::server::log::notice(&format!("Done loading RDB, keys loaded: {loaded}, keys expired: 0."));
    Ok((stream_db, offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARK: &[u8; 40] = b"0123456789abcdef0123456789abcdef01234567";

    /// Feeds `input` cut at `cuts`; answers the payload seen and the bytes left after the mark.
    fn run(input: &[u8], cuts: &[usize]) -> Option<(Vec<u8>, Vec<u8>)> {
        let mut eof = EofMark::new(MARK);
        let mut out = Vec::new();
        let mut start = 0;
        let mut bounds: Vec<usize> = cuts.to_vec();
        bounds.push(input.len());
        for end in bounds {
            let data = &input[start..end];
            let r = eof.feed(data, &mut |b: &[u8]| {
                out.extend_from_slice(b);
                Ok::<(), ()>(())
            });
            if let Ok(Some(used)) = r {
                return Some((out, data[used..].to_vec()));
            }
            start = end;
        }
        None
    }

    fn framed(payload: &[u8], after: &[u8]) -> Vec<u8> {
        [payload, MARK, after].concat()
    }

    #[test]
    fn mark_at_the_end_of_one_read() {
        let input = framed(b"REDIS0010 payload", b"");
        assert_eq!(run(&input, &[]), Some((b"REDIS0010 payload".to_vec(), Vec::new())));
    }

    #[test]
    fn mark_split_at_every_position_and_every_read_size() {
        let payload: Vec<u8> = (0..300u32).map(|i| (i * 7 % 251) as u8).collect();
        let input = framed(&payload, b"*1\r\n$4\r\nPING\r\n");
        // One cut anywhere (inside the payload, inside the mark, inside the stream).
        for cut in 0..=input.len() {
            let got = run(&input, &[cut]).expect("mark found");
            assert_eq!(got.0, payload, "cut at {cut}");
            // What follows the mark in the read that completed it.
            let mark_end = payload.len() + MARK.len();
            let read_end = if cut >= mark_end { cut } else { input.len() };
            assert_eq!(got.1, input[mark_end..read_end].to_vec(), "cut at {cut}");
        }
        // Fixed-size reads, from one byte at a time up.
        for size in 1..=45 {
            let cuts: Vec<usize> = (1..).map(|i| i * size).take_while(|&c| c < input.len()).collect();
            let got = run(&input, &cuts).expect("mark found");
            assert_eq!(got.0, payload, "reads of {size}");
        }
    }

    #[test]
    fn partial_mark_then_payload_is_not_an_end() {
        // The payload itself contains a prefix of the mark, twice, across reads.
        let payload = [&MARK[..39], b"x".as_slice(), &MARK[..20], b"yz"].concat();
        let input = framed(&payload, b"");
        for cut in 0..=input.len() {
            let got = run(&input, &[cut]).expect("mark found");
            assert_eq!(got.0, payload, "cut at {cut}");
        }
        assert_eq!(run(&payload, &[10, 39, 41]), None);
    }

    #[test]
    fn empty_payload() {
        assert_eq!(run(MARK, &[]), Some((Vec::new(), Vec::new())));
        assert_eq!(run(MARK, &[1, 39]), Some((Vec::new(), Vec::new())));
    }
}
