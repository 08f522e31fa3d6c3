//! Accounts: signing in (with throttling by account and source address), password
//! hashing and strength, secrets for sessions and API tokens, changing one's
//! own password, and the administration of accounts and their API tokens.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use rand::RngCore;
use sha2::{Digest, Sha256};

pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .expect("argon2 hash")
        .to_string()
}

pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Shortest password a person may choose.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Common passwords and their stems (lower case). A password is refused when, lower-cased,
/// it is one of these, or becomes one after dropping trailing digits and symbols
/// (`password2026!`) or after undoing look-alike digits (`p4ssw0rd`).
const COMMON_PASSWORDS: &[&str] = &[
    "1q2w3e",
    "1q2w3e4r",
    "1q2w3e4r5t",
    "1qaz2wsx",
    "1qaz2wsx3edc",
    "a123456",
    "a12345678",
    "a1b2c3",
    "a1b2c3d4",
    "aa123456",
    "aaa",
    "aaaaaa",
    "aaaaaaaaaa",
    "abc",
    "abc123",
    "abc12345",
    "abc123456",
    "abcd",
    "abcd1234",
    "abcde",
    "abcdef",
    "abcdefg",
    "abcdefgh",
    "abcdefghij",
    "access",
    "access14",
    "admin",
    "admin123",
    "administrator",
    "aini1314",
    "alibaba",
    "apple",
    "asdf",
    "asdf1234",
    "asdfgh",
    "asdfghjkl",
    "ashley",
    "autumn",
    "baidu",
    "banana",
    "baseball",
    "basketball",
    "batman",
    "beijing",
    "buster",
    "changeme",
    "charlie",
    "chen",
    "chengdu",
    "cherry",
    "china",
    "chocolate",
    "chongqing",
    "computer",
    "cookie",
    "corvette",
    "daniel",
    "database",
    "default",
    "demo",
    "diamond",
    "dibao",
    "dibaohu",
    "doudi",
    "doudi2026",
    "dragon",
    "dragon123",
    "example",
    "ferrari",
    "flower",
    "football",
    "freedom",
    "gao",
    "ginger",
    "golden",
    "goodluck",
    "guangzhou",
    "guest",
    "guest123",
    "guo",
    "hacker",
    "hangzhou",
    "happy",
    "harley",
    "he",
    "hello",
    "hello123",
    "helloworld",
    "hockey",
    "honda",
    "hu",
    "huang",
    "hunter",
    "iloveyou",
    "iloveyou1",
    "internet",
    "jennifer",
    "jessica",
    "jiuji",
    "jiuzhu",
    "jordan",
    "killer",
    "letmein",
    "letmein1",
    "li",
    "lin",
    "linshi",
    "liu",
    "login",
    "love",
    "lover",
    "lucky",
    "luo",
    "ma",
    "manager",
    "manager1",
    "master",
    "master123",
    "matrix",
    "michael",
    "minzheng",
    "money",
    "monkey",
    "monkey123",
    "mustang",
    "mysql",
    "nanjing",
    "network",
    "office",
    "operator",
    "oracle",
    "orange",
    "p4ssword",
    "p@ssw0rd",
    "pa55word",
    "pass",
    "passw0rd",
    "passwd",
    "password",
    "password1",
    "password12",
    "password123",
    "pepper",
    "pokemon",
    "porsche",
    "postgres",
    "princess",
    "private",
    "public",
    "purple",
    "q1w2e3r4",
    "q1w2e3r4t5",
    "qazwsx",
    "qqqqqq",
    "qwe",
    "qweasd",
    "qweasdzxc",
    "qwer1234",
    "qwert",
    "qwerty",
    "qwerty123",
    "qwertyui",
    "qwertyuiop",
    "ranger",
    "robert",
    "root",
    "root123",
    "sample",
    "secret",
    "secret1",
    "secure",
    "security",
    "server",
    "service",
    "shadow",
    "shanghai",
    "shehui",
    "shengming",
    "shenzhen",
    "silver",
    "soccer",
    "spring",
    "starwars",
    "summer",
    "sun",
    "sunshine",
    "super",
    "superman",
    "supervisor",
    "support",
    "system",
    "taobao",
    "tekun",
    "tencent",
    "test",
    "test123",
    "tester",
    "thomas",
    "tianjin",
    "tigger",
    "toyota",
    "trustno1",
    "user",
    "user123",
    "wang",
    "wangyi",
    "wechat",
    "weixin",
    "welcome",
    "welcome1",
    "whatever",
    "winter",
    "wo1314",
    "woaini",
    "woaini1314",
    "woaini520",
    "word",
    "wu",
    "wuhan",
    "xu",
    "yamaha",
    "yang",
    "yellow",
    "zaq12wsx",
    "zhang",
    "zhao",
    "zhongguo",
    "zhou",
    "zhu",
    "zxcv1234",
    "zxcvbn",
    "zxcvbnm",
];

fn is_common(pw: &str) -> bool {
    let lower = pw.to_lowercase();
    let unleet = |s: &str| -> String {
        s.chars()
            .map(|c| match c {
                '0' => 'o',
                '1' => 'i',
                '3' => 'e',
                '4' | '@' => 'a',
                '5' | '$' => 's',
                '7' => 't',
                c => c,
            })
            .collect()
    };
    let stem = |s: &str| -> String { s.trim_end_matches(|c: char| !c.is_alphabetic()).to_string() };
    let stemmed = stem(&lower);
    let mut candidates = vec![
        lower.clone(),
        stemmed.clone(),
        unleet(&lower),
        unleet(&stemmed),
        stem(&unleet(&stemmed)),
    ];
    // `1password`, `123qwerty`: leading digits too.
    candidates.push(
        stemmed
            .trim_start_matches(|c: char| !c.is_alphabetic())
            .to_string(),
    );
    // Repeated stems such as `abcabcabc1`.
    let repeated = |s: &str| -> bool {
        let n = s.chars().count();
        (1..=n / 2).any(|k| {
            n % k == 0 && {
                let chars: Vec<char> = s.chars().collect();
                chars.chunks(k).all(|c| c == &chars[..k])
            }
        })
    };
    candidates
        .iter()
        .any(|c| c.is_empty() || COMMON_PASSWORDS.binary_search(&c.as_str()).is_ok() || repeated(c))
}

/// Password rule for people: at least [`MIN_PASSWORD_CHARS`] characters, letters and
/// digits, and not a common password or a variant of one.
pub fn check_password_strength(pw: &str) -> Result<(), String> {
    if pw.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "密码至少 {MIN_PASSWORD_CHARS} 位，请换一个更长的密码"
        ));
    }
    if !pw.chars().any(|c| c.is_ascii_digit()) || !pw.chars().any(|c| c.is_alphabetic()) {
        return Err("密码须同时包含字母和数字".into());
    }
    if is_common(pw) {
        return Err(
            "该密码过于常见（如 password1、qwerty123、p@ssw0rd），容易被猜中，请换一个".into(),
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- signing in

/// How many sign-in attempts are evaluated before a source is made to wait.
#[derive(Clone, Copy, Debug)]
pub struct Throttle {
    /// Attempts on one account from one source address per window.
    pub per_account_and_source: i64,
    /// Failed attempts from one source address on any accounts per window (password spraying).
    pub per_source: i64,
    pub window_minutes: i64,
}

pub const THROTTLE: Throttle = Throttle {
    per_account_and_source: 5,
    per_source: 30,
    window_minutes: 15,
};

#[derive(Debug)]
pub enum SignIn {
    /// The password was right. `failures_elsewhere`: failed attempts on this account from
    /// other addresses since its previous sign-in, to tell the owner.
    Ok {
        user: doudi_store::users::UserRow,
        failures_elsewhere: i64,
    },
    /// Wrong user name or password (not told apart).
    Refused,
    /// Too many attempts from this source: not evaluated; try again after `retry_at`.
    Throttled {
        retry_at: chrono::DateTime<chrono::Utc>,
    },
}

fn ts(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Signs in `username` from `source` (the client address, or `unknown`).
///
/// The attempt is counted on the account + source counter before the password is
/// checked, in one write transaction with an UPSERT, so a burst of concurrent attempts
/// has exactly `per_account_and_source` evaluated. The source's own counter holds its
/// failures (password spraying across accounts), counted after each wrong password, so
/// many people signing in together behind one address are never slowed down. Over a
/// limit only this source waits until its window ends; the owner signing in from
/// another address is not affected.
/// Failures and refusals on an existing account are audited on that account.
pub async fn sign_in(
    db: &doudi_store::Db,
    username: &str,
    password: &str,
    source: &str,
    t: &Throttle,
) -> crate::Result<SignIn> {
    use doudi_store::users;
    let now = chrono::Utc::now();
    let window_start = ts(now - chrono::Duration::minutes(t.window_minutes));
    let account_key = format!("acct:{username}|{source}");
    let source_key = format!("src:{source}");
    let user = users::by_username(db, username).await?;

    let mut tx = db.begin_write().await?;
    let (n_account, first_account) =
        users::count_login_attempt(&mut tx, &account_key, &window_start).await?;
    // The source's counter holds its failures only (counted below, after a
    // wrong password): an office behind one address signing in together is
    // not slowed down by its own successful sign-ins.
    let (failures_from_source, first_source) =
        users::login_failures(&mut tx, &source_key, &window_start).await?;
    let n_source = failures_from_source + 1;
    let over = [
        (n_account > t.per_account_and_source, first_account),
        (n_source > t.per_source, first_source),
    ]
    .into_iter()
    .filter(|(over, _)| *over)
    .filter_map(|(_, first)| chrono::DateTime::parse_from_rfc3339(&first).ok())
    .map(|first| first.with_timezone(&chrono::Utc) + chrono::Duration::minutes(t.window_minutes))
    .max();
    if let Some(retry_at) = over {
        // Not evaluated, so not counted: the window keeps its start.
        tx.rollback().await?;
        if let Some(u) = &user {
            audit_attempt(
                db,
                u,
                "login_throttled",
                format!("登录尝试过多，已暂缓来源 {source} 的登录"),
            )
            .await?;
        }
        return Ok(SignIn::Throttled { retry_at });
    }
    tx.commit().await?;

    let ok = match &user {
        Some(u) if u.active && !u.is_machine => {
            let (hash, pw) = (u.password_hash.clone(), password.to_string());
            tokio::task::spawn_blocking(move || verify_password(&hash, &pw)).await?
        }
        _ => {
            // Spend the same time as a real check so that usernames cannot be probed by timing.
            static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
            let pw = password.to_string();
            tokio::task::spawn_blocking(move || {
                verify_password(
                    DUMMY.get_or_init(|| hash_password("not-a-real-password-1")),
                    &pw,
                )
            })
            .await?;
            false
        }
    };

    let mut tx = db.begin_write().await?;
    let user = match (ok, user) {
        (true, Some(u)) => u,
        (_, user) => {
            users::record_login_attempt(&mut tx, username, source, false).await?;
            users::count_login_attempt(&mut tx, &source_key, &window_start).await?;
            tx.commit().await?;
            if let Some(u) = &user {
                audit_attempt(
                    db,
                    u,
                    "login_failed",
                    format!("登录失败：密码不正确（来源 {source}）"),
                )
                .await?;
            }
            return Ok(SignIn::Refused);
        }
    };
    let failures_elsewhere =
        users::failures_elsewhere_since_last_success(&mut tx, username, source).await?;
    users::record_login_attempt(&mut tx, username, source, true).await?;
    users::clear_login_attempts(&mut tx, &account_key).await?;
    doudi_store::audit::record(
        &mut *tx,
        &actor_of(&user),
        doudi_store::audit::AuditEntry {
            action: "login",
            entity: "user",
            entity_id: user.id.to_string(),
            household_id: None,
            region_code: &user.region_code,
            before: None,
            after: None,
            detail: if failures_elsewhere > 0 {
                format!(
                    "登录（来源 {source}；此前有 {failures_elsewhere} 次来自其他地址的失败登录）"
                )
            } else {
                format!("登录（来源 {source}）")
            },
        },
    )
    .await?;
    tx.commit().await?;
    Ok(SignIn::Ok {
        user,
        failures_elsewhere,
    })
}

fn actor_of(u: &doudi_store::users::UserRow) -> doudi_store::audit::AuditActor {
    doudi_store::audit::AuditActor {
        user_id: Some(u.id),
        username: u.username.clone(),
        role: u.role.clone(),
    }
}

async fn audit_attempt(
    db: &doudi_store::Db,
    u: &doudi_store::users::UserRow,
    action: &str,
    detail: String,
) -> crate::Result<()> {
    doudi_store::audit::record(
        db.writer(),
        &actor_of(u),
        doudi_store::audit::AuditEntry {
            action,
            entity: "user",
            entity_id: u.id.to_string(),
            household_id: None,
            region_code: &u.region_code,
            before: None,
            after: None,
            detail,
        },
    )
    .await?;
    Ok(())
}

/// A random secret (session id, API token): 32 bytes, hex.
pub fn new_secret() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// What is stored of a secret: its SHA-256, hex.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_hash() {
        let h = hash_password("abcd1234");
        assert!(verify_password(&h, "abcd1234"));
        assert!(!verify_password(&h, "abcd1235"));
        assert!(!verify_password("not a hash", "abcd1234"));
    }

    #[test]
    fn weak_passwords_are_refused() {
        assert!(check_password_strength("abc123").is_err());
        assert!(check_password_strength("abcdefgh").is_err());
        assert!(check_password_strength("12345678").is_err());
        assert!(
            check_password_strength("abcd1234").is_err(),
            "shorter than 10"
        );
        assert!(check_password_strength("abcdefghij").is_err());
        assert!(check_password_strength("1234567890").is_err());
        assert!(check_password_strength("hz7kq2mw9x").is_ok());
        assert!(check_password_strength("Lanqiao-88cun").is_ok());
    }

    #[test]
    fn common_passwords_and_their_variants_are_refused() {
        assert!(
            COMMON_PASSWORDS.windows(2).all(|w| w[0] < w[1]),
            "sorted for binary search"
        );
        assert!(COMMON_PASSWORDS.len() >= 200);
        for pw in [
            "passw0rd",
            "password1",
            "Password2026",
            "passw0rd123",
            "P@ssw0rd!!12",
            "qwerty123456",
            "Qwertyuiop1",
            "1qaz2wsx3edc",
            "woaini1314520",
            "admin12345",
            "abcabcabc1",
            "aaaaaaaaa1",
            "12345abcde",
            "doudi20262026",
        ] {
            assert!(
                check_password_strength(pw).is_err(),
                "{pw} should be refused"
            );
        }
    }

    #[test]
    fn secrets_are_random_and_hashed() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(secret_hash(&a), secret_hash(&a));
        assert_ne!(secret_hash(&a), a);
    }
}

// ------------------------------------------------------- administration

use doudi_domain::access::{Action, Role};
use doudi_domain::{Coded, RegionCode};
use doudi_store::users::{self as user_store, NewUser};

use crate::caller::Caller;
use crate::error::{Error, FieldError, field};

/// An account as typed by an administrator (every field text, so that a
/// refused form can be shown back).
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct AccountInput {
    pub version: String,
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub region_code: String,
    pub department: String,
    pub phone: String,
    /// The initial password of a person's account (creation only).
    pub password: String,
    /// Non-empty: a machine account (API tokens, no password sign-in).
    pub machine: String,
    /// Non-empty: the account is active.
    pub active: String,
}

/// The refusal of an account placed outside the administrator's jurisdiction.
pub const FOREIGN_REGION: &str = "所在区划不在您的管辖范围内";

/// Checks an account; `creating` also checks the user name and the initial
/// password. A region outside the caller's jurisdiction is audited.
pub async fn check_account(
    db: &doudi_store::Db,
    caller: &Caller,
    f: &AccountInput,
    creating: bool,
) -> Result<NewUser, Vec<FieldError>> {
    let mut errors = vec![];
    let username = f.username.trim().to_string();
    if creating
        && (username.len() < 3
            || !username
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.'))
    {
        errors.push(field(
            "username",
            "用户名为 3 位以上的字母、数字、下划线或点",
        ));
    }
    if f.display_name.trim().is_empty() {
        errors.push(field("display_name", "请填写姓名"));
    }
    let role = Role::from_code(&f.role);
    if role.is_none() {
        errors.push(field("role", "请选择角色"));
    }
    match RegionCode::parse(&f.region_code) {
        Ok(r) if !caller.covers(r.as_str()) => {
            crate::audit::denied(db, caller, "user", 0, r.as_str()).await;
            errors.push(field("region_code", FOREIGN_REGION));
        }
        Ok(r) => {
            if let Some(level) = role.and_then(|ro| ro.home_level()) {
                if r.level() != level {
                    errors.push(field(
                        "region_code",
                        format!(
                            "{}应设在{}一级",
                            role.map(|r| r.label()).unwrap_or(""),
                            level.label()
                        ),
                    ));
                }
            }
        }
        Err(_) => errors.push(field("region_code", "请选择所在区划")),
    }
    let phone = crate::households::check_phone(&f.phone).unwrap_or_else(|m| {
        errors.push(field("phone", m));
        None
    });
    let department = f.department.trim().to_string();
    let needs_department = matches!(role, Some(Role::DeptLiaison | Role::Charity));
    if department.is_empty() {
        if needs_department {
            errors.push(field(
                "department",
                "部门经办、慈善组织账号须选择所属部门或机构",
            ));
        }
    } else {
        match crate::departments::active_named(db, &department).await {
            Ok(Some(_)) => {}
            Ok(None) => errors.push(crate::departments::not_listed("department")),
            Err(e) => errors.push(field("department", format!("部门列表读取失败：{e}"))),
        }
    }
    let machine = !f.machine.is_empty();
    if creating && !machine {
        if let Err(m) = check_password_strength(&f.password) {
            errors.push(field("password", format!("初始密码：{m}")));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let password = if machine {
        new_secret()
    } else {
        f.password.clone()
    };
    let password_hash = if creating {
        // argon2 is deliberately slow: off the async threads.
        tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|e| vec![field("password", format!("密码处理失败：{e}"))])?
    } else {
        String::new()
    };
    Ok(NewUser {
        username,
        display_name: f.display_name.trim().into(),
        password_hash,
        role: role.expect("checked").code().into(),
        region_code: f.region_code.clone(),
        department: (!department.is_empty()).then_some(department),
        phone,
        is_machine: machine,
    })
}

/// Creates an account in the administrator's jurisdiction.
pub async fn create_account(
    db: &doudi_store::Db,
    caller: &Caller,
    f: &AccountInput,
) -> crate::Result<i64> {
    crate::access::role(db, caller, Action::ManageUsers).await?;
    let u = check_account(db, caller, f, true)
        .await
        .map_err(Error::Invalid)?;
    let mut tx = db.begin_write().await?;
    let id = match user_store::insert(&mut tx, &u).await {
        Ok(id) => id,
        Err(doudi_store::StoreError::Invalid(m)) => return Err(Error::invalid("username", m)),
        Err(e) => return Err(e.into()),
    };
    crate::audit::write(
        &mut tx,
        caller,
        "admin",
        "user",
        id.to_string(),
        None,
        &u.region_code,
        None,
        Some(serde_json::json!({"username": u.username, "role": u.role, "region": u.region_code})),
        format!("新建账号 {}", u.username),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Edits an account (optimistic `version`); the user name and the kind of
/// account stay. An administrator cannot deactivate their own account.
pub async fn update_account(
    db: &doudi_store::Db,
    caller: &Caller,
    id: i64,
    f: &AccountInput,
) -> crate::Result<()> {
    let u = crate::access::user(db, caller, id).await?;
    let version: i64 = f
        .version
        .trim()
        .parse()
        .map_err(|_| Error::invalid("version", "表单版本无效，请刷新页面后重试"))?;
    let mut f = f.clone();
    f.username = u.username.clone();
    f.machine = if u.is_machine {
        "1".into()
    } else {
        String::new()
    };
    let active = !f.active.is_empty();
    let checked = check_account(db, caller, &f, false).await;
    let mut errors = checked.as_ref().err().cloned().unwrap_or_default();
    if id == caller.user.id && !active {
        errors.push(field("active", "不能停用自己的账号"));
    }
    let nu = match checked {
        Ok(nu) if errors.is_empty() => nu,
        _ => return Err(Error::Invalid(errors)),
    };
    let mut tx = db.begin_write().await?;
    user_store::update(&mut tx, id, version, &nu, active).await?;
    crate::audit::write(
        &mut tx,
        caller,
        "admin",
        "user",
        id.to_string(),
        None,
        &nu.region_code,
        Some(serde_json::json!({"role": u.role, "region": u.region_code, "active": u.active})),
        Some(serde_json::json!({"role": nu.role, "region": nu.region_code, "active": active})),
        format!("修改账号 {}", u.username),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Sets a new password on an account of the administrator's jurisdiction.
pub async fn reset_password(
    db: &doudi_store::Db,
    caller: &Caller,
    id: i64,
    password: &str,
) -> crate::Result<()> {
    let u = crate::access::user(db, caller, id).await?;
    check_password_strength(password).map_err(|m| Error::invalid("password", m))?;
    let pw = password.to_string();
    let hash = tokio::task::spawn_blocking(move || hash_password(&pw)).await?;
    let mut tx = db.begin_write().await?;
    user_store::set_password(&mut tx, id, &hash).await?;
    crate::audit::write(
        &mut tx,
        caller,
        "admin",
        "user",
        id.to_string(),
        None,
        &u.region_code,
        None,
        None,
        format!("重置账号 {} 的密码", u.username),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Changes the caller's own password; every session of the account ends
/// (the caller's page opens a new one).
pub async fn change_own_password(
    db: &doudi_store::Db,
    caller: &Caller,
    current: &str,
    new: &str,
    repeat: &str,
) -> crate::Result<()> {
    let mut errors = vec![];
    let (hash, cur) = (caller.user.password_hash.clone(), current.to_string());
    if !tokio::task::spawn_blocking(move || verify_password(&hash, &cur)).await? {
        errors.push(field("current", "当前密码不正确"));
    }
    if let Err(m) = check_password_strength(new) {
        errors.push(field("new", m));
    }
    if new != repeat {
        errors.push(field("repeat", "两次输入的新密码不一致"));
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let pw = new.to_string();
    let hash = tokio::task::spawn_blocking(move || hash_password(&pw)).await?;
    let mut tx = db.begin_write().await?;
    user_store::set_password(&mut tx, caller.user.id, &hash).await?;
    crate::audit::write(
        &mut tx,
        caller,
        "password",
        "user",
        caller.user.id.to_string(),
        None,
        caller.region.as_str(),
        None,
        None,
        "修改本人密码".into(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Creates an API token for a machine account; returns the secret, shown
/// once (only its hash is stored).
pub async fn create_token(
    db: &doudi_store::Db,
    caller: &Caller,
    id: i64,
    name: &str,
) -> crate::Result<String> {
    let u = crate::access::user(db, caller, id).await?;
    if !u.is_machine {
        return Err(Error::invalid(
            "name",
            "只有接口账号可以生成 API 令牌；人员账号请用用户名和密码登录",
        ));
    }
    let name = if name.trim().is_empty() {
        format!("令牌 {}", doudi_store::now_ts())
    } else {
        name.trim().to_string()
    };
    let token = new_secret();
    let mut tx = db.begin_write().await?;
    user_store::create_token(&mut tx, id, &name, &secret_hash(&token)).await?;
    crate::audit::write(
        &mut tx,
        caller,
        "admin",
        "api_token",
        id.to_string(),
        None,
        &u.region_code,
        None,
        None,
        format!("为账号 {} 创建 API 令牌“{name}”", u.username),
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// Revokes one API token of an account.
pub async fn revoke_token(
    db: &doudi_store::Db,
    caller: &Caller,
    id: i64,
    token_id: i64,
) -> crate::Result<()> {
    let u = crate::access::user(db, caller, id).await?;
    let mut tx = db.begin_write().await?;
    user_store::revoke_token(&mut tx, id, token_id).await?;
    crate::audit::write(
        &mut tx,
        caller,
        "admin",
        "api_token",
        token_id.to_string(),
        None,
        &u.region_code,
        None,
        None,
        format!("吊销账号 {} 的 API 令牌", u.username),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// ------------------------------------------------- the server's operator

/// The command line acts as the server's operator (whoever may run the
/// binary on the database): not an account, but audited as `system` like
/// any other write.
async fn operator_audit(
    tx: &mut doudi_store::Tx,
    u: &doudi_store::users::UserRow,
    entity: &str,
    detail: String,
) -> crate::Result<()> {
    doudi_store::audit::record(
        &mut **tx,
        &doudi_store::audit::AuditActor::system(),
        doudi_store::audit::AuditEntry {
            action: "admin",
            entity,
            entity_id: u.id.to_string(),
            household_id: None,
            region_code: &u.region_code,
            before: None,
            after: None,
            detail,
        },
    )
    .await?;
    Ok(())
}

/// Sets an account's password from the command line.
pub async fn operator_set_password(
    db: &doudi_store::Db,
    username: &str,
    password: &str,
) -> crate::Result<()> {
    check_password_strength(password).map_err(|m| Error::invalid("password", m))?;
    let u = user_store::by_username(db, username)
        .await?
        .ok_or(Error::NotFound)?;
    let mut tx = db.begin_write().await?;
    user_store::set_password(&mut tx, u.id, &hash_password(password)).await?;
    operator_audit(
        &mut tx,
        &u,
        "user",
        format!("命令行重置账号 {} 的密码", u.username),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Creates an API token from the command line; returns the secret.
pub async fn operator_create_token(
    db: &doudi_store::Db,
    username: &str,
    name: &str,
) -> crate::Result<String> {
    let u = user_store::by_username(db, username)
        .await?
        .ok_or(Error::NotFound)?;
    if !u.is_machine {
        return Err(Error::invalid(
            "username",
            "只有接口账号可以生成 API 令牌；人员账号请用用户名和密码登录",
        ));
    }
    let token = new_secret();
    let mut tx = db.begin_write().await?;
    user_store::create_token(&mut tx, u.id, name, &secret_hash(&token)).await?;
    operator_audit(
        &mut tx,
        &u,
        "api_token",
        format!("命令行为账号 {} 创建 API 令牌“{name}”", u.username),
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// Records an account created from the command line (`doudi user add`).
pub async fn operator_created(db: &doudi_store::Db, username: &str) -> crate::Result<()> {
    let u = user_store::by_username(db, username)
        .await?
        .ok_or(Error::NotFound)?;
    let mut tx = db.begin_write().await?;
    operator_audit(
        &mut tx,
        &u,
        "user",
        format!("命令行新建账号 {}（{}）", u.username, u.role),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
