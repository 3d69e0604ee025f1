//! `sendout-bench`: parse the command line and hand over to the library.

/// The engine's allocator (see `sendout`'s main): the `bare` scenario is the engine's own
/// delivery client, and its CPU per request is only comparable with the engine's under the
/// same allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    sendout_bench::cli::main()
}
