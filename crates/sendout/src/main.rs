//! `sendout`: parse the command line and hand over to the library.

/// mimalloc instead of the system allocator: the engine allocates and frees a request body,
/// its headers and their copies per delivery on two threads, and glibc's malloc (with its
/// consolidation of freed chunks) was about a tenth of the engine's CPU in the delivery
/// profile (docs/PERFORMANCE.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    sendout::cli::main()
}
