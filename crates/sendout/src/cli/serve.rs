//! `sendout serve` and `sendout worker`: start, print what a first start created and, on every
//! start, where the dashboard is; run until Ctrl-C or SIGTERM, then shut down gracefully.

use std::net::SocketAddr;

use crate::app::{self, FirstStart};
use crate::config::Config;

pub async fn serve(config: Config, serve_http: bool) -> anyhow::Result<()> {
    crate::telemetry::init(config.log_format);
    // Installed before anything is printed: a signal sent as soon as the ready lines appear
    // must be a graceful shutdown, not the default action (the process killed at once).
    let signal = shutdown_signal()?;
    let store = app::open_store(&config).await?;
    let server = app::start_with_store(config, store.clone(), serve_http).await?;
    if serve_http {
        print_first_start(&server.first_start, &server.addr.to_string());
        println!("{}", dashboard_line(server.addr));
        tracing::info!(addr = %server.addr, "sendout is listening");
    } else {
        tracing::info!("sendout worker is running");
    }
    let cancel = server.cancel_token();
    tokio::spawn(async move {
        signal.await;
        tracing::info!("shutting down: finishing in-flight attempts");
        cancel.cancel();
    });
    server.wait().await;
    // Every connection closed before the process exits: the embedded store then leaves only
    // its database file (see `Lifecycle::close`).
    store.close().await;
    Ok(())
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM; the handlers are installed when this is called.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

/// Completes on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// Where the dashboard is, printed on every start (the first-start block is printed once).
/// Bound to every address, the address printed is not one a browser can open.
fn dashboard_line(addr: SocketAddr) -> String {
    let line = format!("Dashboard: http://{addr}/dashboard");
    if addr.ip().is_unspecified() {
        format!("{line} (listening on every address: open it with this machine's address)")
    } else {
        line
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dashboard_line_names_the_address_and_hints_when_bound_to_every_address() {
        let local: SocketAddr = "127.0.0.1:8080".parse().expect("addr");
        assert_eq!(
            dashboard_line(local),
            "Dashboard: http://127.0.0.1:8080/dashboard"
        );
        for every in ["0.0.0.0:8080", "[::]:8080"] {
            let line = dashboard_line(every.parse().expect("addr"));
            assert!(line.starts_with(&format!("Dashboard: http://{every}/dashboard (")));
            assert!(line.contains("this machine's address"), "{line}");
        }
        let v6: SocketAddr = "[::1]:9000".parse().expect("addr");
        assert_eq!(dashboard_line(v6), "Dashboard: http://[::1]:9000/dashboard");
    }
}
