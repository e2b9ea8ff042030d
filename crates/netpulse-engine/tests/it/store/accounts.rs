//! Accounts in the store contract: a new password revokes every session of its user but
//! the one kept (and no other user's), in one transaction, on every backend.

use super::backends::{self, Backend};
use netpulse_core::Timestamp;
use netpulse_engine::clock::fresh;
use netpulse_engine::store::{NewAccount, NewSession, UserRecord};

pub async fn a_new_password_revokes_the_users_other_sessions(backend: Backend) {
    let store = backends::open(backend, 4).await;
    let now = Timestamp::from_secs(1_800_000_000);
    store.bootstrap("hash", now).await.unwrap();
    let mut users = Vec::new();
    for email in ["a@example.com", "b@example.com"] {
        let user = UserRecord {
            id: fresh(),
            email: email.into(),
            password_hash: "old".into(),
            verified_at: None,
            created_at: now,
        };
        let tenant = store
            .register(&NewAccount { user: user.clone(), tenant: fresh(), tenant_name: "t".into() }, now)
            .await
            .unwrap();
        for n in 0..2 {
            let s = NewSession {
                id_hash: format!("{email}-{n}"),
                user: user.id.clone(),
                tenant: tenant.clone(),
                csrf: "c".into(),
                created_at: now,
                expires_at: now.plus_ms(3_600_000),
            };
            store.create_session(&s).await.unwrap();
        }
        users.push(user);
    }
    let a = &users[0].id;
    assert_eq!(store.set_password(a, "new", Some("a@example.com-0"), now).await.unwrap(), 1);
    assert_eq!(store.user_by_id(a).await.unwrap().unwrap().password_hash, "new");
    assert!(store.session("a@example.com-0", now).await.unwrap().is_some(), "the kept session stays");
    assert!(store.session("a@example.com-1", now).await.unwrap().is_none());
    assert!(store.session("b@example.com-1", now).await.unwrap().is_some(), "another user's sessions stay");
    assert_eq!(store.set_password(a, "newer", None, now).await.unwrap(), 1, "without a kept one, all go");
    assert!(store.session("a@example.com-0", now).await.unwrap().is_none());
    assert!(store.user_by_id(&fresh()).await.unwrap().is_none());
}
