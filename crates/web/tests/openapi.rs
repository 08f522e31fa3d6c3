//! The OpenAPI document is a snapshot: a change to the API shows up as a
//! diff of `docs/openapi.json` in review. Regenerate with
//! `UPDATE_SNAPSHOTS=1 cargo test -p doudi-web --test openapi`.

const SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");

#[test]
fn the_openapi_document_matches_its_snapshot() {
    let doc = serde_json::to_string_pretty(doudi_web::api::openapi()).expect("serialises") + "\n";
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(SNAPSHOT, &doc).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(SNAPSHOT)
        .expect("docs/openapi.json is missing: run with UPDATE_SNAPSHOTS=1");
    assert!(
        doc == expected,
        "the API changed: review and run `UPDATE_SNAPSHOTS=1 cargo test -p doudi-web --test openapi`"
    );
}

#[test]
fn every_operation_declares_its_refusals() {
    let doc = serde_json::to_value(doudi_web::api::openapi()).unwrap();
    let paths = doc["paths"].as_object().expect("paths");
    assert!(
        paths.len() >= 18,
        "the API covers every capability ({} paths)",
        paths.len()
    );
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().expect("responses");
            let public = path == "/api/v1/notices";
            if !public {
                assert!(
                    responses.contains_key("403"),
                    "{method} {path} documents its 403"
                );
                assert!(
                    op.get("security").is_some(),
                    "{method} {path} needs a token"
                );
            }
        }
    }
}
