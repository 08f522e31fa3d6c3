//! The one walk over a jurisdiction's registry, used by 政策找人, the rule
//! preview snapshot, the simulation and the warning sweep.
//!
//! Households come in keyset batches of [`BATCH`] (`id > last`), the next
//! batch loading while the current one is evaluated; evaluation is CPU work
//! and runs on a blocking thread (never on the async threads), spread over
//! every core, with the standards in force built once per village and batch.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::NaiveDate;
use doudi_rules::HouseholdInput;
use doudi_rules::facts::FeedEvent;
use doudi_rules::standards::{self, StandardRow};
use doudi_store::Db;
use doudi_store::households::Scope;
use doudi_store::policies::{self as pol, HouseholdPlace};
use tokio::task::JoinHandle;

use crate::error::Result;

/// Households per batch.
pub const BATCH: i64 = 2_000;

/// One household as the rules see it: where it is, its facts, its feed events.
pub type Entry = (HouseholdPlace, HouseholdInput, Vec<FeedEvent>);

/// A walk in progress: [`Walk::next`] hands out the batch that was loading
/// and starts loading the one after it.
pub struct Walk {
    db: Db,
    over: Over,
    today: NaiveDate,
    loading: Option<JoinHandle<doudi_store::Result<Vec<Entry>>>>,
}

/// What a walk covers.
enum Over {
    /// Every active household of a jurisdiction.
    Scope(Scope),
    /// The given household ids (ascending), e.g. those changed since the
    /// last sweep.
    Ids(Arc<Vec<i64>>),
}

impl Walk {
    pub fn start(db: &Db, scope: &Scope, today: NaiveDate) -> Walk {
        Walk::over(db, Over::Scope(scope.clone()), today)
    }

    /// A walk over the given households only (inactive ones are skipped).
    pub fn of_ids(db: &Db, mut ids: Vec<i64>, today: NaiveDate) -> Walk {
        ids.sort_unstable();
        ids.dedup();
        Walk::over(db, Over::Ids(Arc::new(ids)), today)
    }

    fn over(db: &Db, over: Over, today: NaiveDate) -> Walk {
        let mut w = Walk {
            db: db.clone(),
            over,
            today,
            loading: None,
        };
        w.load_after(0);
        w
    }

    fn load_after(&mut self, after: i64) {
        let (db, today) = (self.db.clone(), self.today);
        self.loading = Some(match &self.over {
            Over::Scope(scope) => {
                let scope = scope.clone();
                tokio::spawn(async move {
                    pol::household_inputs(&db, &scope, after, BATCH, today).await
                })
            }
            Over::Ids(ids) => {
                let ids = ids.clone();
                tokio::spawn(async move {
                    // The next batch of ids after `after`, skipping inactive
                    // households until one batch has some or the ids run out.
                    let mut from = ids.partition_point(|id| *id <= after);
                    loop {
                        let to = (from + BATCH as usize).min(ids.len());
                        if from >= to {
                            return Ok(Vec::new());
                        }
                        let got = pol::household_inputs_by_ids(&db, &ids[from..to], today).await?;
                        if !got.is_empty() {
                            return Ok(got);
                        }
                        from = to;
                    }
                })
            }
        });
    }

    /// The next batch, or `None` when the registry is done.
    pub async fn next(&mut self) -> Result<Option<Vec<Entry>>> {
        let Some(loading) = self.loading.take() else {
            return Ok(None);
        };
        let batch = loading.await??;
        match batch.last() {
            None => Ok(None),
            Some(last) => {
                self.load_after(last.0.id);
                Ok(Some(batch))
            }
        }
    }
}

/// The dated standards, read once per walk.
pub struct Standards {
    pub rows: Vec<StandardRow>,
    pub today: NaiveDate,
}

impl Standards {
    pub async fn load(db: &Db, today: NaiveDate) -> Result<Arc<Standards>> {
        Ok(Arc::new(Standards {
            rows: pol::standard_rows(db).await?,
            today,
        }))
    }

    /// The standards in force in one village today.
    pub fn in_force(&self, village: &str) -> BTreeMap<String, i64> {
        standards::in_force(&self.rows, village, &self.today.to_string())
    }
}

/// Evaluates a batch off the async threads: `per_village` once for each
/// village of the batch (given its standards in force), then
/// `per_household` for every household on every core. Returns the batch
/// with the results in the same order.
pub async fn evaluate<V, R>(
    batch: Vec<Entry>,
    standards: Arc<Standards>,
    per_village: impl Fn(&str, BTreeMap<String, i64>) -> V + Send + 'static,
    per_household: impl Fn(&Entry, &V) -> R + Send + Sync + 'static,
) -> Result<(Vec<Entry>, Vec<R>)>
where
    V: Sync,
    R: Send + 'static,
{
    Ok(tokio::task::spawn_blocking(move || {
        let mut villages: HashMap<String, V> = HashMap::new();
        for (place, _, _) in &batch {
            if !villages.contains_key(&place.village_code) {
                let v = per_village(&place.village_code, standards.in_force(&place.village_code));
                villages.insert(place.village_code.clone(), v);
            }
        }
        let out = par_map(&batch, |e| per_household(e, &villages[&e.0.village_code]));
        (batch, out)
    })
    .await?)
}

/// `f` over `items` on every available core (scoped threads; order kept).
pub fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if threads <= 1 || items.len() < 64 {
        return items.iter().map(&f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(|| part.iter().map(&f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("evaluation thread"))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::par_map;

    #[test]
    fn par_map_keeps_order_and_covers_every_item() {
        let items: Vec<u32> = (0..10_001).collect();
        let out = par_map(&items, |x| x * 2);
        assert_eq!(out.len(), items.len());
        assert!(out.iter().enumerate().all(|(i, v)| *v == 2 * i as u32));
    }
}
