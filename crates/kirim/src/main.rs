use clap::Parser;

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
