//! The records behind [`InMemoryDirectory`](super::InMemoryDirectory),
//! [`UserRegistry`](crate::accounts::UserRegistry) and the registry's Basic logins: users by uid,
//! the login / e-mail / mobile indexes that point at them, and tenants (by id and by code).
//!
//! One user is one record (directory fields, disabled flag and password hash together), so the
//! disabled flag and the password can never disagree. The indexes hold only uids, and a reader
//! that follows one checks that the user it finds still holds that login (or e-mail, or
//! mobile): an index entry that a concurrent rename has not yet removed, or already added,
//! names nobody.
//!
//! - memory mode: writers are serialised by a mutex readers never touch; each write costs a
//!   few O(1) map operations (index entries first, then the record, then the old entries).
//! - redis mode (feature `redis`): each write is one script that checks the record (compare
//!   and set), the guards (`client:<uid>` absent on creation; each index entry absent or
//!   already this user's) and writes the record with its index entries, announcing every key
//!   it touched.

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::directory::UserError;
use super::directory::{DirectoryUser, canonical_email, canonical_login, canonical_mobile};
use crate::maybe_ready::MaybeReady;
use crate::principal::{Identity, PrincipalKind, Tenant};
use crate::store::table::{Lookup, decode_json, encode_json};
use crate::store::{Record, StoreError, Table};

/// A user: the directory fields, the password hash, and what is derived from them once.
pub(crate) struct UserRecord {
    pub(crate) user: Arc<DirectoryUser>,
    /// The argon2 PHC string of the password prepared with `canonical_password`.
    pub(crate) password: Option<Box<str>>,
    /// Who a Basic login of this user is.
    pub(crate) identity: Arc<Identity>,
    pub(crate) login_key: Box<str>,
    pub(crate) email_key: Option<Box<str>>,
    pub(crate) mobile_key: Option<Box<str>>,
    #[cfg_attr(not(feature = "basic"), allow(dead_code))] // for the Basic verifier
    /// Unique to this record in this process (see [`crate::store::next_record_stamp`]): a kept
    /// Basic verification of an older record of the user is stale.
    pub(crate) stamp: u64,
}

impl fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRecord")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

impl UserRecord {
    pub(crate) fn new(user: DirectoryUser, password: Option<Box<str>>) -> Self {
        let identity = Identity::new(&user.uid)
            .with_kind(PrincipalKind::User)
            .with_roles(&user.roles)
            .with_scopes(&user.scopes);
        Self {
            login_key: canonical_login(&user.login_name).into(),
            email_key: user.email.as_deref().map(|e| canonical_email(e).into()),
            mobile_key: user
                .mobile
                .as_deref()
                .and_then(canonical_mobile)
                .map(Into::into),
            identity: Arc::new(identity),
            password,
            user: Arc::new(user),
            stamp: crate::store::next_record_stamp(),
        }
    }

    /// The same user with `disabled` set.
    pub(crate) fn with_disabled(&self, disabled: bool) -> Self {
        let mut user = DirectoryUser::clone(&self.user);
        user.disabled = disabled;
        Self {
            user: Arc::new(user),
            password: self.password.clone(),
            identity: self.identity.clone(),
            login_key: self.login_key.clone(),
            email_key: self.email_key.clone(),
            mobile_key: self.mobile_key.clone(),
            stamp: crate::store::next_record_stamp(),
        }
    }
}

#[cfg_attr(not(feature = "redis"), allow(dead_code))] // written and read only in Redis
#[derive(Serialize)]
struct UserOut<'a> {
    uid: &'a str,
    login_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mobile: Option<&'a str>,
    tenants: &'a [String],
    scopes: &'a [String],
    roles: &'a [String],
    disabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<&'a str>,
}

#[cfg_attr(not(feature = "redis"), allow(dead_code))] // written and read only in Redis
#[derive(Deserialize)]
struct UserIn {
    uid: String,
    login_name: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    mobile: Option<String>,
    #[serde(default)]
    tenants: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    disabled: bool,
    #[serde(default)]
    password: Option<String>,
}

impl Record for UserRecord {
    const KIND: &'static str = "user";

    fn encode(&self) -> Vec<u8> {
        let u = &*self.user;
        encode_json(&UserOut {
            uid: &u.uid,
            login_name: &u.login_name,
            email: u.email.as_deref(),
            mobile: u.mobile.as_deref(),
            tenants: &u.tenants,
            scopes: &u.scopes,
            roles: &u.roles,
            disabled: u.disabled,
            password: self.password.as_deref(),
        })
    }

    fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let d: UserIn = decode_json(Self::KIND, bytes)?;
        let user = DirectoryUser {
            uid: d.uid,
            login_name: d.login_name,
            email: d.email,
            mobile: d.mobile,
            tenants: d.tenants,
            scopes: d.scopes,
            roles: d.roles,
            disabled: d.disabled,
        };
        Ok(Self::new(user, d.password.map(Into::into)))
    }
}

/// The namespace of an index.
pub(crate) trait IndexKind: Send + Sync + 'static {
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    const KIND: &'static str;
}

macro_rules! index_kind {
    ($name:ident, $kind:literal) => {
        pub(crate) struct $name;
        impl IndexKind for $name {
            const KIND: &'static str = $kind;
        }
    };
}

index_kind!(LoginIndex, "login");
index_kind!(EmailIndex, "email");
index_kind!(MobileIndex, "mobile");
index_kind!(TenantCodeIndex, "tenantcode");

/// An index entry: the key of the record it names.
pub(crate) struct Pointer<K> {
    pub(crate) target: Box<str>,
    kind: PhantomData<fn() -> K>,
}

impl<K> Pointer<K> {
    pub(crate) fn to(target: &str) -> Self {
        Self {
            target: target.into(),
            kind: PhantomData,
        }
    }
}

impl<K: IndexKind> Record for Pointer<K> {
    const KIND: &'static str = K::KIND;

    fn encode(&self) -> Vec<u8> {
        encode_json(&&*self.target)
    }

    fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let target: String = decode_json(Self::KIND, bytes)?;
        Ok(Self::to(&target))
    }
}

/// A tenant.
pub(crate) struct TenantRecord {
    pub(crate) tenant: Arc<Tenant>,
}

#[cfg_attr(not(feature = "redis"), allow(dead_code))] // written and read only in Redis
#[derive(Serialize)]
struct TenantOut<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
}

#[cfg_attr(not(feature = "redis"), allow(dead_code))] // written and read only in Redis
#[derive(Deserialize)]
struct TenantIn {
    id: String,
    #[serde(default)]
    code: Option<String>,
}

impl Record for TenantRecord {
    const KIND: &'static str = "tenant";

    fn encode(&self) -> Vec<u8> {
        encode_json(&TenantOut {
            id: &self.tenant.id,
            code: self.tenant.code.as_deref(),
        })
    }

    fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let d: TenantIn = decode_json(Self::KIND, bytes)?;
        Ok(Self {
            tenant: Arc::new(Tenant::new(d.id, d.code)),
        })
    }
}

/// What a user write decided, from the user as currently stored.
pub(crate) enum Step {
    /// Store this record.
    Put(UserRecord),
    /// Nothing to change.
    Keep,
    /// There is no such user (nothing changed).
    Missing,
}

/// What a user write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Written,
    Unchanged,
    Missing,
}

/// How many times an optimistic write is tried against concurrent writers.
#[cfg(feature = "redis")]
const CAS_ATTEMPTS: usize = 16;

/// Users, their indexes, and tenants.
pub(crate) struct UserTables {
    pub(crate) users: Arc<Table<UserRecord>>,
    logins: Arc<Table<Pointer<LoginIndex>>>,
    emails: Arc<Table<Pointer<EmailIndex>>>,
    mobiles: Arc<Table<Pointer<MobileIndex>>>,
    tenants: Arc<Table<TenantRecord>>,
    tenant_codes: Arc<Table<Pointer<TenantCodeIndex>>>,
    /// Memory mode: serialises writers (a write touches several tables). Readers never take it.
    writer: Mutex<()>,
}

impl fmt::Debug for UserTables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} users, {} tenants{}",
            self.users.len(),
            self.tenants.len(),
            if self.users.is_remote() {
                " cached from redis"
            } else {
                ""
            }
        )
    }
}

/// Follows an index entry to its record, keeping it only if it still holds `key`. Answered at
/// once, allocating nothing, when both are in memory.
fn resolve<K: IndexKind, V: Record>(
    index: &Arc<Table<Pointer<K>>>,
    records: &Arc<Table<V>>,
    key: &str,
    holds: fn(&V, &str) -> bool,
) -> Lookup<V> {
    match index.get(key) {
        MaybeReady::Ready(Ok(Some(pointer))) => match records.get(&pointer.target) {
            MaybeReady::Ready(found) => {
                MaybeReady::Ready(found.map(|v| v.filter(|v| holds(v, key))))
            }
            MaybeReady::Pending(read) => {
                let key = key.to_owned();
                MaybeReady::pending(async move { read.await.map(|v| v.filter(|v| holds(v, &key))) })
            }
        },
        MaybeReady::Ready(Ok(None)) => MaybeReady::Ready(Ok(None)),
        MaybeReady::Ready(Err(e)) => MaybeReady::Ready(Err(e)),
        MaybeReady::Pending(read) => {
            let (key, records) = (key.to_owned(), records.clone());
            MaybeReady::pending(async move {
                let Some(pointer) = read.await? else {
                    return Ok(None);
                };
                let found = records.get(&pointer.target).await?;
                Ok(found.filter(|v| holds(v, &key)))
            })
        }
    }
}

impl UserTables {
    pub(crate) fn memory() -> Self {
        Self {
            users: Table::memory(),
            logins: Table::memory(),
            emails: Table::memory(),
            mobiles: Table::memory(),
            tenants: Table::memory(),
            tenant_codes: Table::memory(),
            writer: Mutex::new(()),
        }
    }

    #[cfg(feature = "redis")]
    pub(crate) fn redis(store: &crate::store::RedisStore) -> Self {
        Self {
            users: Table::redis(store),
            logins: Table::redis(store),
            emails: Table::redis(store),
            mobiles: Table::redis(store),
            tenants: Table::redis(store),
            tenant_codes: Table::redis(store),
            writer: Mutex::new(()),
        }
    }

    /// Runs `f` under the (memory mode) writer lock.
    #[cfg_attr(not(feature = "basic"), allow(dead_code))] // for the user registry
    pub(crate) fn with_writer_lock<T>(&self, f: impl FnOnce() -> T) -> T {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        f()
    }

    pub(crate) fn user(&self, uid: &str) -> Lookup<UserRecord> {
        self.users.get(uid)
    }

    pub(crate) fn by_login(&self, name: &str) -> Lookup<UserRecord> {
        resolve(&self.logins, &self.users, &canonical_login(name), |u, k| {
            &*u.login_key == k
        })
    }

    pub(crate) fn by_email(&self, email: &str) -> Lookup<UserRecord> {
        resolve(
            &self.emails,
            &self.users,
            &canonical_email(email),
            |u, k| u.email_key.as_deref() == Some(k),
        )
    }

    pub(crate) fn by_mobile(&self, mobile: &str) -> Lookup<UserRecord> {
        match canonical_mobile(mobile) {
            Some(key) => resolve(&self.mobiles, &self.users, &key, |u, k| {
                u.mobile_key.as_deref() == Some(k)
            }),
            None => MaybeReady::Ready(Ok(None)),
        }
    }

    pub(crate) fn tenant(&self, id: &str) -> Lookup<TenantRecord> {
        self.tenants.get(id)
    }

    pub(crate) fn tenant_by_code(&self, code: &str) -> Lookup<TenantRecord> {
        resolve(&self.tenant_codes, &self.tenants, code, |t, k| {
            t.tenant.code.as_deref() == Some(k)
        })
    }

    /// Changes the user `uid` as `plan` decides from its current record. `create`: the uid
    /// must be new, and `uid_free` (run under the writer lock in memory mode) must agree; in
    /// redis mode `client:<uid>` must also be absent.
    pub(crate) async fn change_user(
        &self,
        uid: &str,
        create: bool,
        uid_free: &(dyn Fn(&str) -> bool + Send + Sync),
        plan: impl Fn(Option<&UserRecord>) -> Result<Step, UserError>,
    ) -> Result<Outcome, UserError> {
        #[cfg(feature = "redis")]
        if let Some(store) = self.users.remote_store() {
            return self
                .change_user_redis(store, uid, create, uid_free, plan)
                .await;
        }
        self.change_user_memory(uid, create, uid_free, plan)
    }

    fn change_user_memory(
        &self,
        uid: &str,
        create: bool,
        uid_free: &(dyn Fn(&str) -> bool + Send + Sync),
        plan: impl Fn(Option<&UserRecord>) -> Result<Step, UserError>,
    ) -> Result<Outcome, UserError> {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let previous = self.users.peek(uid);
        if create && previous.is_some() {
            return Err(UserError::Exists);
        }
        let next = match plan(previous.as_deref())? {
            Step::Put(next) => next,
            Step::Keep => return Ok(Outcome::Unchanged),
            Step::Missing => return Ok(Outcome::Missing),
        };
        if create && !uid_free(uid) {
            return Err(UserError::Exists);
        }
        // Every claim is checked before anything is written: a refused write changes nothing.
        let login = &*next.login_key;
        if self.taken(&self.logins, Some(login), uid, |u| &*u.login_key == login) {
            return Err(UserError::LoginNameTaken);
        }
        let email = next.email_key.as_deref();
        if self.taken(&self.emails, email, uid, |u| {
            u.email_key.as_deref() == email
        }) {
            return Err(UserError::EmailTaken);
        }
        let mobile = next.mobile_key.as_deref();
        if self.taken(&self.mobiles, mobile, uid, |u| {
            u.mobile_key.as_deref() == mobile
        }) {
            return Err(UserError::MobileTaken);
        }
        // Index entries first, the record next, the entries it no longer holds last: a reader
        // checks what it finds against the record, so it never follows a wrong entry.
        let (new_login, new_email, new_mobile) = (
            next.login_key.clone(),
            next.email_key.clone(),
            next.mobile_key.clone(),
        );
        claim_memory(&self.logins, Some(&new_login), uid);
        claim_memory(&self.emails, new_email.as_deref(), uid);
        claim_memory(&self.mobiles, new_mobile.as_deref(), uid);
        self.users.insert(uid, next);
        if let Some(old) = previous {
            release_memory(&self.logins, Some(&old.login_key), Some(&new_login), uid);
            release_memory(
                &self.emails,
                old.email_key.as_deref(),
                new_email.as_deref(),
                uid,
            );
            release_memory(
                &self.mobiles,
                old.mobile_key.as_deref(),
                new_mobile.as_deref(),
                uid,
            );
        }
        Ok(Outcome::Written)
    }

    /// Whether `key` of `index` names another user who still holds it (memory mode).
    fn taken<K: IndexKind>(
        &self,
        index: &Table<Pointer<K>>,
        key: Option<&str>,
        uid: &str,
        holds: impl Fn(&UserRecord) -> bool,
    ) -> bool {
        key.and_then(|key| index.peek(key)).is_some_and(|p| {
            *p.target != *uid && self.users.peek(&p.target).is_some_and(|u| holds(&u))
        })
    }

    /// Adds or replaces a tenant; its old code stops naming it.
    pub(crate) async fn put_tenant(&self, tenant: Tenant) -> Result<(), UserError> {
        if tenant.id.is_empty() || tenant.code.as_deref() == Some("") {
            return Err(UserError::Empty);
        }
        #[cfg(feature = "redis")]
        if let Some(store) = self.tenants.remote_store() {
            return self.put_tenant_redis(store, tenant).await;
        }
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let id = tenant.id.clone();
        let previous = self.tenants.peek(&id);
        if let Some(code) = tenant.code.as_deref()
            && let Some(holder) = self.tenant_codes.peek(code)
            && *holder.target != *id
            && self
                .tenants
                .peek(&holder.target)
                .is_some_and(|t| t.tenant.code.as_deref() == Some(code))
        {
            return Err(UserError::TenantCodeTaken);
        }
        let code = tenant.code.clone();
        claim_memory(&self.tenant_codes, code.as_deref(), &id);
        self.tenants.insert(
            &id,
            TenantRecord {
                tenant: Arc::new(tenant),
            },
        );
        if let Some(old) = previous {
            release_memory(
                &self.tenant_codes,
                old.tenant.code.as_deref(),
                code.as_deref(),
                &id,
            );
        }
        Ok(())
    }

    /// How many users this node holds (all of them in memory mode).
    #[cfg_attr(not(feature = "basic"), allow(dead_code))] // for the user registry
    pub(crate) fn user_count(&self) -> usize {
        self.users.len()
    }
}

/// Points `key` at `target` (memory mode, under the writer lock).
fn claim_memory<K: IndexKind>(index: &Table<Pointer<K>>, key: Option<&str>, target: &str) {
    if let Some(key) = key
        && index.peek(key).is_none_or(|p| *p.target != *target)
    {
        index.insert(key, Pointer::to(target));
    }
}

/// Removes `old` if it changed and still points at `target` (memory mode, under the lock).
fn release_memory<K: IndexKind>(
    index: &Table<Pointer<K>>,
    old: Option<&str>,
    new: Option<&str>,
    target: &str,
) {
    if let Some(old) = old
        && Some(old) != new
        && index.peek(old).is_some_and(|p| *p.target == *target)
    {
        index.remove(old);
    }
}

#[cfg(feature = "redis")]
mod remote {
    use super::*;
    use crate::store::redis::{Applied, Expect, Op, Write};
    use crate::store::{RedisStore, StoreErrorKind};

    /// The keys one user write touches, with the notices that announce them.
    struct Touched {
        ops: Vec<Op>,
        notices: Vec<String>,
        forget: Vec<(&'static str, String)>,
    }

    impl Touched {
        fn new() -> Self {
            Self {
                ops: Vec::new(),
                notices: Vec::new(),
                forget: Vec::new(),
            }
        }

        fn set(&mut self, store: &RedisStore, kind: &'static str, key: &str, value: Vec<u8>) {
            self.ops.push(Op::Set {
                key: store.key(kind, key),
                value,
                expire_at_ms: None,
            });
            self.touch(kind, key);
        }

        fn del(&mut self, store: &RedisStore, kind: &'static str, key: &str) {
            self.ops.push(Op::Del(store.key(kind, key)));
            self.touch(kind, key);
        }

        fn touch(&mut self, kind: &'static str, key: &str) {
            self.notices.push(format!("{kind}:{key}"));
            self.forget.push((kind, key.to_owned()));
        }
    }

    fn conflict() -> UserError {
        UserError::Store(StoreError::new(
            StoreErrorKind::Conflict,
            "the user kept changing under this write; try again",
        ))
    }

    impl UserTables {
        /// Drops this node's copies of what a write changed (the notices do the same on every
        /// node, a moment later): the writer reads its own write.
        fn forget(&self, touched: &[(&'static str, String)]) {
            for (kind, key) in touched {
                match *kind {
                    "user" => self.users.forget(key),
                    "login" => self.logins.forget(key),
                    "email" => self.emails.forget(key),
                    "mobile" => self.mobiles.forget(key),
                    "tenant" => self.tenants.forget(key),
                    "tenantcode" => self.tenant_codes.forget(key),
                    _ => {}
                }
            }
        }

        pub(super) async fn change_user_redis(
            &self,
            store: &RedisStore,
            uid: &str,
            create: bool,
            uid_free: &(dyn Fn(&str) -> bool + Send + Sync),
            plan: impl Fn(Option<&UserRecord>) -> Result<Step, UserError>,
        ) -> Result<Outcome, UserError> {
            let record_key = store.key(UserRecord::KIND, uid);
            for _ in 0..CAS_ATTEMPTS {
                let current = store.read(&record_key).await.map_err(UserError::Store)?;
                let previous = current
                    .as_deref()
                    .map(UserRecord::decode)
                    .transpose()
                    .map_err(UserError::Store)?;
                if create && previous.is_some() {
                    return Err(UserError::Exists);
                }
                let next = match plan(previous.as_ref())? {
                    Step::Put(next) => next,
                    Step::Keep => return Ok(Outcome::Unchanged),
                    Step::Missing => return Ok(Outcome::Missing),
                };
                if create && !uid_free(uid) {
                    return Err(UserError::Exists);
                }
                let me = Pointer::<LoginIndex>::to(uid).encode();
                let mut guards = Vec::new();
                let mut refusals = Vec::new();
                if create {
                    // One namespace for ids: a client holding this id refuses the user (409).
                    guards.push((store.key("client", uid), Expect::Absent));
                    refusals.push(UserError::Exists);
                }
                let mut touched = Touched::new();
                touched.set(store, UserRecord::KIND, uid, next.encode());
                let claims = [
                    (
                        LoginIndex::KIND,
                        Some(&*next.login_key),
                        previous.as_ref().map(|p| &*p.login_key),
                        UserError::LoginNameTaken,
                    ),
                    (
                        EmailIndex::KIND,
                        next.email_key.as_deref(),
                        previous.as_ref().and_then(|p| p.email_key.as_deref()),
                        UserError::EmailTaken,
                    ),
                    (
                        MobileIndex::KIND,
                        next.mobile_key.as_deref(),
                        previous.as_ref().and_then(|p| p.mobile_key.as_deref()),
                        UserError::MobileTaken,
                    ),
                ];
                for (kind, new, old, refusal) in claims {
                    if let Some(new) = new {
                        guards.push((store.key(kind, new), Expect::AbsentOrEquals(me.clone())));
                        refusals.push(refusal);
                        touched.set(store, kind, new, me.clone());
                    }
                    // The old entry is this user's: the record it came from is the one this
                    // write replaces (compare and set), and records and entries change together.
                    if let Some(old) = old
                        && Some(old) != new
                    {
                        touched.del(store, kind, old);
                    }
                }
                let write = Write {
                    key: record_key.clone(),
                    expect: if create {
                        Expect::Absent
                    } else {
                        Expect::unchanged(current.as_deref())
                    },
                    guards,
                    ops: touched.ops,
                    notices: touched.notices,
                };
                match store.apply(write).await.map_err(UserError::Store)? {
                    Applied::Done => {
                        self.forget(&touched.forget);
                        return Ok(Outcome::Written);
                    }
                    // Another node changed (or created) the user meanwhile: decide again from
                    // what it wrote.
                    Applied::Conflict => continue,
                    Applied::Guard(n) => {
                        return Err(refusals.get(n).cloned().unwrap_or_else(conflict));
                    }
                }
            }
            Err(conflict())
        }

        pub(super) async fn put_tenant_redis(
            &self,
            store: &RedisStore,
            tenant: Tenant,
        ) -> Result<(), UserError> {
            let record_key = store.key(TenantRecord::KIND, &tenant.id);
            let record = TenantRecord {
                tenant: Arc::new(tenant),
            };
            let id = &*record.tenant.id;
            let me = Pointer::<TenantCodeIndex>::to(id).encode();
            for _ in 0..CAS_ATTEMPTS {
                let current = store.read(&record_key).await.map_err(UserError::Store)?;
                let previous = current
                    .as_deref()
                    .map(TenantRecord::decode)
                    .transpose()
                    .map_err(UserError::Store)?;
                let old_code = previous.as_ref().and_then(|p| p.tenant.code.clone());
                let new_code = record.tenant.code.as_deref();
                let mut touched = Touched::new();
                touched.set(store, TenantRecord::KIND, id, record.encode());
                let mut guards = Vec::new();
                if let Some(code) = new_code {
                    guards.push((
                        store.key(TenantCodeIndex::KIND, code),
                        Expect::AbsentOrEquals(me.clone()),
                    ));
                    touched.set(store, TenantCodeIndex::KIND, code, me.clone());
                }
                if let Some(old) = old_code.as_deref()
                    && Some(old) != new_code
                {
                    touched.del(store, TenantCodeIndex::KIND, old);
                }
                let write = Write {
                    key: record_key.clone(),
                    expect: Expect::unchanged(current.as_deref()),
                    guards,
                    ops: touched.ops,
                    notices: touched.notices,
                };
                match store.apply(write).await.map_err(UserError::Store)? {
                    Applied::Done => {
                        self.forget(&touched.forget);
                        return Ok(());
                    }
                    Applied::Conflict => continue,
                    Applied::Guard(_) => return Err(UserError::TenantCodeTaken),
                }
            }
            Err(conflict())
        }
    }
}
