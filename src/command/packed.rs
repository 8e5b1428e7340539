//! Shard commands packed into one buffer for another core.
//!
//! A batch's commands for another core's shard used to travel as they were parsed: a vector
//! of (handler, argument vector, spec) and one argument vector per command, each in its own
//! heap block. The other core read every block, and this core then wrote the same blocks
//! again when it freed and reused them, so each block crossed between the two cores' caches
//! twice per command. In a spread GET -P 16 profile the parser's and the pool's stores into
//! those blocks, and the other core's first reads of them, were the largest share of what a
//! second shard added.
//!
//! Now the client's core keeps its argument vectors and copies the arguments, back to back,
//! into one buffer; the other core builds its own vectors from it, out of its own pool. A
//! batch of eight GETs crosses in three or four cache lines instead of thirteen. Arguments
//! longer than [`INLINE_MAX`] are not copied: their shared slices go beside the buffer.

use crate::resp::arg::INLINE_MAX;
use crate::resp::argv as argv_pool;
use crate::resp::{Arg, Request};
use crate::util::{keep_spare, take_spare};

use super::{CommandSpec, Run, ShardHandler, all_commands};

/// Marks an argument that is the next of the long ones.
const LONG: u32 = u32::MAX;

/// Commands bound for one shard: per command its table index and argument count, then each
/// argument's length and bytes (all lengths little-endian `u32`).
#[derive(Default)]
pub struct PackedCmds {
    bytes: Vec<u8>,
    long: Vec<Arg>,
    count: usize,
}

thread_local! {
    static SPARE: std::cell::RefCell<Vec<PackedCmds>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Spare buffers kept per core, and the largest kept (bigger ones are freed).
const SPARE_LIMIT: usize = 64;
const SPARE_BYTES: usize = 16 << 10;

impl PackedCmds {
    /// An empty buffer: a spare one of this core, or a new one.
    pub fn take() -> PackedCmds {
        take_spare(&SPARE).unwrap_or_default()
    }

    /// Empties the buffer and keeps it for this core's next batch (it comes back with the
    /// replies, so the core that allocated it frees or reuses it).
    pub fn give_back(mut self) {
        if self.bytes.capacity() > SPARE_BYTES || self.long.capacity() > 64 {
            return;
        }
        self.bytes.clear();
        self.long.clear();
        self.count = 0;
        keep_spare(&SPARE, self, SPARE_LIMIT);
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends the command at `idx` of the command table with its arguments.
    pub fn push(&mut self, idx: usize, argv: &[Arg]) {
        self.bytes.extend_from_slice(&(idx as u32).to_le_bytes());
        self.bytes.extend_from_slice(&(argv.len() as u32).to_le_bytes());
        for arg in argv {
            if arg.len() <= INLINE_MAX {
                self.bytes.extend_from_slice(&(arg.len() as u32).to_le_bytes());
                self.bytes.extend_from_slice(arg);
            } else {
                self.bytes.extend_from_slice(&LONG.to_le_bytes());
                self.long.push(arg.clone());
            }
        }
        self.count += 1;
    }

    /// The commands as argument vectors of this core's pool, with their handlers and specs;
    /// the long arguments are moved out, the buffer is left to be given back.
    pub fn unpack(&mut self, cmds: &mut Vec<(ShardHandler, Request, &'static CommandSpec)>) {
        // Room past the end, so that every inline argument is copied as a fixed 23-byte window.
        let end = self.bytes.len();
        self.bytes.resize(end + INLINE_MAX, 0);
        let bytes = &self.bytes[..];
        let mut long = self.long.drain(..);
        let mut at = 0;
        let word = |at: &mut usize| {
            let w = u32::from_le_bytes([bytes[*at], bytes[*at + 1], bytes[*at + 2], bytes[*at + 3]]);
            *at += 4;
            w
        };
        cmds.reserve(self.count);
        while at < end {
            let spec = all_commands()[word(&mut at) as usize];
            let argc = word(&mut at) as usize;
            let mut argv = argv_pool::take(argc);
            argv.resize_with(argc, Arg::default);
            for arg in argv.iter_mut() {
                let len = word(&mut at);
                if len == LONG {
                    *arg = long.next().unwrap_or_default();
                    continue;
                }
                let len = len as usize;
                let window = bytes[at..at + INLINE_MAX].try_into().expect("a padded window");
                arg.set_inline_window(window, len);
                at += len;
            }
            cmds.push((handler_of(spec), argv, spec));
        }
    }
}

/// The shard-level handler of a command that runs on one shard (a split command whose keys
/// all live there runs its split handler whole).
fn handler_of(spec: &'static CommandSpec) -> ShardHandler {
    match spec.run {
        Run::Shard(h) | Run::Split(h, _) => h,
        Run::Conn(_) => unreachable!("{} is not a shard command", spec.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::lookup_indexed;

    fn argv(words: &[&[u8]]) -> Vec<Arg> {
        words.iter().map(|w| Arg::from(*w)).collect()
    }

    #[test]
    fn commands_come_out_as_they_went_in() {
        let long = vec![b'v'; 100];
        let requests = [
            argv(&[b"GET", b"key:1"]),
            argv(&[b"SET", b"k", &long]),
            argv(&[b"SET", &[b'x'; 23], &[b'y'; 24]]),
            argv(&[b"MSET", b"a", b"", b"b", b"2"]),
            argv(&[b"LPUSH", b"list", &long, b"z"]),
        ];
        let mut packed = PackedCmds::default();
        for r in &requests {
            let (idx, _) = lookup_indexed(&r[0]).expect("known command");
            packed.push(idx, r);
        }
        assert_eq!(packed.len(), requests.len());
        let mut cmds = Vec::new();
        packed.unpack(&mut cmds);
        assert_eq!(cmds.len(), requests.len());
        for ((h, got, spec), want) in cmds.iter().zip(&requests) {
            assert_eq!(got, want);
            assert!(spec.name.eq_ignore_ascii_case(std::str::from_utf8(&want[0]).unwrap()));
            assert_eq!(*h as usize, handler_of(spec) as usize);
        }
    }

    #[test]
    fn a_buffer_given_back_is_empty_when_taken_again() {
        let mut packed = PackedCmds::take();
        packed.push(lookup_indexed(b"get").unwrap().0, &argv(&[b"GET", b"k"]));
        packed.give_back();
        let again = PackedCmds::take();
        assert!(again.is_empty());
        assert!(again.bytes.is_empty() && again.long.is_empty());
    }
}
