//! Snapshots taken while the server keeps working (issue 6; invariants S1 and S2).
//!
//! `persistence.rs` covers SAVE/BGSAVE on a quiet server and `rdb_files.rs` the codec; this
//! suite shows what only shows under load:
//!
//! * a BGSAVE taken while clients run cross-shard MULTI/EXEC transfers and plain SETs is one
//!   instant: every dump holds the invariant total of the counters, and a single client's
//!   acknowledged writes appear as a prefix (never a later one without an earlier one); the
//!   dumps load under other shard counts (1, 7) and in redis-server 7.0;
//! * a server killed (SIGKILL) in the middle of a BGSAVE leaves the previous dump intact, and
//!   damaged dumps are refused with a message that says what is wrong;
//! * writes that land while a BGSAVE runs are kept in memory and in the next dump.
//!
//! The tests check behaviour only (replies, files, exit codes), so they hold for the
//! lock-and-encode snapshot and for an incremental one alike. Datasets are sized so a save
//! takes long enough for writes to overlap it, and the overlap is measured and printed.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::dataset::{Rng, pipeline};
use common::{Conn, Flavor, Reply, TempDir, TestServer, c, encode, lossy};

/// Longest a single save may take before a test gives up.
const SAVE_LIMIT: Duration = Duration::from_secs(60);

/// `name:value` fields of INFO persistence.
fn persistence(conn: &mut Conn) -> BTreeMap<String, String> {
    conn.q("INFO persistence")
        .text()
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim_end().to_string()))
        .collect()
}

/// Identity of the file at `path` (a completed save renames a new file over it).
fn file_id(path: &Path) -> Option<(u64, i64, i64)> {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.ino(), m.mtime(), m.mtime_nsec()))
}

/// Waits until no BGSAVE is running and the dump at `dump` is no longer `before`, then checks
/// the save succeeded. Both conditions together tell "this save finished" from "it has not
/// started yet".
fn wait_saved(conn: &mut Conn, dump: &Path, before: Option<(u64, i64, i64)>) {
    let deadline = Instant::now() + SAVE_LIMIT;
    loop {
        let info = persistence(conn);
        if info["rdb_bgsave_in_progress"] == "0" && file_id(dump) != before {
            assert_eq!(info["rdb_last_bgsave_status"], "ok", "BGSAVE failed");
            return;
        }
        assert!(Instant::now() < deadline, "BGSAVE still running after {SAVE_LIMIT:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sets `n` keys `{prefix}{i}` to `size` random letters, in pipelined MSETs of 100 keys.
fn fill(conn: &mut Conn, prefix: &str, n: usize, size: usize, seed: u64) {
    let mut rng = Rng(seed | 1);
    let keys: Vec<usize> = (0..n).collect();
    let cmds: Vec<Vec<Vec<u8>>> = keys
        .chunks(100)
        .map(|chunk| {
            let mut cmd = vec![b"MSET".to_vec()];
            for i in chunk {
                cmd.push(format!("{prefix}{i}").into_bytes());
                cmd.push(rng.word(size));
            }
            cmd
        })
        .collect();
    pipeline(conn, &cmds);
}

/// Starts a server of `flavor` that loads `dir/name` (its own directory holds only its log).
fn load_copy(flavor: Flavor, dir: &Path, name: &str) -> TestServer {
    let d = dir.to_string_lossy().into_owned();
    TestServer::start_with(flavor, None, &["--dir", &d, "--dbfilename", name])
}

// ---------------------------------------------------------------------------------------------
// 1. Point in time under writes
// ---------------------------------------------------------------------------------------------

const COUNTERS_PER_SHARD: usize = 4;
const START_BALANCE: i64 = 1000;
const FILL_KEYS: usize = 50_000;

/// Counter names that spread over all `shards` (no `{tag}`): the first names the documented
/// key-to-shard function puts on each shard.
fn spread_counters(shards: usize) -> Vec<String> {
    let mut per = vec![0; shards];
    let mut names = Vec::new();
    for i in 0.. {
        let name = format!("acct:{i}");
        let s = shoal::shard::shard_of(name.as_bytes(), shards);
        if per[s] < COUNTERS_PER_SHARD {
            per[s] += 1;
            names.push(name);
        }
        if names.len() == shards * COUNTERS_PER_SHARD {
            break;
        }
    }
    names
}

/// Work done by the client threads, read by the saver to count what overlapped each save.
#[derive(Default)]
struct Progress {
    stop: AtomicBool,
    transfers: AtomicU64,
    seq: AtomicU64,
    /// Longest single MULTI/EXEC round trip seen, in microseconds.
    max_stall_us: AtomicU64,
}

/// Moves random amounts between random counters, one MULTI/EXEC per transfer.
fn transfers(port: u16, counters: Vec<String>, p: Arc<Progress>, seed: u64) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut conn = Conn::connect(port);
        let mut rng = Rng(seed | 1);
        let n = counters.len() as u64;
        while !p.stop.load(Ordering::Relaxed) {
            let from = rng.below(n) as usize;
            let mut to = rng.below(n - 1) as usize;
            if to >= from {
                to += 1;
            }
            let amount = 1 + rng.below(50);
            let mut bytes = encode(&c("MULTI"));
            bytes.extend(encode(&c(&format!("DECRBY {} {amount}", counters[from]))));
            bytes.extend(encode(&c(&format!("INCRBY {} {amount}", counters[to]))));
            bytes.extend(encode(&c("EXEC")));
            let t = Instant::now();
            conn.send_raw(&bytes);
            assert_eq!(conn.read_reply(), b"+OK\r\n");
            assert_eq!(conn.read_reply(), b"+QUEUED\r\n");
            assert_eq!(conn.read_reply(), b"+QUEUED\r\n");
            let exec = conn.read_reply();
            assert!(exec.starts_with(b"*2\r\n:"), "EXEC replied {}", lossy(&exec));
            p.max_stall_us
                .fetch_max(t.elapsed().as_micros() as u64, Ordering::Relaxed);
            p.transfers.fetch_add(1, Ordering::Relaxed);
        }
    })
}

/// One client writing `seq:0, seq:1, ...`, each after the previous was acknowledged, and
/// overwriting a random filler key between them. Returns how many `seq:` keys it wrote.
fn sequence(port: u16, p: Arc<Progress>) -> JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut conn = Conn::connect(port);
        let mut rng = Rng(99);
        let value = vec![b's'; 100];
        let mut n = 0u64;
        while !p.stop.load(Ordering::Relaxed) {
            let set = vec![b"SET".to_vec(), format!("seq:{n}").into_bytes(), value.clone()];
            assert_eq!(conn.raw(&set), b"+OK\r\n");
            n += 1;
            p.seq.store(n, Ordering::Relaxed);
            let key = format!("fill:{}", rng.below(FILL_KEYS as u64));
            let set = vec![b"SET".to_vec(), key.into_bytes(), rng.word(100)];
            assert_eq!(conn.raw(&set), b"+OK\r\n");
        }
        n
    })
}

/// What a loaded dump holds: the counters' sum, how many `seq:` keys, DBSIZE.
/// On failure the server's log is shown: a dead core, for one, only shows there.
fn audit(server: &TestServer, counters: &[String], label: &str) -> (i64, u64, i64) {
    let run = std::panic::AssertUnwindSafe(|| audit_keys(server, counters, label));
    std::panic::catch_unwind(run).unwrap_or_else(|e| {
        let why = e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        panic!("{label}: {why}\nserver log:\n{}", server.log())
    })
}

fn audit_keys(server: &TestServer, counters: &[String], label: &str) -> (i64, u64, i64) {
    let mut conn = server.conn();
    conn.stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut mget = vec![b"MGET".to_vec()];
    mget.extend(counters.iter().map(|k| k.as_bytes().to_vec()));
    let mut total = 0;
    for (k, v) in counters.iter().zip(conn.call(&mget).items()) {
        let v = v.bulk().unwrap_or_else(|| panic!("{label}: counter {k} missing"));
        total += lossy(&v)
            .parse::<i64>()
            .unwrap_or_else(|_| panic!("{label}: counter {k} = {}", lossy(&v)));
    }
    let mut seqs: Vec<u64> = conn
        .q("KEYS seq:*")
        .items()
        .iter()
        .map(|k| lossy(&k.bulk().unwrap_or_default())[4..].parse().expect("seq number"))
        .collect();
    seqs.sort_unstable();
    // Each seq:n was written only after seq:n-1 was acknowledged: a point-in-time cut holds a
    // prefix of them, never a later one without all earlier ones.
    let holes: Vec<u64> = seqs
        .iter()
        .enumerate()
        .filter(|&(i, &n)| n != i as u64)
        .map(|(_, &n)| n)
        .take(5)
        .collect();
    assert!(
        holes.is_empty(),
        "{label}: seq keys are not a prefix ({} keys, first out of place: {holes:?})",
        seqs.len()
    );
    (total, seqs.len() as u64, conn.q("DBSIZE").int())
}

#[test]
fn bgsave_under_cross_shard_transfers_is_one_instant() {
    const SHARDS: usize = 4;
    /// Saves taken at least, and at most while none has overlapped a transfer yet.
    const SAVES: usize = 3;
    const MAX_SAVES: usize = 8;
    let counters = spread_counters(SHARDS);
    let total = START_BALANCE * counters.len() as i64;
    let server = TestServer::shoal(SHARDS);
    let dump = server.dir.join("dump.rdb");
    let copies = TempDir::new("snap-copies");
    let mut conn = server.conn();
    let t = Instant::now();
    fill(&mut conn, "fill:", FILL_KEYS, 100, 1);
    let mut mset = vec![b"MSET".to_vec()];
    for k in &counters {
        mset.extend([k.as_bytes().to_vec(), START_BALANCE.to_string().into_bytes()]);
    }
    assert_eq!(conn.raw(&mset), b"+OK\r\n");
    eprintln!("filled {FILL_KEYS} keys in {:?}", t.elapsed());

    let p = Arc::new(Progress::default());
    let movers: Vec<_> = (0..3)
        .map(|i| transfers(server.port, counters.clone(), p.clone(), 7 + i))
        .collect();
    let seq = sequence(server.port, p.clone());
    let mut overlapped = 0;
    let mut saves = 0;
    while saves < SAVES || (overlapped == 0 && saves < MAX_SAVES) {
        let i = saves;
        saves += 1;
        // Let the writers run between saves (each cut at a different point); their rate then
        // is the baseline the rate during the save is compared with.
        let (b0, quiet) = (p.transfers.load(Ordering::Relaxed), Instant::now());
        std::thread::sleep(Duration::from_millis(500));
        let rate_before = (p.transfers.load(Ordering::Relaxed) - b0) as f64 / quiet.elapsed().as_secs_f64();
        let before = file_id(&dump);
        p.max_stall_us.store(0, Ordering::Relaxed);
        let (t0, s0) = (p.transfers.load(Ordering::Relaxed), p.seq.load(Ordering::Relaxed));
        let started = Instant::now();
        assert_eq!(conn.raw(&c("BGSAVE")), b"+Background saving started\r\n");
        let replied = started.elapsed();
        wait_saved(&mut conn, &dump, before);
        let took = started.elapsed();
        let during = p.transfers.load(Ordering::Relaxed) - t0;
        overlapped += during;
        eprintln!(
            "save {i}: BGSAVE replied after {replied:?}, done after {took:?}; during it {during} \
             transfers ({:.0}/s, {rate_before:.0}/s before) and {} seq writes; longest \
             transfer {} ms",
            during as f64 / took.as_secs_f64(),
            p.seq.load(Ordering::Relaxed) - s0,
            p.max_stall_us.load(Ordering::Relaxed) / 1000
        );
        std::fs::copy(&dump, copies.path().join(format!("dump-{i}.rdb"))).expect("copy dump");
    }
    p.stop.store(true, Ordering::Relaxed);
    for m in movers {
        m.join().expect("transfer thread");
    }
    let written = seq.join().expect("sequence thread");
    assert!(
        overlapped > 0,
        "no transfer overlapped any save: the dataset is too small to show anything"
    );
    let (live, live_seq, _) = audit(&server, &counters, "live server");
    assert_eq!(live, total, "the live counters lost money");
    assert_eq!(live_seq, written);

    // The first, second and last copies, each under another shard count (dumps are
    // independent of --shards).
    let mut last = None;
    for (i, shards) in [(0, 1), (1, 7), (saves - 1, 4)] {
        let name = format!("dump-{i}.rdb");
        let loaded = load_copy(Flavor::Shoal { shards }, copies.path(), &name);
        let label = format!("{name} in shoal --shards {shards}");
        let (sum, seqs, size) = audit(&loaded, &counters, &label);
        assert_eq!(sum, total, "{label}: counters sum to {sum}, not {total}");
        assert_eq!(
            size as usize,
            FILL_KEYS + counters.len() + seqs as usize,
            "{label}: DBSIZE"
        );
        eprintln!("{label}: total {sum}, {seqs} seq keys, DBSIZE {size}");
        last = Some((name, seqs, size));
    }
    let (name, seqs, size) = last.expect("at least one save");
    let redis = load_copy(Flavor::Redis, copies.path(), &name);
    let label = format!("{name} in redis-server");
    assert_eq!(audit(&redis, &counters, &label), (total, seqs, size), "{label}");
}

// ---------------------------------------------------------------------------------------------
// 2. Crash safety and damaged files
// ---------------------------------------------------------------------------------------------

/// Starts Shoal on `bytes` as its dump; it must exit non-zero with a message about the dump
/// that contains one of `words` (case-insensitive). Returns the log line.
fn assert_refused(bytes: &[u8], what: &str, words: &[&str]) -> String {
    let dir = TempDir::new("snap-damaged");
    std::fs::write(dir.path().join("dump.rdb"), bytes).expect("write dump");
    let err = match TestServer::try_start_with(Flavor::Shoal { shards: 2 }, Some(dir.path()), &[]) {
        Ok(_) => panic!("{what}: Shoal started on a damaged dump"),
        Err(e) => e,
    };
    assert!(err.starts_with("server exited with"), "{what}: {err}");
    assert!(!err.contains("exit status: 0"), "{what}: exited with status 0: {err}");
    let line = err
        .lines()
        .find(|l| l.contains("loading the DB"))
        .unwrap_or_else(|| panic!("{what}: no 'loading the DB' line in the log: {err}"))
        .to_string();
    let low = line.to_lowercase();
    assert!(
        words.iter().any(|w| low.contains(w)),
        "{what}: the message does not say {words:?}: {line}"
    );
    line
}

#[test]
fn kill_during_bgsave_leaves_the_previous_dump() {
    const BIG: usize = 60_000;
    let dir = TempDir::new("snap-crash");
    let dump = dir.path().join("dump.rdb");
    let mut server = TestServer::start_with(Flavor::Shoal { shards: 2 }, Some(dir.path()), &[]);
    let mut conn = server.conn();
    fill(&mut conn, "prev:", 1000, 40, 3);
    assert_eq!(conn.q("SAVE"), Reply::Simple("OK".into()));
    let previous = std::fs::read(&dump).expect("first dump");
    let before = file_id(&dump);
    fill(&mut conn, "big:", BIG, 100, 4);

    // BGSAVE from one connection, INFO from another as fast as it answers. Once the save is
    // in progress, SIGKILL as soon as its temp file shows beside the dump (S2: saves go to a
    // temp file first), or after 500 ms in progress without one.
    let port = server.port;
    let bg = std::thread::spawn(move || {
        let mut bgsave = Conn::connect(port);
        bgsave.send(&c("BGSAVE"));
        bgsave.try_read_reply()
    });
    let mut probe = server.conn();
    let deadline = Instant::now() + SAVE_LIMIT;
    let mut polls = 0;
    while persistence(&mut probe)["rdb_bgsave_in_progress"] != "1" {
        polls += 1;
        assert!(
            file_id(&dump) == before,
            "the save finished before INFO ever showed it in progress"
        );
        assert!(Instant::now() < deadline, "BGSAVE never showed as in progress");
    }
    let seen = Instant::now();
    let temp_file = || {
        std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| !matches!(e.file_name().to_str(), Some("dump.rdb" | "server.log")))
    };
    while !temp_file() && seen.elapsed() < Duration::from_millis(500) {
        std::thread::sleep(Duration::from_micros(200));
    }
    assert!(server.is_alive());
    let killed_after = seen.elapsed();
    drop(server); // SIGKILL, then reaped
    let _ = bg.join();
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list dir")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    eprintln!(
        "killed {killed_after:?} after the save showed in progress ({polls} INFO polls before); \
         files left: {names:?}"
    );
    let now = std::fs::read(&dump).expect("a dump.rdb after the crash");
    if now != previous {
        // The kill landed after the rename: then the new dump must be whole.
        eprintln!("note: the kill came after the rename; checking the new dump is complete");
        let s = TestServer::start_with(Flavor::Shoal { shards: 2 }, Some(dir.path()), &[]);
        assert_eq!(
            s.conn().q("DBSIZE").int(),
            (BIG + 1000) as i64,
            "a renamed dump is incomplete"
        );
        return;
    }
    // What loads is the previous dump, whatever temp file the dead save left beside it.
    let server = TestServer::start_with(Flavor::Shoal { shards: 3 }, Some(dir.path()), &[]);
    let mut conn = server.conn();
    assert_eq!(conn.q("DBSIZE").int(), 1000, "not the previous dump's keys");
    assert_eq!(conn.q("EXISTS prev:0 prev:500 prev:999"), Reply::Int(3));
    assert_eq!(conn.q(&format!("EXISTS big:0 big:{}", BIG - 1)), Reply::Int(0));
    let value = conn.q("GET prev:500").bulk().expect("prev:500");
    // A later save in the same directory works despite the leftovers.
    let before = file_id(&dump);
    assert_eq!(conn.raw(&c("BGSAVE")), b"+Background saving started\r\n");
    wait_saved(&mut conn, &dump, before);
    drop(server);

    // One flipped byte inside a string value: only the CRC64 can see it.
    let at = previous
        .windows(value.len())
        .position(|w| w == value.as_slice())
        .expect("prev:500's value stored as plain bytes")
        + value.len() / 2;
    let mut flipped = previous.clone();
    flipped[at] ^= 0x01;
    let line = assert_refused(&flipped, "byte flipped inside a value", &["checksum"]);
    eprintln!("flipped value byte: {line}");
    // Whatever the middle byte is (length, type, payload), the file is refused.
    let mut flipped = previous.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0xff;
    let line = assert_refused(&flipped, "middle byte flipped", &["checksum", "corrupt", "bad rdb"]);
    eprintln!("flipped middle byte: {line}");
    let line = assert_refused(
        &previous[..previous.len() / 2],
        "truncated",
        &["truncated", "unexpected end", "end of file"],
    );
    eprintln!("truncated: {line}");
}

// ---------------------------------------------------------------------------------------------
// 3. Writes during a save
// ---------------------------------------------------------------------------------------------

/// The state a client expects after its acknowledged writes (strings and hash fields).
#[derive(Default)]
struct Expected {
    strings: BTreeMap<String, Option<Vec<u8>>>,
    hashes: BTreeMap<String, BTreeMap<String, String>>,
}

impl Expected {
    /// Checks every touched key on `server`, and the key count.
    fn check(&self, server: &TestServer, dbsize: i64, label: &str) {
        let mut conn = server.conn();
        let keys: Vec<&String> = self.strings.keys().collect();
        let mut wrong = Vec::new();
        for chunk in keys.chunks(500) {
            let mut mget = vec![b"MGET".to_vec()];
            mget.extend(chunk.iter().map(|k| k.as_bytes().to_vec()));
            for (k, got) in chunk.iter().zip(conn.call(&mget).items()) {
                if got.bulk() != self.strings[*k] {
                    wrong.push(k.to_string());
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "{label}: {} string keys differ, e.g. {:?}",
            wrong.len(),
            &wrong[..wrong.len().min(5)]
        );
        for (key, fields) in &self.hashes {
            let flat = conn.q(&format!("HGETALL {key}")).items();
            let got: BTreeMap<String, String> = flat.chunks(2).map(|p| (p[0].text(), p[1].text())).collect();
            assert_eq!(&got, fields, "{label}: hash {key}");
        }
        assert_eq!(conn.q("DBSIZE").int(), dbsize, "{label}: DBSIZE");
    }
}

#[test]
fn writes_during_bgsave_are_kept_and_in_the_next_dump() {
    const BASE: usize = 40_000;
    const HASHES: usize = 200;
    let server = TestServer::shoal(4);
    let dump = server.dir.join("dump.rdb");
    let mut conn = server.conn();
    fill(&mut conn, "base:", BASE, 100, 5);
    let mut want = Expected::default();
    let hsets: Vec<Vec<Vec<u8>>> = (0..HASHES).map(|h| c(&format!("HSET h:{h} f0 v0"))).collect();
    pipeline(&mut conn, &hsets);
    for h in 0..HASHES {
        want.hashes
            .insert(format!("h:{h}"), BTreeMap::from([("f0".into(), "v0".into())]));
    }

    // Rounds of one BGSAVE each, until a batch of writes has overlapped a save (the first
    // round, unless the save is faster than one batch).
    let mut rng = Rng(77);
    let (mut i, mut during, mut deleted) = (0usize, 0usize, 0usize);
    for round in 0..5 {
        if during > 0 {
            break;
        }
        let saving = Arc::new(AtomicBool::new(true));
        let port = server.port;
        let flag = saving.clone();
        let dump = dump.clone();
        let saver = std::thread::spawn(move || {
            let mut conn = Conn::connect(port);
            let before = file_id(&dump);
            let t = Instant::now();
            assert_eq!(conn.raw(&c("BGSAVE")), b"+Background saving started\r\n");
            wait_saved(&mut conn, &dump, before);
            flag.store(false, Ordering::SeqCst);
            t.elapsed()
        });
        // Batches of new keys, overwrites, deletes and new hash fields until the save is over;
        // a batch counts as "during" when its replies came back before the save was seen done.
        let mut batches = 0;
        while saving.load(Ordering::SeqCst) || batches == 0 {
            let mut cmds = Vec::new();
            for _ in 0..50 {
                let new = format!("during:{i}");
                cmds.push(c(&format!("SET {new} v{i}")));
                want.strings.insert(new, Some(format!("v{i}").into_bytes()));
                let old = format!("base:{}", rng.below(BASE as u64));
                if i % 4 == 0 {
                    if want.strings.get(&old) != Some(&None) {
                        deleted += 1;
                    }
                    cmds.push(c(&format!("DEL {old}")));
                    want.strings.insert(old, None);
                } else {
                    if want.strings.get(&old) == Some(&None) {
                        deleted -= 1;
                    }
                    cmds.push(c(&format!("SET {old} changed{i}")));
                    want.strings.insert(old, Some(format!("changed{i}").into_bytes()));
                }
                let h = format!("h:{}", i % HASHES);
                cmds.push(c(&format!("HSET {h} f{i} w{i}")));
                want.hashes
                    .get_mut(&h)
                    .expect("hash")
                    .insert(format!("f{i}"), format!("w{i}"));
                i += 1;
            }
            pipeline(&mut conn, &cmds);
            batches += 1;
            if saving.load(Ordering::SeqCst) {
                during += 1;
            }
        }
        let took = saver.join().expect("saver");
        eprintln!("round {round}: BGSAVE took {took:?}; {during} write batches of 150 so far ran during a save");
    }
    assert!(during > 0, "no write overlapped any of 5 saves");
    let dbsize = (BASE - deleted + i + HASHES) as i64;
    want.check(&server, dbsize, "in memory after the BGSAVE");
    assert_eq!(conn.q("SAVE"), Reply::Simple("OK".into()));
    let loaded = load_copy(Flavor::Shoal { shards: 2 }, &server.dir, "dump.rdb");
    want.check(&loaded, dbsize, "the next SAVE's dump");
}
