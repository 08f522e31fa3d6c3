//! Audit entries written by use cases. Reads (views, reveals, exports) and
//! refusals go through [`event`]; writes through [`write`], inside the
//! write's own transaction so that both commit or neither does.

use doudi_store::Db;
use doudi_store::audit::{self, AuditEntry};

use crate::caller::Caller;
use crate::error::Result;

/// An entry with no before/after: a read, a refusal or an administrative act.
#[allow(clippy::too_many_arguments)]
pub async fn event(
    db: &Db,
    caller: &Caller,
    action: &str,
    entity: &str,
    entity_id: String,
    household_id: Option<i64>,
    region_code: &str,
    detail: String,
) -> Result<()> {
    audit::record(
        db.writer(),
        &caller.audit(),
        AuditEntry {
            action,
            entity,
            entity_id,
            household_id,
            region_code,
            before: None,
            after: None,
            detail,
        },
    )
    .await?;
    Ok(())
}

/// An entry for a write, recorded inside the write's transaction.
#[allow(clippy::too_many_arguments)]
pub async fn write(
    tx: &mut doudi_store::Tx,
    caller: &Caller,
    action: &str,
    entity: &str,
    entity_id: String,
    household_id: Option<i64>,
    region_code: &str,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    detail: String,
) -> Result<()> {
    audit::record(
        &mut **tx,
        &caller.audit(),
        AuditEntry {
            action,
            entity,
            entity_id,
            household_id,
            region_code,
            before,
            after,
            detail,
        },
    )
    .await?;
    Ok(())
}

/// A refusal outside the caller's jurisdiction or role. Recorded
/// best-effort: the refusal itself must not turn into a storage error.
pub async fn denied(db: &Db, caller: &Caller, entity: &str, id: i64, region: &str) {
    let detail = format!("越权访问被拒绝（账号所在：{}）", caller.region.as_str());
    let _ = event(
        db,
        caller,
        "denied",
        entity,
        id.to_string(),
        None,
        region,
        detail,
    )
    .await;
}
