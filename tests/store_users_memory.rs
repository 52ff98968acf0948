//! The in-memory user side at scale: 100 000 users and 100 000 grants loaded one write at a
//! time, every selector answered from memory, indexes that stay consistent through renames,
//! and writes whose cost does not grow with the store.
//!
//! "No O(n) write" is shown by behaviour, not by time: this binary counts the bytes each thread
//! allocates, and a write into a store of 100 000 entries must allocate about what one entry
//! needs (a store that copied or rebuilt itself on every write would allocate megabytes).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;

use tower_gatekeeper::MaybeReady;
use tower_gatekeeper::accounts::{UserAccount, UserError, UserRegistry, canonical_password};
use tower_gatekeeper::extract::{Credential, Source};
use tower_gatekeeper::grant::{
    Access, Grant, GrantError, GrantState, GrantStore, Grantee, InMemoryGrantStore,
};
use tower_gatekeeper::impersonate::{
    DirectoryUser, InMemoryDirectory, TenantSelector, UserDirectory, UserSelector,
};
use tower_gatekeeper::principal::{PrincipalKind, Tenant};
use tower_gatekeeper::verify::{HashingPool, Verifier};

// ---- a per-thread allocation counter -------------------------------------------------------

struct Counting;

thread_local! {
    static ALLOCATED: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded to the system allocator unchanged; the counter is a
// thread-local `Cell` with a const initialiser (no allocation, no destructor).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATED.try_with(|c| c.set(c.get() + layout.size() as u64));
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATED.try_with(|c| c.set(c.get() + new_size as u64));
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

fn allocated() -> u64 {
    ALLOCATED.with(Cell::get)
}

/// Bytes this thread allocates while running `f`.
fn bytes_of<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let before = allocated();
    let out = f();
    (out, allocated() - before)
}

fn median(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values[values.len() / 2]
}

// ---- helpers --------------------------------------------------------------------------------

/// A memory-mode write completes on its first poll: no runtime needed, nothing to wait for.
fn now<F: Future>(write: F) -> F::Output {
    let mut write = std::pin::pin!(write);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match write.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => panic!("a memory-mode write waited"),
    }
}

fn ready<T>(read: MaybeReady<T>) -> T {
    match read {
        MaybeReady::Ready(value) => value,
        MaybeReady::Pending(_) => panic!("a memory-mode read waited"),
    }
}

fn find(dir: &InMemoryDirectory, selector: UserSelector) -> Option<String> {
    ready(dir.find_user(&selector))
        .unwrap()
        .map(|u| u.uid.clone())
}

fn tenant(dir: &InMemoryDirectory, selector: TenantSelector) -> Option<String> {
    ready(dir.find_tenant(&selector))
        .unwrap()
        .map(|t| t.id.clone())
}

fn account(i: usize) -> UserAccount {
    UserAccount::new(format!("u{i}"), format!("Login-{i}"))
        .email(format!("user{i}@Example.COM"))
        .mobile(format!("+86 138 {i:08}"))
        .tenants([format!("t-{}", i % 100)])
}

const N: usize = 100_000;

fn loaded_registry() -> UserRegistry {
    let users = UserRegistry::new();
    for t in 0..100 {
        now(users
            .directory()
            .insert_tenant(Tenant::new(format!("t-{t}"), Some(format!("code-{t}")))))
        .unwrap();
    }
    for i in 0..N {
        now(users.insert(account(i))).unwrap();
    }
    users
}

fn cheap_hash(password: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let params = argon2::Params::new(8, 1, 1, None).unwrap();
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::encode_b64(b"memory-salt-16by").unwrap();
    argon
        .hash_password(canonical_password(password).as_bytes(), &salt)
        .unwrap()
        .to_string()
}

fn login(users: &UserRegistry, name: &str, password: &str) -> Result<String, String> {
    let verifier = users
        .basic_verifier()
        .hashing(HashingPool::builder().permits(1).build());
    match verifier.verify(&Credential::basic(name, password, Source::Header)) {
        MaybeReady::Ready(r) => r.map(|p| p.subject().to_owned()).map_err(|e| e.to_string()),
        MaybeReady::Pending(_) => panic!("no runtime: the check must be synchronous"),
    }
}

// ---- users ----------------------------------------------------------------------------------

#[test]
fn a_hundred_thousand_users_answer_every_selector_from_memory() {
    let (users, load_bytes) = bytes_of(loaded_registry);
    // Loading n users costs O(n): a few KiB per user, resizes included (a store that rebuilt
    // itself per write would need gigabytes).
    assert!(
        load_bytes / N as u64 <= 8 * 1024,
        "{} bytes per user loaded",
        load_bytes / N as u64
    );
    assert_eq!(users.len(), N);
    let dir = users.directory();
    for i in (0..N).step_by(997).chain([0, N - 1]) {
        let uid = format!("u{i}");
        assert_eq!(
            find(&dir, UserSelector::Uid(uid.clone())),
            Some(uid.clone())
        );
        // Login names are compared after canonical_login, e-mails after canonical_email,
        // mobiles after canonical_mobile.
        let login = format!("LOGIN-{i}");
        assert_eq!(
            find(&dir, UserSelector::LoginName(login)),
            Some(uid.clone())
        );
        let email = format!("user{i}@example.com");
        assert_eq!(find(&dir, UserSelector::Email(email)), Some(uid.clone()));
        let mobile = format!("+8613 8{i:08}");
        assert_eq!(find(&dir, UserSelector::Mobile(mobile)), Some(uid.clone()));
        let user = ready(users.get(&uid)).unwrap().unwrap();
        assert!(user.in_tenant(&format!("t-{}", i % 100)));
        assert!(!ready(users.disabled(&uid)).unwrap());
    }
    // The local part of an e-mail is case-sensitive (RFC 5321 §2.4): another spelling is
    // another address.
    assert_eq!(
        find(&dir, UserSelector::Email("USER7@example.com".into())),
        None
    );
    assert_eq!(find(&dir, UserSelector::Uid(format!("u{N}"))), None);
    assert_eq!(
        find(&dir, UserSelector::Mobile("not a number".into())),
        None
    );
    for t in [0, 42, 99] {
        let id = format!("t-{t}");
        assert_eq!(
            tenant(&dir, TenantSelector::Id(id.clone())),
            Some(id.clone())
        );
        assert_eq!(
            tenant(&dir, TenantSelector::Code(format!("code-{t}"))),
            Some(id)
        );
    }
    assert_eq!(tenant(&dir, TenantSelector::Code("code-100".into())), None);
}

#[test]
fn a_write_into_a_large_store_allocates_what_one_entry_needs() {
    let users = loaded_registry();
    let dir = users.directory();
    let mut insert = Vec::new();
    let mut disable = Vec::new();
    let mut rename = Vec::new();
    for k in 0..200 {
        let i = N + k;
        insert.push(bytes_of(|| now(users.insert(account(i))).unwrap()).1);
        disable.push(bytes_of(|| now(users.set_disabled(&format!("u{k}"), true)).unwrap()).1);
        rename.push(
            bytes_of(|| {
                now(users.update(&format!("u{}", 1000 + k), |u| {
                    u.login_name = format!("renamed-{k}");
                }))
                .unwrap()
            })
            .1,
        );
    }
    for (what, bytes) in [("insert", insert), ("disable", disable), ("rename", rename)] {
        let m = median(bytes);
        // One user is well under a KiB of strings; a copy of the store would be megabytes.
        assert!(m <= 16 * 1024, "a {what} allocated {m} bytes (median)");
    }
    // And what was written is what is read.
    assert_eq!(
        find(&dir, UserSelector::Uid(format!("u{}", N + 199))),
        Some(format!("u{}", N + 199))
    );
    assert!(ready(users.disabled("u199")).unwrap());
    assert_eq!(
        find(&dir, UserSelector::LoginName("renamed-199".into())),
        Some("u1199".into())
    );
}

#[test]
fn indexes_follow_renames_and_one_name_names_one_user() {
    let users = UserRegistry::new();
    let dir = users.directory();
    now(users.insert(
        UserAccount::new("1", "alice")
            .email("alice@example.com")
            .mobile("+1 555 0100")
            .password_hash(cheap_hash("alice pw")),
    ))
    .unwrap();
    now(users.insert(UserAccount::new("2", "bob").email("bob@example.com"))).unwrap();

    // Another user cannot take a login name, e-mail or mobile someone holds, in any spelling.
    for (account, refusal) in [
        (UserAccount::new("3", "ALICE"), UserError::LoginNameTaken),
        (
            UserAccount::new("3", "carol").email("alice@EXAMPLE.com"),
            UserError::EmailTaken,
        ),
        (
            UserAccount::new("3", "carol").mobile("+15550100"),
            UserError::MobileTaken,
        ),
        (UserAccount::new("2", "Alice"), UserError::LoginNameTaken),
    ] {
        assert_eq!(
            now(users.insert(account)),
            Err(refusal.clone()),
            "{refusal}"
        );
    }
    // A refused write changed nothing.
    assert_eq!(find(&dir, UserSelector::Uid("3".into())), None);
    assert_eq!(
        find(&dir, UserSelector::LoginName("bob".into())),
        Some("2".into())
    );

    // Rename alice's login, e-mail and mobile (her password stays): the old names stop
    // naming her at once, the new ones do.
    assert!(
        now(users.update("1", |u| {
            u.login_name = "alicia".into();
            u.email = Some("alicia@example.com".into());
            u.mobile = Some("+1 555 0199".into());
        }))
        .unwrap()
    );
    assert_eq!(find(&dir, UserSelector::LoginName("alice".into())), None);
    assert_eq!(
        find(&dir, UserSelector::Email("alice@example.com".into())),
        None
    );
    assert_eq!(find(&dir, UserSelector::Mobile("+15550100".into())), None);
    assert_eq!(
        find(&dir, UserSelector::LoginName("Alicia".into())),
        Some("1".into())
    );
    assert_eq!(
        find(&dir, UserSelector::Email("alicia@example.com".into())),
        Some("1".into())
    );
    assert_eq!(
        find(&dir, UserSelector::Mobile("+15550199".into())),
        Some("1".into())
    );
    assert!(login(&users, "alice", "alice pw").is_err());
    assert_eq!(login(&users, "alicia", "alice pw").as_deref(), Ok("1"));

    // The freed names can be taken by someone else, who is then the one they name.
    now(users.insert(
        UserAccount::new("3", "alice")
            .email("alice@example.com")
            .mobile("+1 555 0100"),
    ))
    .unwrap();
    assert_eq!(
        find(&dir, UserSelector::LoginName("alice".into())),
        Some("3".into())
    );
    assert_eq!(
        find(&dir, UserSelector::Email("alice@example.com".into())),
        Some("3".into())
    );
    assert_eq!(
        find(&dir, UserSelector::Mobile("+15550100".into())),
        Some("3".into())
    );
    // User 3 has no password: alice's old one does not log anyone in.
    assert!(login(&users, "alice", "alice pw").is_err());

    // Replacing a user by uid (insert) with an account without a password removes it.
    now(users.insert(UserAccount::new("1", "alicia"))).unwrap();
    assert!(login(&users, "alicia", "alice pw").is_err());
    assert_eq!(
        find(&dir, UserSelector::Email("alicia@example.com".into())),
        None
    );

    // A rename cannot change the uid, and cannot produce an invalid login.
    // (bob exists, so the update answers true; it changed nothing.)
    assert_eq!(now(users.update("2", |u| u.uid = "99".into())), Ok(true));
    assert_eq!(find(&dir, UserSelector::Uid("99".into())), None);
    assert_eq!(find(&dir, UserSelector::Uid("2".into())), Some("2".into()));
    assert_eq!(
        now(users.update("2", |u| u.login_name = "\u{FB01}le".into())),
        Err(UserError::LoginNameInvalid)
    );
    assert!(!now(users.update("nobody", |u| u.login_name = "x".into())).unwrap());
}

#[test]
fn tenant_codes_follow_renames_and_name_one_tenant() {
    let dir = InMemoryDirectory::new();
    now(dir.insert_tenant(Tenant::new("t-1", Some("acme")))).unwrap();
    now(dir.insert_tenant(Tenant::new("t-2", Some("globex")))).unwrap();
    assert_eq!(
        now(dir.insert_tenant(Tenant::new("t-3", Some("acme")))),
        Err(UserError::TenantCodeTaken)
    );
    assert_eq!(tenant(&dir, TenantSelector::Id("t-3".into())), None);
    now(dir.insert_tenant(Tenant::new("t-1", Some("acme-renamed")))).unwrap();
    assert_eq!(tenant(&dir, TenantSelector::Code("acme".into())), None);
    assert_eq!(
        tenant(&dir, TenantSelector::Code("acme-renamed".into())),
        Some("t-1".into())
    );
    now(dir.insert_tenant(Tenant::new("t-3", Some("acme")))).unwrap();
    assert_eq!(
        tenant(&dir, TenantSelector::Code("acme".into())),
        Some("t-3".into())
    );
    assert_eq!(
        now(dir.insert_tenant(Tenant::new("", None::<String>))),
        Err(UserError::Empty)
    );
}

#[test]
fn membership_changes_are_seen_by_the_next_lookup() {
    let users = UserRegistry::new();
    now(users.insert(UserAccount::new("1", "alice").tenants(["t-1"]))).unwrap();
    assert!(now(users.update("1", |u| u.tenants = vec!["t-2".into()])).unwrap());
    let alice = ready(users.directory().find_user(&UserSelector::Uid("1".into())))
        .unwrap()
        .unwrap();
    assert!(alice.in_tenant("t-2") && !alice.in_tenant("t-1"));
}

#[test]
fn readers_never_take_the_writer_lock() {
    let users = UserRegistry::new();
    now(users.insert(UserAccount::new("1", "alice").password_hash(cheap_hash("pw")))).unwrap();
    // The writer lock is not reentrant: a reader that took it would deadlock here.
    let (found, logged_in, disabled) = users.with_writer_lock(|| {
        (
            find(&users.directory(), UserSelector::LoginName("alice".into())),
            login(&users, "alice", "pw"),
            users.is_disabled("1"),
        )
    });
    assert_eq!(found.as_deref(), Some("1"));
    assert_eq!(logged_in.as_deref(), Ok("1"));
    assert!(!disabled);
}

#[test]
fn a_directory_write_keeps_the_registry_password_and_the_flag_reaches_every_view() {
    let users = UserRegistry::new();
    now(users.insert(UserAccount::new("1", "alice").password_hash(cheap_hash("pw")))).unwrap();
    let dir = users.directory();
    // The directory does not manage passwords: replacing the user through it keeps hers.
    let mut alice = DirectoryUser::new("1", "alice");
    alice.roles = vec!["auditor".into()];
    now(dir.insert_user(alice)).unwrap();
    assert_eq!(login(&users, "alice", "pw").as_deref(), Ok("1"));
    // Disabling through the directory is disabling the user.
    assert!(now(dir.set_disabled("1", true)).unwrap());
    assert!(users.is_disabled("1"));
    assert!(ready(users.disabled("1")).unwrap());
    let refused = login(&users, "alice", "pw").unwrap_err();
    assert!(refused.contains("disabled"), "{refused}");
    assert!(!now(dir.set_disabled("nobody", true)).unwrap());
}

// ---- grants ---------------------------------------------------------------------------------

const APIS: usize = 10_000;
const PER_API: usize = 10;

/// The provider's authorize action (a renewal on an existing grant), at time 1 000.
fn authorize(
    api: &str,
    grantee: &str,
    ends_at: u64,
) -> impl Fn(Option<&Grant>) -> Result<Grant, GrantError> {
    let (api, grantee): (std::sync::Arc<str>, std::sync::Arc<str>) = (api.into(), grantee.into());
    move |current| {
        tower_gatekeeper::grant::transition(
            &api,
            PrincipalKind::Client,
            &grantee,
            current,
            tower_gatekeeper::grant::GrantAction::Authorize { ends_at },
            1_000,
            0,
        )
    }
}

fn grant_for(api: &str, grantee: Grantee<'_>, ends_at: u64) -> Grant {
    Grant {
        api_id: api.into(),
        grantee: grantee.id.into(),
        grantee_kind: grantee.kind,
        state: GrantState::Active,
        starts_at: Some(1_000),
        ends_at,
        revoke_at: None,
        renewal: None,
    }
}

fn loaded_grants() -> InMemoryGrantStore {
    let store = InMemoryGrantStore::new();
    for a in 0..APIS {
        let api = format!("api-{a}");
        for g in 0..PER_API {
            let id = format!("app-{g}");
            let grantee = Grantee::client(&id);
            store
                .update_now(&api, grantee, |_| Ok(grant_for(&api, grantee, 5_000)))
                .unwrap();
        }
    }
    store
}

#[test]
fn a_hundred_thousand_grants_are_checked_without_allocating() {
    let (store, load_bytes) = bytes_of(loaded_grants);
    assert_eq!(store.len(), APIS * PER_API);
    assert!(
        load_bytes / (APIS * PER_API) as u64 <= 4 * 1024,
        "{} bytes per grant loaded",
        load_bytes / (APIS * PER_API) as u64
    );
    // A check is two lookups by &str: no allocation at all.
    let (accesses, bytes) = bytes_of(|| {
        (0..1000)
            .map(|i| ready(store.check("api-7777", Grantee::client("app-3"), 2_000 + i)).unwrap())
            .collect::<Vec<_>>()
    });
    assert!(accesses.iter().all(|a| *a == Access::Allowed));
    // Only the Vec of answers above allocates.
    assert!(
        bytes <= 1000 * 8 + 64,
        "1000 checks allocated {bytes} bytes"
    );
    assert_eq!(
        ready(store.check("api-7777", Grantee::user("app-3"), 2_000)).unwrap(),
        Access::Missing
    );
    assert_eq!(
        ready(store.check("api-7777", Grantee::client("app-3"), 5_000)).unwrap(),
        Access::Expired
    );
    assert_eq!(
        ready(store.check("api-x", Grantee::client("app-3"), 2_000)).unwrap(),
        Access::Missing
    );
}

#[test]
fn a_grant_update_in_a_large_store_allocates_what_one_grant_needs() {
    let store = loaded_grants();
    let mut bytes = Vec::new();
    for k in 0..300u64 {
        let api = format!("api-{}", k * 31 % APIS as u64);
        let grantee = Grantee::client("app-5");
        let renew = authorize(&api, "app-5", 6_000 + k);
        let (result, b) = bytes_of(|| store.update_now(&api, grantee, renew));
        result.unwrap();
        bytes.push(b);
    }
    let m = median(bytes);
    // One grant is a few hundred bytes; copying the outer map of 10 000 APIs would be
    // hundreds of KiB.
    assert!(m <= 4 * 1024, "a grant update allocated {m} bytes (median)");
    assert_eq!(
        store
            .get_now("api-31", Grantee::client("app-5"))
            .unwrap()
            .ends_at,
        6_001
    );
}

#[tokio::test]
async fn grants_are_listed_by_api_and_by_grantee_through_their_indexes() {
    let store = loaded_grants();
    let by_api = store.list_by_api("api-42").await.unwrap();
    assert_eq!(by_api.len(), PER_API);
    assert!(by_api.iter().all(|g| &*g.api_id == "api-42"));
    let by_grantee = store
        .list_by_grantee(Grantee::client("app-9"))
        .await
        .unwrap();
    assert_eq!(by_grantee.len(), APIS);
    assert!(
        by_grantee
            .iter()
            .all(|g| g.holder() == Grantee::client("app-9"))
    );
    // Sorted by API id, then holder.
    assert!(by_grantee.windows(2).all(|w| w[0].api_id <= w[1].api_id));
    // Kinds are separate grantees.
    assert!(
        store
            .list_by_grantee(Grantee::user("app-9"))
            .await
            .unwrap()
            .is_empty()
    );
    // A refused change stores nothing, and indexes nothing.
    let refused = store.update_now("api-new", Grantee::user("u1"), |_| Err(GrantError::NoGrant));
    assert_eq!(refused, Err(GrantError::NoGrant));
    assert!(store.get_now("api-new", Grantee::user("u1")).is_none());
    assert!(
        store
            .list_by_grantee(Grantee::user("u1"))
            .await
            .unwrap()
            .is_empty()
    );
}

#[test]
fn concurrent_renewals_of_one_grant_never_shorten_it() {
    let store = InMemoryGrantStore::new();
    let grantee = Grantee::client("app");
    store
        .update_now("orders", grantee, |_| {
            Ok(grant_for("orders", grantee, 2_000))
        })
        .unwrap();
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..500u64 {
                    // Each renewal asks for a later end than the last it saw; one that lost the
                    // race is refused (it would shorten), never applied.
                    let renew = authorize("orders", "app", 3_000 + i * 4 + t);
                    let _ = store.update_now("orders", Grantee::client("app"), renew);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // The largest end any thread asked for is the end stored.
    assert_eq!(
        store.get_now("orders", grantee).unwrap().ends_at,
        3_000 + 499 * 4 + 3
    );
}
