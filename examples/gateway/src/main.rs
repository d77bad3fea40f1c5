//! The gateway binary: `cargo run -p gateway`, configured by `GATEWAY_*` variables (see the
//! library docs): memory store on 127.0.0.1:8080 by default.

use gateway::{Config, Gateway};

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("gateway: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    let gateway = Gateway::build(&config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    println!(
        "gateway: {} store, listening on http://{}",
        config.store.name(),
        listener.local_addr()?
    );
    tokio::select! {
        served = gateway.serve(listener) => served?,
        _ = tokio::signal::ctrl_c() => println!("gateway: shutting down"),
    }
    Ok(())
}
