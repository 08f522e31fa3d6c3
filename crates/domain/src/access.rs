//! Who may do what, in one place.
//!
//! Every permission decision in the application goes through [`may`] and
//! [`in_jurisdiction`], so the rules can be reviewed (and audited) by reading
//! one file. Anything not explicitly allowed is denied.

use crate::person::coded_enum;
use crate::region::{RegionCode, RegionLevel};

coded_enum! {
    /// Roles of the people using the system, from village assistant to
    /// district approver.
    pub enum Role {
        VillageAssistant("village_assistant", "村(社区)救助协理员"),
        TownCaseWorker("town_caseworker", "乡镇经办"),
        TownReviewer("town_reviewer", "乡镇审核"),
        DistrictApprover("district_approver", "区民政审批"),
        DeptLiaison("dept_liaison", "部门经办"),
        Charity("charity", "社会组织/慈善"),
        Supervisor("supervisor", "监督"),
        Admin("admin", "管理员"),
    }
}

impl Role {
    /// The level of region a user with this role is normally assigned to;
    /// None means the role is not tied to a level (supervision may be
    /// assigned at any level).
    pub fn home_level(self) -> Option<RegionLevel> {
        match self {
            Role::VillageAssistant => Some(RegionLevel::Village),
            Role::TownCaseWorker | Role::TownReviewer => Some(RegionLevel::Town),
            Role::DistrictApprover | Role::DeptLiaison | Role::Charity | Role::Admin => {
                Some(RegionLevel::County)
            }
            Role::Supervisor => None,
        }
    }
}

coded_enum! {
    /// Things a user may try to do.
    pub enum Action {
        ViewHousehold("view_household", "查看家庭信息"),
        EditHousehold("edit_household", "编辑家庭信息"),
        RevealIdNumber("reveal_id_number", "查看完整身份证号"),
        ImportHouseholds("import_households", "导入家庭信息"),
        ExportHouseholds("export_households", "导出家庭信息"),
        ReadAudit("read_audit", "查看审计日志"),
        ManageUsers("manage_users", "管理用户"),
        ManageRegions("manage_regions", "管理行政区划"),
        UseApi("use_api", "使用接口"),
        OpenApplication("open_application", "受理申请"),
        HandleCase("handle_case", "办理救助事项"),
        HandleReferral("handle_referral", "办理转介"),
        ManageCalendar("manage_calendar", "维护工作日历"),
        ManagePolicies("manage_policies", "维护政策、标准与预警规则"),
        RunFinder("run_finder", "政策找人与预警排查"),
        UploadFeed("upload_feed", "报送部门数据"),
        QueryAssistance("query_assistance", "按身份证号查询救助状态"),
    }
}

/// Whether `role` may perform `action` at all (jurisdiction is checked
/// separately). Deny by default: only the pairs listed here are allowed.
// An explicit match (rather than `matches!`) keeps the allowed pairs readable
// as a table and makes the deny-by-default arm visible.
#[allow(clippy::match_like_matches_macro)]
pub fn may(role: Role, action: Action) -> bool {
    use Action::*;
    use Role::*;
    match (role, action) {
        (
            VillageAssistant | TownCaseWorker | TownReviewer | DistrictApprover | Supervisor,
            ViewHousehold | RevealIdNumber | ExportHouseholds,
        ) => true,
        (
            VillageAssistant | TownCaseWorker | DistrictApprover,
            EditHousehold | ImportHouseholds,
        ) => true,
        (Supervisor | Admin, ReadAudit) => true,
        (VillageAssistant | TownCaseWorker, OpenApplication) => true,
        (VillageAssistant | TownCaseWorker | TownReviewer | DistrictApprover, HandleCase) => true,
        (DeptLiaison | Charity, HandleReferral) => true,
        (Admin, ManageCalendar | ManagePolicies) => true,
        (Admin, ManageUsers | ManageRegions) => true,
        (TownCaseWorker | DistrictApprover, RunFinder) => true,
        (DeptLiaison, UploadFeed) => true,
        // A purpose-bound status query (categories and ledger only), for
        // departments' systems as well as staff who may view households.
        (
            VillageAssistant | TownCaseWorker | TownReviewer | DistrictApprover | DeptLiaison
            | Supervisor,
            QueryAssistance,
        ) => true,
        (
            VillageAssistant | TownCaseWorker | TownReviewer | DistrictApprover | DeptLiaison
            | Charity | Supervisor | Admin,
            UseApi,
        ) => true,
        _ => false,
    }
}

/// Whether a user assigned to `actor_region` may act on data located at
/// `target_code` (the actor's region must contain it; malformed codes are
/// never in anyone's jurisdiction).
pub fn in_jurisdiction(actor_region: &RegionCode, target_code: &str) -> bool {
    actor_region.contains(target_code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::person::Coded;

    #[test]
    fn permission_matrix() {
        use Action::*;
        use Role::*;
        let allowed: &[(Role, &[Action])] = &[
            (
                VillageAssistant,
                &[
                    ViewHousehold,
                    EditHousehold,
                    RevealIdNumber,
                    ImportHouseholds,
                    ExportHouseholds,
                    UseApi,
                    OpenApplication,
                    HandleCase,
                    QueryAssistance,
                ],
            ),
            (
                TownCaseWorker,
                &[
                    ViewHousehold,
                    EditHousehold,
                    RevealIdNumber,
                    ImportHouseholds,
                    ExportHouseholds,
                    UseApi,
                    OpenApplication,
                    HandleCase,
                    RunFinder,
                    QueryAssistance,
                ],
            ),
            (
                TownReviewer,
                &[
                    ViewHousehold,
                    RevealIdNumber,
                    ExportHouseholds,
                    UseApi,
                    HandleCase,
                    QueryAssistance,
                ],
            ),
            (
                DistrictApprover,
                &[
                    ViewHousehold,
                    EditHousehold,
                    RevealIdNumber,
                    ImportHouseholds,
                    ExportHouseholds,
                    UseApi,
                    HandleCase,
                    RunFinder,
                    QueryAssistance,
                ],
            ),
            (
                DeptLiaison,
                &[UseApi, HandleReferral, UploadFeed, QueryAssistance],
            ),
            (Charity, &[UseApi, HandleReferral]),
            (
                Supervisor,
                &[
                    ViewHousehold,
                    RevealIdNumber,
                    ExportHouseholds,
                    ReadAudit,
                    UseApi,
                    QueryAssistance,
                ],
            ),
            (
                Admin,
                &[
                    ReadAudit,
                    ManageUsers,
                    ManageRegions,
                    UseApi,
                    ManageCalendar,
                    ManagePolicies,
                ],
            ),
        ];
        assert_eq!(allowed.len(), Role::all().len());
        for (role, actions) in allowed {
            for action in Action::all() {
                assert_eq!(
                    may(*role, *action),
                    actions.contains(action),
                    "{role:?} {action:?}"
                );
            }
        }
    }

    #[test]
    fn home_levels() {
        assert_eq!(
            Role::VillageAssistant.home_level(),
            Some(RegionLevel::Village)
        );
        assert_eq!(Role::TownCaseWorker.home_level(), Some(RegionLevel::Town));
        assert_eq!(Role::TownReviewer.home_level(), Some(RegionLevel::Town));
        assert_eq!(
            Role::DistrictApprover.home_level(),
            Some(RegionLevel::County)
        );
        assert_eq!(Role::DeptLiaison.home_level(), Some(RegionLevel::County));
        assert_eq!(Role::Charity.home_level(), Some(RegionLevel::County));
        assert_eq!(Role::Supervisor.home_level(), None);
        assert_eq!(Role::Admin.home_level(), Some(RegionLevel::County));
    }

    #[test]
    fn role_codes() {
        assert_eq!(Role::TownCaseWorker.code(), "town_caseworker");
        assert_eq!(
            Role::from_label("村(社区)救助协理员"),
            Some(Role::VillageAssistant)
        );
        assert_eq!(Role::from_code("admin"), Some(Role::Admin));
    }

    #[test]
    fn jurisdiction_by_prefix() {
        let town = RegionCode::parse("330106004").unwrap();
        assert!(in_jurisdiction(&town, "330106004001"));
        assert!(in_jurisdiction(&town, "330106004"));
        assert!(!in_jurisdiction(&town, "330106005001"));
        assert!(!in_jurisdiction(&town, "330106"));
        assert!(!in_jurisdiction(&town, "330106004abc"));
        let county = RegionCode::parse("330106").unwrap();
        assert!(in_jurisdiction(&county, "330106005001"));
        assert!(!in_jurisdiction(&county, "330105005001"));
    }
}
