//! What `sendout serve` prints on stdout: the first start's block once, and on every start
//! where the dashboard is.

use crate::helpers::process::{refused_start, Sendout};

/// Starts `sendout serve` on `data_dir`, stops it gracefully and returns its stdout and the
/// address it listened on.
async fn one_run(data_dir: &std::path::Path) -> (String, String) {
    let server = Sendout::start(data_dir, &[]).await;
    let (stdout, base_url) = (server.stdout.clone(), server.base_url.clone());
    // After a graceful stop both streams have been read to their end.
    server.terminate().await;
    (stdout.text(), base_url)
}

#[tokio::test]
async fn serve_prints_where_the_dashboard_is_on_every_start_and_the_first_start_block_once() {
    let dir = tempfile::tempdir().unwrap();

    let (first, base_url) = one_run(dir.path()).await;
    assert!(
        first.contains(&format!("sendout is ready on {base_url}")),
        "{first}"
    );
    assert!(first.contains("Default project"), "{first}");
    let dashboard = format!("Dashboard: {base_url}/dashboard");
    assert_eq!(
        first.lines().filter(|l| *l == dashboard).count(),
        1,
        "{first}"
    );

    let (again, base_url) = one_run(dir.path()).await;
    let dashboard = format!("Dashboard: {base_url}/dashboard");
    assert_eq!(again.trim(), dashboard, "only the dashboard line: {again}");
}

/// docs/SECURITY.md: a management token shorter than 24 characters or a dashboard password
/// shorter than 12 is refused at start, naming the setting and the minimum, and nothing is
/// created in the data directory.
#[tokio::test]
async fn serve_refuses_to_start_with_a_weak_management_token_or_dashboard_password() {
    for (name, value, minimum) in [
        ("SENDOUT_MANAGEMENT_TOKEN", "a", "24"),
        ("SENDOUT_MANAGEMENT_TOKEN", "23-characters-long-abcd", "24"),
        ("SENDOUT_DASHBOARD_PASSWORD", "x", "12"),
    ] {
        let (stderr, created) = refused_start(&[(name, value)]).await;
        assert!(stderr.contains(name), "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("at least {minimum}")),
            "{name}: {stderr}"
        );
        assert!(created.is_empty(), "{name}: {created:?}");
    }
}
