//! Named operators: accounts with a role (`viewer`, `agent`, `admin`), API tokens (only
//! their SHA-256 is stored, compared in constant time), page passwords (Argon2id) and
//! server-side page sessions. The HTTP shell authenticates with [`bearer`] and
//! [`session`]; the admin API, the admin page and `leadline operators …` manage accounts
//! with the functions here (which take the `Store`, so the CLI can use them offline).
//!
//! The shared `LEADLINE_ADMIN_TOKEN` keeps working as a bootstrap admin named
//! [`BOOTSTRAP_NAME`].

use super::views::{IssuedToken, OperatorView};
use super::AppError;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use governor::{DefaultKeyedRateLimiter, Quota};
pub use leadline_core::operators::BOOTSTRAP_NAME;
use leadline_core::operators::{check_name, Operator, Role, Session, TokenRecord};
use leadline_core::storage::Store;
use leadline_core::Ts;
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::num::NonZeroU32;
use subtle::ConstantTimeEq;

/// Who is asking: an operator's name and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: Role,
}

impl Principal {
    pub fn bootstrap() -> Principal {
        Principal { name: BOOTSTRAP_NAME.into(), role: Role::Admin }
    }
}

/// API tokens start with this, so a leaked one is recognisable (secret scanners).
pub const TOKEN_PREFIX: &str = "llop_";
/// A page session lasts this long.
pub const SESSION_TTL_HOURS: i64 = 12;
/// The shortest page password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Sign-in attempts allowed per account per minute, and per client IP per minute.
pub const LOGINS_PER_ACCOUNT_PER_MINUTE: u32 = 5;
pub const LOGINS_PER_IP_PER_MINUTE: u32 = 20;

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn ct_eq(a: &str, b: &str) -> bool {
    let (da, db) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    bool::from(da.as_slice().ct_eq(db.as_slice()))
}

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

/// Argon2id (the crate's default parameters) with a random salt.
pub fn hash_password(password: &str) -> Result<String, AppError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AppError::field(format!("a password has at least {MIN_PASSWORD_CHARS} characters")));
    }
    if password.len() > 1024 {
        return Err(AppError::field("a password has at most 1024 bytes"));
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Unavailable(format!("the password could not be hashed: {e}")))
}

fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// The operator a bearer token belongs to: the shared admin token (a bootstrap admin), or
/// an active operator's token.
pub fn bearer(store: &Store, admin_token: Option<&str>, given: &str) -> Result<Option<Principal>, AppError> {
    if given.is_empty() {
        return Ok(None);
    }
    if admin_token.is_some_and(|t| !t.is_empty() && ct_eq(t, given)) {
        return Ok(Some(Principal::bootstrap()));
    }
    if !given.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    let digest = sha256_hex(given);
    let mut found = None;
    // Every token is compared (no early exit), so timing does not tell which matched.
    for op in store.operators()?.into_iter().filter(Operator::active) {
        if op.tokens.iter().fold(false, |hit, t| hit | ct_eq(&t.sha256, &digest)) && found.is_none() {
            found = Some(Principal { name: op.name.clone(), role: op.role });
        }
    }
    Ok(found)
}

fn get(store: &Store, name: &str) -> Result<Operator, AppError> {
    store.operator(name)?.ok_or_else(|| AppError::NotFound(format!("no operator named '{name}'")))
}

pub fn list(store: &Store) -> Result<Vec<OperatorView>, AppError> {
    Ok(store.operators()?.iter().map(OperatorView::from).collect())
}

pub fn find(store: &Store, name: &str) -> Result<OperatorView, AppError> {
    Ok((&get(store, name)?).into())
}

/// Creates an operator (a revoked one of the same name cannot be re-created: names stay
/// unique on the timeline).
pub async fn create(
    store: &Store,
    by: &str,
    name: &str,
    role: Role,
    password: Option<&str>,
    now: Ts,
) -> Result<OperatorView, AppError> {
    let name = name.trim();
    if let Some(why) = check_name(name) {
        return Err(AppError::field(why));
    }
    if name == BOOTSTRAP_NAME {
        return Err(AppError::field(format!("'{BOOTSTRAP_NAME}' is the name of the shared admin token")));
    }
    if store.operator(name)?.is_some() {
        return Err(AppError::Conflict { code: "operator_exists", message: format!("operator '{name}' exists") });
    }
    let password_hash = match password {
        Some(p) => Some(hash_password(p)?),
        None => None,
    };
    let op = Operator {
        name: name.to_string(),
        role,
        password_hash,
        tokens: Vec::new(),
        created_at: now,
        created_by: by.to_string(),
        revoked_at: None,
    };
    store.put_operator(&op).await?;
    tracing::info!(operator = %by, target_operator = %name, role = role.as_str(), "operator created");
    Ok((&op).into())
}

fn active(store: &Store, name: &str) -> Result<Operator, AppError> {
    let op = get(store, name)?;
    if !op.active() {
        return Err(AppError::Conflict { code: "operator_revoked", message: format!("operator '{name}' is revoked") });
    }
    Ok(op)
}

pub async fn set_role(store: &Store, by: &str, name: &str, role: Role) -> Result<OperatorView, AppError> {
    let mut op = active(store, name)?;
    op.role = role;
    store.put_operator(&op).await?;
    tracing::info!(operator = %by, target_operator = %name, role = role.as_str(), "operator role changed");
    Ok((&op).into())
}

/// Sets a new page password; every page session of the operator ends.
pub async fn set_password(store: &Store, by: &str, name: &str, password: &str) -> Result<OperatorView, AppError> {
    let mut op = active(store, name)?;
    op.password_hash = Some(hash_password(password)?);
    store.put_operator_ending_sessions(&op).await?;
    tracing::info!(operator = %by, target_operator = %name, "operator password set");
    Ok((&op).into())
}

/// Revokes an operator: their tokens, password and page sessions stop working at once.
pub async fn revoke(store: &Store, by: &str, name: &str, now: Ts) -> Result<OperatorView, AppError> {
    let mut op = get(store, name)?;
    if op.revoked_at.is_none() {
        op.revoked_at = Some(now);
        op.tokens.clear();
        op.password_hash = None;
    }
    let ended = store.put_operator_ending_sessions(&op).await?;
    tracing::info!(operator = %by, target_operator = %name, sessions_ended = ended, "operator revoked");
    Ok((&op).into())
}

/// Issues a new API token; it is returned this once.
pub async fn issue_token(store: &Store, by: &str, name: &str, now: Ts) -> Result<IssuedToken, AppError> {
    let mut op = active(store, name)?;
    let token = format!("{TOKEN_PREFIX}{}", random_hex(32));
    let id = random_hex(4);
    op.tokens.push(TokenRecord { id: id.clone(), sha256: sha256_hex(&token), created_at: now });
    store.put_operator(&op).await?;
    tracing::info!(operator = %by, target_operator = %name, token_id = %id, "operator token issued");
    Ok(IssuedToken { operator: op.name, token_id: id, token })
}

/// Revokes one API token by its id.
pub async fn revoke_token(store: &Store, by: &str, name: &str, token_id: &str) -> Result<OperatorView, AppError> {
    let mut op = get(store, name)?;
    let before = op.tokens.len();
    op.tokens.retain(|t| t.id != token_id);
    if op.tokens.len() == before {
        return Err(AppError::NotFound(format!("operator '{name}' has no token '{token_id}'")));
    }
    store.put_operator(&op).await?;
    tracing::info!(operator = %by, target_operator = %name, token_id = %token_id, "operator token revoked");
    Ok((&op).into())
}

/// Sign-in throttles: per account and per client IP (governor token buckets).
pub struct LoginThrottle {
    accounts: DefaultKeyedRateLimiter<String>,
    ips: DefaultKeyedRateLimiter<IpAddr>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        let per_minute = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        LoginThrottle {
            accounts: DefaultKeyedRateLimiter::keyed(per_minute(LOGINS_PER_ACCOUNT_PER_MINUTE)),
            ips: DefaultKeyedRateLimiter::keyed(per_minute(LOGINS_PER_IP_PER_MINUTE)),
        }
    }
}

impl LoginThrottle {
    /// Whether another attempt is allowed now (each call counts as one attempt).
    pub fn allow(&self, account: &str, ip: Option<IpAddr>) -> bool {
        let ip_ok = ip.is_none_or(|ip| self.ips.check_key(&ip).is_ok());
        let account_ok = self.accounts.check_key(&account.to_ascii_lowercase()).is_ok();
        if self.accounts.len() > 10_000 {
            self.accounts.retain_recent();
            self.ips.retain_recent();
        }
        ip_ok && account_ok
    }
}

/// Why a sign-in failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginError {
    Wrong,
    Throttled,
    Unavailable(String),
}

impl From<AppError> for LoginError {
    fn from(e: AppError) -> Self {
        LoginError::Unavailable(e.to_string())
    }
}

/// A new page session: the cookie value (only its SHA-256 is stored) and the session.
pub struct NewSession {
    pub cookie: String,
    pub session: Session,
}

async fn new_session(store: &Store, operator: &str, now: Ts) -> Result<NewSession, AppError> {
    let cookie = random_hex(32);
    let session = Session {
        operator: operator.to_string(),
        csrf: random_hex(32),
        created_at: now,
        expires_at: Ts::from(now.0 + chrono::Duration::hours(SESSION_TTL_HOURS)),
    };
    store.put_session(&sha256_hex(&cookie), &session).await?;
    Ok(NewSession { cookie, session })
}

/// Signs in with a name and password, or (name empty) with the shared admin token as the
/// password: a new server-side session.
pub async fn login(
    store: &Store,
    throttle: &LoginThrottle,
    admin_token: Option<&str>,
    name: &str,
    password: &str,
    ip: Option<IpAddr>,
    now: Ts,
) -> Result<NewSession, LoginError> {
    let name = name.trim();
    let account = if name.is_empty() { BOOTSTRAP_NAME } else { name };
    if !throttle.allow(account, ip) {
        tracing::warn!(operator = %account, "admin page: sign-in throttled");
        return Err(LoginError::Throttled);
    }
    if name.is_empty() || name == BOOTSTRAP_NAME {
        if admin_token.is_some_and(|t| !t.is_empty() && ct_eq(t, password)) {
            return Ok(new_session(store, BOOTSTRAP_NAME, now).await?);
        }
        return Err(LoginError::Wrong);
    }
    let op = store.operator(name).map_err(AppError::from)?;
    let hash = op.as_ref().filter(|o| o.active()).and_then(|o| o.password_hash.clone());
    let password = password.to_string();
    // Argon2 is deliberately slow: off the async workers. Unknown names are hashed too, so
    // timing does not tell which names exist.
    let ok = tokio::task::spawn_blocking(move || match hash {
        Some(h) => verify_password(&h, &password),
        None => {
            let _ = hash_password("not-a-real-password-at-all");
            false
        }
    })
    .await
    .unwrap_or(false);
    if !ok {
        return Err(LoginError::Wrong);
    }
    Ok(new_session(store, name, now).await?)
}

/// The operator and session of a page cookie, if it is live: not expired, not signed out,
/// the operator not revoked. The role is read now, so a role change applies at once.
pub fn session(store: &Store, cookie: &str, now: Ts) -> Result<Option<(Principal, Session)>, AppError> {
    if cookie.is_empty() || cookie.len() > 128 {
        return Ok(None);
    }
    let Some(s) = store.session(&sha256_hex(cookie))? else { return Ok(None) };
    if s.expires_at < now {
        return Ok(None);
    }
    if s.operator == BOOTSTRAP_NAME {
        return Ok(Some((Principal::bootstrap(), s)));
    }
    match store.operator(&s.operator)? {
        Some(op) if op.active() => Ok(Some((Principal { name: op.name, role: op.role }, s))),
        _ => Ok(None),
    }
}

/// Ends a page session (sign-out).
pub async fn logout(store: &Store, cookie: &str) -> Result<(), AppError> {
    if cookie.is_empty() || cookie.len() > 128 {
        return Ok(());
    }
    store.remove_session(&sha256_hex(cookie)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        assert!(hash_password("short").is_err());
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "correct horse battery"));
        assert!(!verify_password(&h, "correct horse battery!"));
        assert!(!verify_password("garbage", "x"));
    }

    #[test]
    fn the_throttle_counts_per_account_and_per_ip() {
        let t = LoginThrottle::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..LOGINS_PER_ACCOUNT_PER_MINUTE {
            assert!(t.allow("ana", Some(ip)));
        }
        assert!(!t.allow("ana", Some(ip)), "per account");
        assert!(!t.allow("ANA", None), "names are compared without case");
        assert!(t.allow("bob", Some(ip)), "another account from the same IP");
    }
}
