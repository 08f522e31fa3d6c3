//! Scheduled work, in one place: notices whose posting period is over end
//! by themselves (every 10 minutes), and the warning sweep runs once a day.
//! Each job is a small function over the use cases of this crate.

use std::time::Duration;

use doudi_store::{Db, today_cn};

use crate::{cases, monitoring};

/// Starts every scheduled job on the current runtime.
pub fn spawn_all(db: &Db) {
    tokio::spawn(every(Duration::from_secs(600), db.clone(), end_notices));
    tokio::spawn(every(Duration::from_secs(3600), db.clone(), daily_sweep));
}

async fn every<F, Fut>(period: Duration, db: Db, job: F)
where
    F: Fn(Db) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        job(db.clone()).await;
    }
}

/// Ends expired notices and moves their items on.
pub async fn end_notices(db: Db) {
    if let Err(e) = cases::end_expired_notices(&db).await {
        tracing::warn!("ending expired notices: {e}");
    }
}

/// Runs today's sweep unless one already finished today (checked hourly, so
/// it runs at start and after midnight China time).
pub async fn daily_sweep(db: Db) {
    let today = today_cn();
    match monitoring::swept_today(&db, today).await {
        Ok(true) => {}
        Ok(false) => {
            if let Err(e) = monitoring::sweep(&db, "定时任务", today).await {
                tracing::warn!("daily sweep failed: {e}");
            }
        }
        Err(e) => tracing::warn!("daily sweep: {e}"),
    }
}
