//! The thread-per-core runtime, behind Shoal's own small interface.
//!
//! This is the only module that names glommio (ARCHITECTURE.md, section 4): start one pinned
//! executor per core, spawn and sleep on the current core, a message mesh between cores, a
//! local async gate, and TCP. Moving to another thread-per-core runtime is a change here only.

pub mod check;
mod gate;
mod readiness;
pub mod tcp;

pub use gate::{Gate, GatePass};

use std::cell::RefCell;
use std::future::Future;
use std::time::Duration;

use glommio::channels::channel_mesh::{MeshBuilder, Receivers, Senders};
use glommio::{GlommioError, LocalExecutorBuilder, Placement, ResourceType};

/// Starts one executor per entry of `cpus`, pinned to that CPU, each running `body(index,
/// mesh)` where the mesh connects every core to every other. Blocks until all have finished.
pub fn run_cores<T, F, Fut>(cpus: &[usize], mesh_capacity: usize, spin: Duration, body: F) -> Result<(), String>
where
    T: Send + 'static,
    F: Fn(usize, Mesh<T>) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let builder = MeshBuilder::<T, _>::full(cpus.len(), mesh_capacity);
    let mut handles = Vec::new();
    for (index, &cpu) in cpus.iter().enumerate() {
        let builder = builder.clone();
        let body = body.clone();
        // glommio's default preemption period is kept: a shorter one (0.5 or 2 ms) made start-up
        // and cross-core messages stall intermittently when two executors share a CPU.
        let mut executor = LocalExecutorBuilder::new(Placement::Fixed(cpu))
            .name(&format!("shoal-core-{index}"))
            .io_memory(IO_MEMORY);
        if !spin.is_zero() {
            executor = executor.spin_before_park(spin);
        }
        let handle = executor
            .spawn(move || async move {
                glommio::spawn_local(wake_tick()).detach();
                let (senders, receivers) = match builder.join().await {
                    Ok(pair) => pair,
                    Err(e) => panic!("core {index} could not join the message mesh: {e}"),
                };
                body(index, Mesh::new(senders, receivers)).await;
            })
            .map_err(|e| format!("cannot start the executor for core {index} on cpu {cpu}: {e}"))?;
        handles.push(handle);
    }
    for h in handles {
        h.join().map_err(|e| format!("core executor failed: {e}"))?;
    }
    Ok(())
}

/// Memory each executor registers with its ring for DMA file buffers. Shoal reads and writes
/// files with std, never glommio's DMA files, so it takes glommio's minimum instead of the
/// default 10 MiB a core, pinned and resident whether used or not.
const IO_MEMORY: usize = 64 << 10;

/// The longest an idle core sleeps without looking at its cross-core queues.
const WAKE_TICK: Duration = Duration::from_millis(10);

/// Keeps a timer armed on every core for its whole life. glommio 0.9 can lose the wake-up that
/// another thread sends to an executor asleep in its ring: seen as a start-up that hung for
/// minutes (one core spinning in the mesh join, the other asleep with nothing to wake it) until
/// a signal came. Every timer expiry also drains the cross-core wake-ups, so with this a lost
/// one costs at most one tick, and an idle core wakes 100 times a second.
async fn wake_tick() {
    loop {
        glommio::timer::sleep(WAKE_TICK).await;
    }
}

/// The CPUs the process may use, noted at start-up before the cores pin themselves.
static PROCESS_CPUS: std::sync::OnceLock<Vec<usize>> = std::sync::OnceLock::new();

/// Notes the process's CPUs for `spawn_thread`.
pub fn set_process_cpus(cpus: &[usize]) {
    let _ = PROCESS_CPUS.set(cpus.to_vec());
}

/// Starts a helper thread (RDB writer, coordinator, replica links). A thread inherits its
/// creator's pinning, so one started from a core would compete with that core's shard for its
/// CPU; this one may run on any CPU of the process instead.
pub fn spawn_thread<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<T>> {
    let cpus = PROCESS_CPUS.get().cloned();
    std::thread::Builder::new().name(name.into()).spawn(move || {
        if let Some(cpus) = cpus {
            // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET and sched_setaffinity
            // only touch the set we own. A failure leaves the inherited pinning, which is safe.
            unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                for c in cpus {
                    libc::CPU_SET(c, &mut set);
                }
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
            }
        }
        f()
    })
}

/// Sets the calling thread's CPU priority: `low` gives it nice 10 (about a tenth of a CPU the
/// cores keep busy, all of an idle one; lower would starve it on a saturated box); otherwise
/// the default.
/// For bulk background threads (the snapshot writer), never for anything on a client's path.
pub fn set_thread_low_priority(low: bool) {
    // SAFETY: setpriority on the calling thread (on Linux, PRIO_PROCESS with 0 is the calling
    // thread); failure only leaves the priority as it was.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, if low { 10 } else { 0 });
    }
}

/// Runs a future to completion on a fresh unpinned executor in this thread (tools, tests).
pub fn block_on<F: Future<Output = R> + 'static, R: 'static>(fut: F) -> R {
    glommio::LocalExecutor::default().run(fut)
}

/// Spawns a detached task on the current core.
pub fn spawn(fut: impl Future<Output = ()> + 'static) {
    glommio::spawn_local(fut).detach();
}

pub async fn sleep(d: Duration) {
    glommio::timer::sleep(d).await;
}

/// Gives other tasks on this core a turn if this one has run long enough.
pub async fn yield_if_needed() {
    glommio::yield_if_needed().await;
}

/// CPU shares of the background queue against the default queue's 1000: under load,
/// background work (snapshots) gets about a sixth of the core; on an idle core, all of it.
const BACKGROUND_SHARES: usize = 200;

thread_local! {
    static BACKGROUND: std::cell::OnceCell<glommio::TaskQueueHandle> = const { std::cell::OnceCell::new() };
}

/// Spawns a detached task on the current core in the low-share background queue, so that it
/// runs between client work instead of taking turns with it as an equal.
pub fn spawn_background(fut: impl Future<Output = ()> + 'static) {
    let handle = BACKGROUND.with(|b| {
        *b.get_or_init(|| {
            glommio::executor().create_task_queue(
                glommio::Shares::Static(BACKGROUND_SHARES),
                glommio::Latency::NotImportant,
                "background",
            )
        })
    });
    match glommio::spawn_local_into(fut, handle) {
        Ok(task) => task.detach(),
        Err(e) => panic!("background task queue refused a task: {e}"),
    };
}

/// Lets every other task of this core run and the reactor poll sockets once, then continues.
/// Background work (snapshot turns) calls it between slices instead of sleeping: a timer
/// would idle the core whenever nothing else is ready.
pub async fn yield_to_io() {
    glommio::executor().yield_task_queue_now().await;
}

/// Channels from this core to every other core and back.
pub struct Mesh<T: Send + 'static> {
    senders: Senders<T>,
    receivers: RefCell<Option<Receivers<T>>>,
}

/// The receiving end of the channel from one peer core.
pub struct MeshReceiver<T: Send + 'static> {
    inner: glommio::channels::shared_channel::ConnectedReceiver<T>,
}

impl<T: Send + 'static> MeshReceiver<T> {
    pub async fn recv(&self) -> Option<T> {
        self.inner.recv().await
    }
}

/// Why a non-blocking send did not go through.
pub enum TrySendError<T> {
    Full(T),
    Closed,
}

impl<T: Send + 'static> Mesh<T> {
    fn new(senders: Senders<T>, receivers: Receivers<T>) -> Self {
        Mesh {
            senders,
            receivers: RefCell::new(Some(receivers)),
        }
    }

    pub fn me(&self) -> usize {
        self.senders.peer_id()
    }

    pub fn peers(&self) -> usize {
        self.senders.nr_consumers()
    }

    /// Sends to core `to` (never this core), waiting while its queue is full.
    pub async fn send(&self, to: usize, msg: T) -> Result<(), ()> {
        self.senders.send_to(to, msg).await.map_err(|_| ())
    }

    pub fn try_send(&self, to: usize, msg: T) -> Result<(), TrySendError<T>> {
        match self.senders.try_send_to(to, msg) {
            Ok(()) => Ok(()),
            Err(GlommioError::WouldBlock(ResourceType::Channel(m))) => Err(TrySendError::Full(m)),
            Err(_) => Err(TrySendError::Closed),
        }
    }

    /// The receivers from every other core, once.
    pub fn take_receivers(&self) -> Vec<(usize, MeshReceiver<T>)> {
        let Some(mut r) = self.receivers.borrow_mut().take() else {
            return Vec::new();
        };
        r.streams()
            .into_iter()
            .map(|(peer, inner)| (peer, MeshReceiver { inner }))
            .collect()
    }
}
