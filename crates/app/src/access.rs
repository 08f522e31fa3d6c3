//! The one jurisdiction rule.
//!
//! Every read by id of a record goes through a function of this module, and
//! every one of them answers in the same order:
//! 1. look the record up (missing → [`Error::NotFound`]);
//! 2. is it inside the caller's jurisdiction? If not → an audit entry
//!    `denied` and [`Error::Forbidden`];
//! 3. only then the role check, whose refusal is audited too.
//!
//! So a foreign attempt is audited as out of scope whatever the caller's
//! role, and no use case can hold a record it did not get from here.

use doudi_domain::access::Action;
use doudi_domain::{Coded, RegionLevel};
use doudi_rules::HouseholdInput;
use doudi_rules::facts::FeedEvent;
use doudi_store::Db;
use doudi_store::cases::{self, ApplicationRow, AttachmentMeta, ItemRow, ReferralRow};
use doudi_store::households::{self as hh, HouseholdRow, PersonRow, Scope, Scoped};
use doudi_store::imports::{self, ImportJob};
use doudi_store::monitoring::{self as mon, BatchRow, WarningRow};
use doudi_store::policies::{self as pol, HouseholdPlace, NewFinding, RunRow};
use doudi_store::users::{self, UserRow};

use crate::audit;
use crate::caller::Caller;
use crate::error::{Error, Result};

/// Steps 1 and 2 for a record already fetched with its region code.
pub async fn in_scope<T>(
    db: &Db,
    caller: &Caller,
    entity: &str,
    id: i64,
    found: Option<(T, String)>,
) -> Result<T> {
    match found {
        None => Err(Error::NotFound),
        Some((record, region)) if caller.covers(&region) => Ok(record),
        Some((_, region)) => {
            audit::denied(db, caller, entity, id, &region).await;
            Err(Error::forbidden())
        }
    }
}

/// Steps 1 and 2 for the store's scoped lookups.
pub async fn scoped<T>(
    db: &Db,
    caller: &Caller,
    entity: &str,
    id: i64,
    found: Scoped<T>,
) -> Result<T> {
    match found {
        Scoped::Found(t) => Ok(t),
        Scoped::Missing => Err(Error::NotFound),
        Scoped::OutOfScope { village_code } => {
            audit::denied(db, caller, entity, id, &village_code).await;
            Err(Error::forbidden())
        }
    }
}

/// Step 3: the role check, audited when it refuses.
pub async fn require(
    db: &Db,
    caller: &Caller,
    action: Action,
    entity: &str,
    id: i64,
    region: &str,
) -> Result<()> {
    if caller.may(action) {
        Ok(())
    } else {
        audit::denied(db, caller, entity, id, region).await;
        Err(Error::forbidden())
    }
}

/// A role check that is not about one record (a page, a list, starting a
/// run): refused → audited as `denied` on `entity` at the caller's own node.
/// There is no unaudited way to refuse by role.
pub async fn role(db: &Db, caller: &Caller, action: Action) -> Result<()> {
    require(db, caller, action, action.code(), 0, caller.region.as_str()).await
}

/// The household scope for roles that may view household files (audited refusal).
pub async fn household_scope(db: &Db, caller: &Caller) -> Result<Scope> {
    role(db, caller, Action::ViewHousehold).await?;
    Ok(caller.scope())
}

/// The caller's scope narrowed to a town or village of a list filter
/// (blank: the whole jurisdiction). A region outside it is refused and
/// audited; a malformed code is a plain refusal of the filter.
pub async fn narrowed_scope(db: &Db, caller: &Caller, region: &str) -> Result<Scope> {
    let region = region.trim();
    if region.is_empty() {
        return Ok(caller.scope());
    }
    let Ok(code) = doudi_domain::RegionCode::parse(region) else {
        return Err(Error::invalid(
            "region",
            "请从列表中选择街道（乡镇）或村（社区）",
        ));
    };
    if !caller.covers(code.as_str()) {
        return Err(refuse(db, caller, "region", code.as_str()).await);
    }
    Ok(Scope(code))
}

/// A refusal decided outside this module (a page only for district staff, a
/// filter naming a foreign village …): audited, then returned.
pub async fn refuse(db: &Db, caller: &Caller, entity: &str, region: &str) -> Error {
    audit::denied(db, caller, entity, 0, region).await;
    Error::forbidden()
}

/// A household file, for roles that may view household files.
pub async fn household(db: &Db, caller: &Caller, id: i64) -> Result<(Scope, HouseholdRow)> {
    let scope = caller.scope();
    let h = scoped(db, caller, "household", id, hh::get(db, &scope, id).await?).await?;
    require(
        db,
        caller,
        Action::ViewHousehold,
        "household",
        id,
        &h.village_code,
    )
    .await?;
    Ok((scope, h))
}

/// A person, for roles that may view household files.
pub async fn person(db: &Db, caller: &Caller, id: i64) -> Result<(Scope, PersonRow)> {
    let scope = caller.scope();
    let p = scoped(
        db,
        caller,
        "person",
        id,
        hh::get_person(db, &scope, id).await?,
    )
    .await?;
    require(
        db,
        caller,
        Action::ViewHousehold,
        "person",
        id,
        caller.region.as_str(),
    )
    .await?;
    Ok((scope, p))
}

/// A household's rule inputs (facts and feed events), as the monitoring and
/// policy pages use them.
pub async fn household_input(
    db: &Db,
    caller: &Caller,
    hid: i64,
    today: chrono::NaiveDate,
) -> Result<(HouseholdPlace, HouseholdInput, Vec<FeedEvent>)> {
    let found = pol::household_input(db, hid, today).await?.map(|t| {
        let region = t.0.village_code.clone();
        (t, region)
    });
    let t = in_scope(db, caller, "household", hid, found).await?;
    require(
        db,
        caller,
        Action::ViewHousehold,
        "household",
        hid,
        &t.0.village_code,
    )
    .await?;
    Ok(t)
}

/// An assistance item; the caller's action decides the role needed.
pub async fn item(db: &Db, caller: &Caller, id: i64) -> Result<ItemRow> {
    let found = cases::get_item(db, &caller.scope(), id).await?;
    scoped(db, caller, "case_item", id, found).await
}

/// An application, for case handlers.
pub async fn application(db: &Db, caller: &Caller, id: i64) -> Result<ApplicationRow> {
    let found = cases::get_application(db, &caller.scope(), id).await?;
    let a = scoped(db, caller, "application", id, found).await?;
    require(
        db,
        caller,
        Action::HandleCase,
        "application",
        id,
        caller.region.as_str(),
    )
    .await?;
    Ok(a)
}

/// An attachment of an application, for case handlers.
pub async fn attachment(db: &Db, caller: &Caller, id: i64) -> Result<(AttachmentMeta, Vec<u8>)> {
    let (meta, bytes) = cases::attachment_bytes(db, id)
        .await?
        .ok_or(Error::NotFound)?;
    let found = cases::get_application(db, &caller.scope(), meta.application_id).await?;
    scoped(db, caller, "attachment", id, found).await?;
    require(
        db,
        caller,
        Action::HandleCase,
        "attachment",
        id,
        caller.region.as_str(),
    )
    .await?;
    Ok((meta, bytes))
}

/// A referral is visible to the sender's jurisdiction (case handlers) and to
/// the receiving department. The flag says whether the caller receives it.
pub async fn referral(db: &Db, caller: &Caller, id: i64) -> Result<(ReferralRow, bool)> {
    let r = cases::get_referral(db, id).await?.ok_or(Error::NotFound)?;
    let receiver = caller.may(Action::HandleReferral)
        && caller.user.department.as_deref() == Some(r.to_name.as_str());
    let sender_side = caller.may(Action::HandleCase) && caller.covers(&r.village_code);
    if !(receiver || sender_side) {
        audit::denied(db, caller, "referral", id, &r.village_code).await;
        return Err(Error::forbidden());
    }
    Ok((r, receiver))
}

/// A warning, for roles that may view household files.
pub async fn warning(db: &Db, caller: &Caller, id: i64) -> Result<WarningRow> {
    let found = mon::warning(db, id).await?.map(|w| {
        let region = w.village_code.clone();
        (w, region)
    });
    let w = in_scope(db, caller, "warning", id, found).await?;
    require(
        db,
        caller,
        Action::ViewHousehold,
        "warning",
        id,
        &w.village_code,
    )
    .await?;
    Ok(w)
}

/// A 政策找人 run, with the caller's scope, for roles that may view households.
pub async fn run(db: &Db, caller: &Caller, id: i64) -> Result<(RunRow, Scope)> {
    let found = pol::run(db, id).await?.map(|r| {
        let region = r.scope_code.clone();
        (r, region)
    });
    let run = in_scope(db, caller, "finder_run", id, found).await?;
    require(
        db,
        caller,
        Action::ViewHousehold,
        "finder_run",
        id,
        &run.scope_code,
    )
    .await?;
    Ok((run, caller.scope()))
}

/// A finding of a run (and the lead made from it, if any), for roles that run
/// 政策找人. Out of scope is 403 and audited like every other record.
pub async fn finding(db: &Db, caller: &Caller, id: i64) -> Result<(NewFinding, Option<i64>)> {
    let village = pol::finding_village(db, id).await?;
    let region = in_scope(db, caller, "finding", id, village.map(|v| (v.clone(), v))).await?;
    require(db, caller, Action::RunFinder, "finding", id, &region).await?;
    pol::finding_in_scope(db, &caller.scope(), id)
        .await?
        .ok_or(Error::NotFound)
}

/// A lead: (village code, household id, status), for case handlers.
pub async fn lead(db: &Db, caller: &Caller, id: i64) -> Result<(String, i64, String)> {
    let found = pol::lead_place(db, id).await?.map(|l| {
        let region = l.0.clone();
        (l, region)
    });
    let l = in_scope(db, caller, "lead", id, found).await?;
    require(db, caller, Action::HandleCase, "lead", id, &l.0).await?;
    Ok(l)
}

/// The name a department's records are sent under.
pub fn feed_source(caller: &Caller) -> String {
    caller
        .user
        .department
        .clone()
        .unwrap_or_else(|| caller.user.display_name.clone())
}

/// Department data are seen by the sending department and by district-level
/// staff who run rules or supervise; not by towns or villages.
pub fn may_see_feeds(caller: &Caller) -> bool {
    let district = caller.region.level() == RegionLevel::County;
    caller.may(Action::UploadFeed)
        || caller.may(Action::ManagePolicies)
        || (district && (caller.may(Action::RunFinder) || caller.may(Action::ReadAudit)))
}

/// A feed batch: a department sees only its own batches.
pub async fn batch(db: &Db, caller: &Caller, id: i64) -> Result<BatchRow> {
    let b = mon::batch(db, id).await?.ok_or(Error::NotFound)?;
    let foreign = caller.may(Action::UploadFeed) && b.source != feed_source(caller);
    if foreign || !may_see_feeds(caller) {
        audit::denied(db, caller, "feed_batch", id, caller.region.as_str()).await;
        return Err(Error::forbidden());
    }
    Ok(b)
}

/// An account, for administrators of its jurisdiction.
pub async fn user(db: &Db, caller: &Caller, id: i64) -> Result<UserRow> {
    let found = users::by_id(db, id).await?.map(|u| {
        let region = u.region_code.clone();
        (u, region)
    });
    let u = in_scope(db, caller, "user", id, found).await?;
    require(db, caller, Action::ManageUsers, "user", id, &u.region_code).await?;
    Ok(u)
}

/// An import job: only the account that started it sees it.
pub async fn import_job(db: &Db, caller: &Caller, id: i64) -> Result<ImportJob> {
    let job = imports::get(db, id).await?.ok_or(Error::NotFound)?;
    if job.user_id != caller.user.id {
        audit::denied(db, caller, "import_job", id, &job.region_code).await;
        return Err(Error::forbidden());
    }
    require(
        db,
        caller,
        Action::ImportHouseholds,
        "import_job",
        id,
        &job.region_code,
    )
    .await?;
    Ok(job)
}
