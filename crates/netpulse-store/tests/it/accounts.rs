//! Accounts in the store contract: a new password revokes every session of its user but
//! the one kept (and no other user's), in one transaction; an invitation is used once and
//! makes a membership, only for the invited, verified address; a session switches only into its user's organisations; membership
//! changes keep an owner (also when two owners step down at once), are tenant-scoped, and a
//! removal ends the member's sessions and tokens there; a revoked invitation joins nobody;
//! a member who leaves moves the asking session to their next organisation and loses the
//! rest there, the last owner cannot leave (also when two owners leave at once).

use super::register;
use netpulse_core::Timestamp;
use netpulse_store::clock::fresh;
use netpulse_store::testing::{self as backends, Backend};
use netpulse_store::{InvitationUse, NewSession};

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
    use netpulse_store::{Invitation, InvitationUse, Role};
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
    let other = store.accept_invitation("inv-hash", &users[0], now).await.unwrap();
    assert_eq!(other, InvitationUse::OtherAddress, "another address holding the link joins nothing");
    assert_eq!(store.list_invitations(a).await.unwrap().len(), 1, "and the invitation stays pending");
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

    let carol = netpulse_store::UserRecord { verified_at: None, email: "carol@example.com".into(), ..user(now) };
    let acct = netpulse_store::NewAccount { user: carol.clone(), tenant: fresh(), tenant_name: "C".into() };
    store.register(&acct, now).await.unwrap();
    let for_carol =
        Invitation { id: "inv_3".into(), email: carol.email.clone(), expires_at: now.plus_ms(60_000), ..late };
    store.create_invitation(a, &for_carol, "carol-hash").await.unwrap();
    let unverified = store.accept_invitation("carol-hash", &carol.id, now).await.unwrap();
    assert_eq!(unverified, InvitationUse::Unverified, "the invited address, not verified yet");
    assert!(store.memberships(&carol.id).await.unwrap().iter().all(|m| &m.tenant_id != a));
}

fn user(now: Timestamp) -> netpulse_store::UserRecord {
    netpulse_store::UserRecord {
        id: fresh(),
        email: String::new(),
        password_hash: "h".into(),
        verified_at: Some(now),
        created_at: now,
    }
}

pub async fn members_change_under_the_owner_rules_and_two_owners_stepping_down_at_once_leave_one(backend: Backend) {
    use netpulse_store::{
        Invitation, InvitationState, MemberChange, MemberChangeOutcome, MemberRefusal, Role, Scope, TokenRecord,
    };
    let store = backends::open(backend, 4).await;
    let now = Timestamp::from_secs(1_800_000_000);
    store.bootstrap("hash", now).await.unwrap();
    let (owner, a) = register(&*store, "owner@example.com", now).await;
    let (bob, b) = register(&*store, "bob@example.com", now).await;
    let inv = |id: &str, role| Invitation {
        id: id.into(),
        email: "bob@example.com".into(),
        role,
        invited_by: "user x".into(),
        created_at: now,
        expires_at: now.plus_ms(60_000),
    };
    store.create_invitation(&a, &inv("inv_1", Role::Admin), "h1").await.unwrap();
    store.accept_invitation("h1", &bob.id, now).await.unwrap();
    let token = |id: u128, role| TokenRecord {
        id: netpulse_core::TokenId::from_parts(now.millis(), id),
        name: format!("t{id}"),
        scope: Scope::Write,
        role,
        created_at: now,
        last_used_at: None,
        created_by: Some(bob.id.clone()),
    };
    store.create_token(&a, &token(1, Role::Admin), "bob-in-a").await.unwrap();
    store.create_token(&b, &token(2, Role::Admin), "bob-in-b").await.unwrap();
    for (hash, t) in [("bob-a", &a), ("bob-b", &b)] {
        let s = NewSession {
            id_hash: hash.into(),
            user: bob.id.clone(),
            tenant: t.clone(),
            csrf: "c".into(),
            created_at: now,
            expires_at: now.plus_ms(3_600_000),
        };
        store.create_session(&s).await.unwrap();
    }
    let change = |user, c, by| {
        let (store, a) = (&store, &a);
        async move { store.change_member(a, user, c, by, now).await.unwrap() }
    };

    // Tenant-scoped: B's owner is no member of A, A's invitation is unknown to B.
    assert_eq!(
        store.change_member(&b, &owner.id, MemberChange::Remove, Role::Owner, now).await.unwrap(),
        MemberChangeOutcome::NotMember
    );
    store.create_invitation(&a, &inv("inv_2", Role::Viewer), "h2").await.unwrap();
    assert_eq!(store.invitation_state("h2", now).await.unwrap(), InvitationState::Pending { role: Role::Viewer });
    assert_eq!(store.invitation_state("h1", now).await.unwrap(), InvitationState::AlreadyUsed);
    assert_eq!(store.invitation_state("h2", now.plus_ms(60_000)).await.unwrap(), InvitationState::Expired);
    assert_eq!(store.invitation_state("nope", now).await.unwrap(), InvitationState::Unknown);
    assert!(!store.revoke_invitation(&b, "inv_2", now).await.unwrap(), "another tenant's invitation");
    assert!(store.revoke_invitation(&a, "inv_2", now).await.unwrap());
    assert!(!store.revoke_invitation(&a, "inv_2", now).await.unwrap(), "once");
    assert_eq!(store.accept_invitation("h2", &bob.id, now).await.unwrap(), InvitationUse::Revoked);
    assert_eq!(store.invitation_state("h2", now).await.unwrap(), InvitationState::Revoked);
    assert!(store.list_invitations(&a).await.unwrap().is_empty());

    let refused = |why| MemberChangeOutcome::Refused(why);
    assert_eq!(
        change(&owner.id, MemberChange::SetRole(Role::Admin), Role::Owner).await,
        refused(MemberRefusal::LastOwner)
    );
    assert_eq!(change(&owner.id, MemberChange::Remove, Role::Admin).await, refused(MemberRefusal::OwnerByNonOwner));
    assert_eq!(
        change(&bob.id, MemberChange::SetRole(Role::Owner), Role::Admin).await,
        refused(MemberRefusal::PromoteToOwner)
    );

    // A demotion lowers the member's tokens of this tenant only.
    assert_eq!(
        change(&bob.id, MemberChange::SetRole(Role::Member), Role::Owner).await,
        MemberChangeOutcome::Done { tokens: 1 }
    );
    assert_eq!(store.authenticate("bob-in-a").await.unwrap().unwrap().role, Role::Member);
    assert_eq!(store.authenticate("bob-in-b").await.unwrap().unwrap().role, Role::Admin);
    assert_eq!(store.session("bob-a", now).await.unwrap().unwrap().role, Role::Member);

    // Two owners stepping down at the same moment: one succeeds, one is the last owner.
    for round in 0..5 {
        assert!(matches!(
            change(&bob.id, MemberChange::SetRole(Role::Owner), Role::Owner).await,
            MemberChangeOutcome::Done { .. }
        ));
        let (x, y) = tokio::join!(
            change(&owner.id, MemberChange::SetRole(Role::Admin), Role::Owner),
            change(&bob.id, MemberChange::SetRole(Role::Admin), Role::Owner),
        );
        let done = [&x, &y].iter().filter(|o| matches!(o, MemberChangeOutcome::Done { .. })).count();
        assert_eq!(done, 1, "round {round}: {x:?} {y:?}");
        let owners = store.list_members(&a).await.unwrap().iter().filter(|m| m.role == Role::Owner).count();
        assert_eq!(owners, 1, "round {round}");
        let stepped_down = if done == 1 && matches!(x, MemberChangeOutcome::Done { .. }) { &owner.id } else { &bob.id };
        assert!(matches!(
            change(stepped_down, MemberChange::SetRole(Role::Owner), Role::Owner).await,
            MemberChangeOutcome::Done { .. }
        ));
        change(&bob.id, MemberChange::SetRole(Role::Member), Role::Owner).await;
    }

    // Removal ends the member's sessions and tokens in this tenant, nothing elsewhere.
    assert_eq!(change(&bob.id, MemberChange::Remove, Role::Admin).await, MemberChangeOutcome::Done { tokens: 1 });
    assert!(store.session("bob-a", now).await.unwrap().is_none());
    assert!(store.authenticate("bob-in-a").await.unwrap().is_none());
    assert!(store.session("bob-b", now).await.unwrap().is_some(), "bob's own organisation is untouched");
    assert!(store.authenticate("bob-in-b").await.unwrap().is_some());
    assert_eq!(store.list_members(&a).await.unwrap().len(), 1);
    assert_eq!(change(&bob.id, MemberChange::Remove, Role::Owner).await, MemberChangeOutcome::NotMember);
}

pub async fn leaving_moves_the_session_on_ends_the_rest_and_two_owners_leaving_at_once_leave_one(backend: Backend) {
    use netpulse_store::{Invitation, LeaveOutcome, MemberRefusal, Role, Scope, TokenRecord};
    let store = backends::open(backend, 4).await;
    let now = Timestamp::from_secs(1_800_000_000);
    store.bootstrap("hash", now).await.unwrap();
    let (owner, a) = register(&*store, "owner@example.com", now).await;
    let (bob, b) = register(&*store, "bob@example.com", now).await;
    let join = |n: u32, user: &netpulse_core::UserId, role| {
        let (store, a, user) = (&store, &a, user.clone());
        async move {
            let email = store.user_by_id(&user).await.unwrap().expect("a user").email;
            let inv = Invitation {
                id: format!("inv_{n}"),
                email,
                role,
                invited_by: "user x".into(),
                created_at: now,
                expires_at: now.plus_ms(60_000),
            };
            store.create_invitation(a, &inv, &format!("h{n}")).await.unwrap();
            store.accept_invitation(&format!("h{n}"), &user, now).await.unwrap();
        }
    };
    join(0, &bob.id, Role::Viewer).await;
    for (hash, t) in [("bob-a", &a), ("bob-a2", &a), ("bob-b", &b), ("owner-a", &a)] {
        let user = if hash.starts_with("bob") { bob.id.clone() } else { owner.id.clone() };
        let s = NewSession {
            id_hash: hash.into(),
            user,
            tenant: t.clone(),
            csrf: "c".into(),
            created_at: now,
            expires_at: now.plus_ms(3_600_000),
        };
        store.create_session(&s).await.unwrap();
    }
    for (n, t, hash) in [(1, &a, "bob-in-a"), (2, &b, "bob-in-b")] {
        let rec = TokenRecord {
            id: netpulse_core::TokenId::from_parts(now.millis(), n),
            name: format!("t{n}"),
            scope: Scope::Read,
            role: Role::Viewer,
            created_at: now,
            last_used_at: None,
            created_by: Some(bob.id.clone()),
        };
        store.create_token(t, &rec, hash).await.unwrap();
    }

    // The viewer leaves A: the asking session moves to B, the other one in A and the token
    // made in A stop; B is untouched.
    assert_eq!(
        store.leave(&a, &bob.id, "bob-a", now).await.unwrap(),
        LeaveOutcome::Left { switched_to: Some(b.clone()), tokens: 1 }
    );
    assert_eq!(store.session("bob-a", now).await.unwrap().map(|s| s.tenant_id), Some(b.clone()));
    assert!(store.session("bob-a2", now).await.unwrap().is_none());
    assert!(store.session("bob-b", now).await.unwrap().is_some());
    assert!(store.authenticate("bob-in-a").await.unwrap().is_none());
    assert!(store.authenticate("bob-in-b").await.unwrap().is_some());
    assert_eq!(store.list_members(&a).await.unwrap().len(), 1);
    assert_eq!(store.leave(&a, &bob.id, "bob-a", now).await.unwrap(), LeaveOutcome::NotMember);

    // The last owner stays; with nowhere else to go the asking session would end.
    let last = LeaveOutcome::Refused(MemberRefusal::LastOwner);
    assert_eq!(store.leave(&a, &owner.id, "owner-a", now).await.unwrap(), last);
    assert!(store.session("owner-a", now).await.unwrap().is_some(), "refused: still signed in");

    // Two owners leaving at the same moment: one leaves, the other is the last owner.
    join(3, &bob.id, Role::Owner).await;
    for round in 0..5u32 {
        let (x, y) = tokio::join!(store.leave(&a, &owner.id, "none", now), store.leave(&a, &bob.id, "none", now));
        let (x, y) = (x.unwrap(), y.unwrap());
        let left = [&x, &y].iter().filter(|o| matches!(o, LeaveOutcome::Left { .. })).count();
        assert_eq!(left, 1, "round {round}: {x:?} {y:?}");
        let members = store.list_members(&a).await.unwrap();
        assert_eq!(members.iter().filter(|m| m.role == Role::Owner).count(), 1, "round {round}: {members:?}");
        let gone = if x == last { &bob.id } else { &owner.id };
        join(10 + round, gone, Role::Owner).await;
    }
    let owner_left = store.leave(&b, &bob.id, "bob-b", now).await.unwrap();
    assert_eq!(owner_left, last, "bob is B's only owner");
}
