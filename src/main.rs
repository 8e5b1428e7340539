//! `shoal-server`: takes the same arguments as `redis-server`.

use shoal::server::alloc::CountingMimalloc;

/// mimalloc, counting what the process holds (INFO `used_memory`, `maxmemory`).
#[global_allocator]
static GLOBAL: CountingMimalloc = CountingMimalloc;

fn main() {
    // A panic on any thread would leave its shard unserved while the others run on: stop the
    // whole server instead, after saying why in the log.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        shoal::server::log::warning(&format!("Shoal crashed: {info}"));
        default_hook(info);
        std::process::abort();
    }));
    let args: Vec<String> = std::env::args().collect();
    std::process::exit(shoal::server::start::main_with_args(args));
}
