//! Who is asking: an account with its role and jurisdiction, parsed once.
//! Every use case takes a `&Caller`; pages, the API, the command line and
//! jobs build one the same way.

use doudi_domain::access::{self, Action, Role};
use doudi_domain::{Coded, RegionCode};
use doudi_store::audit::AuditActor;
use doudi_store::households::Scope;
use doudi_store::users::UserRow;

#[derive(Clone, Debug)]
pub struct Caller {
    pub user: UserRow,
    pub role: Role,
    pub region: RegionCode,
}

impl Caller {
    /// `None` when the stored role or region does not parse (a broken account
    /// gets no access at all).
    pub fn from_user(user: UserRow) -> Option<Caller> {
        let role = Role::from_code(&user.role)?;
        let region = RegionCode::parse(&user.region_code).ok()?;
        Some(Caller { user, role, region })
    }

    pub fn may(&self, action: Action) -> bool {
        access::may(self.role, action)
    }

    /// The caller's whole jurisdiction as a store scope.
    pub fn scope(&self) -> Scope {
        Scope(self.region.clone())
    }

    /// True when `region_code` (a village, town or county code) lies in the
    /// caller's jurisdiction.
    pub fn covers(&self, region_code: &str) -> bool {
        self.region.contains(region_code)
    }

    pub fn audit(&self) -> AuditActor {
        AuditActor {
            user_id: Some(self.user.id),
            username: self.user.username.clone(),
            role: self.user.role.clone(),
        }
    }
}
