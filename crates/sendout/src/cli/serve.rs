//! `sendout serve` and `sendout worker`: start, print what a first start created, run until
//! Ctrl-C or SIGTERM, then shut down gracefully.

use crate::app::{self, FirstStart};
use crate::config::Config;

pub async fn serve(config: Config, serve_http: bool) -> anyhow::Result<()> {
    crate::telemetry::init(config.log_format);
    let store = app::open_store(&config).await?;
    let server = app::start_with_store(config, store, serve_http).await?;
    if serve_http {
        print_first_start(&server.first_start, &server.addr.to_string());
        tracing::info!(addr = %server.addr, "sendout is listening");
    } else {
        tracing::info!("sendout worker is running");
    }
    let cancel = server.cancel_token();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight attempts");
        cancel.cancel();
    });
    server.wait().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// The one time secrets are shown: on the first start of an empty store.
fn print_first_start(first: &FirstStart, addr: &str) {
    if first.management_key.is_none() && first.project.is_none() {
        return;
    }
    println!();
    println!("sendout is ready on http://{addr}");
    if let Some((id, token)) = &first.management_key {
        println!();
        println!("Management key (shown once; also the dashboard login):");
        println!("  X-Management-Id:    {id}");
        println!("  X-Management-Token: {}", token.expose());
    }
    if let Some(keys) = &first.project {
        let p = &keys.project;
        println!();
        println!("Default project {} ({}):", p.name, p.id);
        println!("  X-App-Id:      {}", p.app_id);
        println!("  X-App-Token:   {}", keys.app_token.expose());
        println!("  Signing secret (webhook_token): {}", p.webhook_token);
        println!();
        println!("Try it:");
        println!(
            "  sendout listen --addr 127.0.0.1:9000 --secret {} &",
            p.webhook_token
        );
        println!(
            "  curl -s -X POST http://{addr}/management/v1/projects/{}/webhooks \\",
            p.id
        );
        println!("    -H 'X-Management-Id: …' -H 'X-Management-Token: …' -H 'content-type: application/json' \\");
        println!("    -d '{{\"target_url\":\"http://127.0.0.1:9000/hook\",\"events\":[\"*\"],\"active\":true}}'");
        println!(
            "  sendout emit --server http://{addr} --app-id {} --app-token {} --type voucher.published",
            p.app_id,
            keys.app_token.expose()
        );
        println!("  (loopback targets need SENDOUT_ALLOWED_TARGET_RANGES=127.0.0.0/8)");
    }
    println!();
}
