//! `shoal-server`: takes the same arguments as `redis-server`.

use mimalloc::MiMalloc;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    std::process::exit(shoal::server::start::main_with_args(args));
}
