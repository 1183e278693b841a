use clap::Parser;

/// Many small, short-lived allocations across threads (requests, rows, JSON): mimalloc spends
/// far less on them than glibc's malloc, which was about a sixth of Kirim's CPU under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = kirim::cli::Cli::parse();
    match kirim::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("kirim: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
