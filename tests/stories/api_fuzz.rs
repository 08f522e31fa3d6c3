//! schemathesis (from PyPI, installed by scripts/install-test-deps.sh) runs
//! against `/api/openapi.json` with a machine token of a district approver,
//! on a real server over loopback and a demo database: no response may be a
//! server error or break the documented schema. Bounded: a fixed number of
//! examples per operation and a time limit.

use crate::support;

use std::process::Command;
use std::time::Duration;

use support::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let app = TestApp::new(Backend::Sqlite, 150).await;
    let token = app.token_for("qu_shenpi").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = doudi_web::router(app.state.clone());
    let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let examples = std::env::var("DOUDI_FUZZ_EXAMPLES").unwrap_or_else(|_| "25".into());
    let url = format!("{base}/api/openapi.json");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("schemathesis")
            .args([
                "run",
                &url,
                "--checks",
                "not_a_server_error,response_schema_conformance",
                "--max-examples",
                &examples,
                "--generation-deterministic",
                "--request-timeout",
                "20",
                "--header",
                &format!("Authorization: Bearer {token}"),
                "--no-color",
            ])
            .env("SCHEMATHESIS_HOOKS", "")
            .output()
    })
    .await
    .unwrap()
    .expect("schemathesis must be installed (scripts/install-test-deps.sh installs it from PyPI)");
    server.abort();
    let _ = tokio::time::timeout(Duration::from_secs(1), server).await;
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // The summary, for the closing note and docs/performance.md.
    for line in text.lines().filter(|l| {
        l.contains("passed")
            || l.contains("failed")
            || l.contains("Operations")
            || l.contains("Test cases")
    }) {
        println!("schemathesis: {line}");
    }
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{text}"
    );
}
