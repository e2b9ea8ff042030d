//! Accounts in the store contract: a new password revokes every session of its user but
//! the one kept (and no other user's), in one transaction; an invitation is used once and
//! makes a membership; a session switches only into its user's organisations.

use super::backends::{self, Backend};
use super::register;
use netpulse_core::Timestamp;
use netpulse_engine::clock::fresh;
use netpulse_engine::store::NewSession;

pub async fn a_new_password_revokes_the_users_other_sessions(backend: Backend) {
    let store = backends::open(backend, 4).await;
    let now = Timestamp::from_secs(1_800_000_000);
    store.bootstrap("hash", now).await.unwrap();
    let mut users = Vec::new();
    for email in ["a@example.com", "b@example.com"] {
        let (user, tenant) = register(&*store, email, now).await;
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

pub async fn an_invitation_joins_once_and_sessions_switch_only_into_memberships(backend: Backend) {
    use netpulse_engine::store::{Invitation, InvitationUse, Role};
    let store = backends::open(backend, 4).await;
    let now = Timestamp::from_secs(1_800_000_000);
    store.bootstrap("hash", now).await.unwrap();
    let mut tenants = Vec::new();
    let mut users = Vec::new();
    for email in ["owner@example.com", "bob@example.com"] {
        let (user, tenant) = register(&*store, email, now).await;
        tenants.push(tenant);
        users.push(user.id);
    }
    let (a, b) = (&tenants[0], &tenants[1]);
    let inv = Invitation {
        id: "inv_1".into(),
        email: "bob@example.com".into(),
        role: Role::Member,
        invited_by: "user x".into(),
        created_at: now,
        expires_at: now.plus_ms(60_000),
    };
    store.create_invitation(a, &inv, "inv-hash").await.unwrap();
    assert_eq!(store.list_invitations(a).await.unwrap().len(), 1);
    assert!(store.list_invitations(b).await.unwrap().is_empty(), "invitations are tenant data");
    let session = NewSession {
        id_hash: "bob-session".into(),
        user: users[1].clone(),
        tenant: b.clone(),
        csrf: "c".into(),
        created_at: now,
        expires_at: now.plus_ms(3_600_000),
    };
    store.create_session(&session).await.unwrap();
    assert!(!store.switch_session("bob-session", a, now).await.unwrap(), "not a member of A yet");

    let used = store.accept_invitation("inv-hash", &users[1], now.plus_ms(1)).await.unwrap();
    assert_eq!(used, InvitationUse::Accepted { tenant: a.clone(), role: Role::Member });
    assert_eq!(store.accept_invitation("inv-hash", &users[1], now).await.unwrap(), InvitationUse::AlreadyUsed);
    assert_eq!(store.accept_invitation("nope", &users[1], now).await.unwrap(), InvitationUse::Unknown);
    assert!(store.list_invitations(a).await.unwrap().is_empty());
    let names: Vec<String> = store.memberships(&users[1]).await.unwrap().into_iter().map(|m| m.tenant_name).collect();
    assert_eq!(
        names,
        ["bob@example.com", "default"],
        "oldest membership first (the first account owns the bootstrap one)"
    );
    let members = store.list_members(a).await.unwrap();
    assert_eq!(members.iter().map(|m| m.role).collect::<Vec<_>>(), [Role::Owner, Role::Member]);

    assert!(store.switch_session("bob-session", a, now).await.unwrap());
    let s = store.session("bob-session", now).await.unwrap().unwrap();
    assert_eq!((s.tenant_id, s.role), (a.clone(), Role::Member), "the session now acts in A as a member");
    let other: netpulse_core::TenantId = fresh();
    assert!(!store.switch_session("bob-session", &other, now).await.unwrap());

    let late = Invitation { id: "inv_2".into(), expires_at: now.minus_ms(1), ..inv };
    store.create_invitation(b, &late, "late-hash").await.unwrap();
    assert_eq!(store.accept_invitation("late-hash", &users[0], now).await.unwrap(), InvitationUse::Expired);
}
