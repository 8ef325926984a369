//! The `portcullis` binary: parse the command line, set up logging, run the command.
use std::process::ExitCode;

use clap::Parser;
use portcullis::cli::{self, Cli, Command};
use portcullis::startup::{prepare, Application};

#[actix_web::main]
async fn main() -> ExitCode {
    let args = Cli::parse();
    portcullis::logging::init();
    match run(args.command.unwrap_or(Command::Serve)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, naming what went wrong; the chain is joined rather than dumped.
            let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("portcullis: {}", chain.join(": "));
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    let settings = cli::load_settings()?;
    match command {
        Command::Serve => {
            let addr = settings.addr;
            let app = Application::build(settings).await?;
            tracing::info!(%addr, port = app.port(), "portcullis is listening");
            app.run_until_stopped().await?;
        }
        Command::Migrate => {
            prepare(settings).await?;
            println!("migrations are up to date");
        }
        Command::CreateUser { username, email, admin } => {
            let auth = prepare(settings).await?;
            let id = cli::create_user(&auth, &username, &email, admin, std::io::stdin().lock()).await?;
            println!("created user {username} ({id})");
        }
        Command::LogoutAll { username } => {
            let auth = prepare(settings).await?;
            let ended = cli::logout_all(&auth, &username).await?;
            println!("logged {username} out everywhere ({ended} sessions ended)");
        }
        Command::RotateKeys => {
            let auth = prepare(settings).await?;
            let kid = auth.rotate_signing_keys(portcullis::audit::Requester::cli()).await?;
            println!("new signing key {kid}; the previous one verifies until its tokens expire");
        }
        Command::PurgeExpired => {
            let auth = prepare(settings).await?;
            let purged = cli::purge_expired(&auth).await?;
            println!(
                "purged {} refresh tokens, {} sessions, {} audit events",
                purged.refresh_tokens, purged.sessions, purged.audit_events
            );
        }
    }
    Ok(())
}
