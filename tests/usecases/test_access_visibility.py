"""SPEC §1, §5: private, public, custom; depth; the organisation's policy; channel audiences; and the domain error
with which each decision of usecases/access.py refuses each kind of actor."""
import pytest

from crm_store.db import session_scope
from crm_store.errors import AdminOnly, DomainError, NotAllowed, NotLinked, PermissionRequired, PolicyFixed
from crm_store.mailboxes import set_policy, set_sharing, share_with
from crm_store.models import CrmUser, GmailAccount, Sharing, SharingDepth, SharingPolicy
from crm_store.sharing import Visibility
from crm_store.users import get_or_create_user, link_slack_user, set_permissions
from handlers.blocks.refusals import GENERIC_REFUSAL, REFUSALS, refusal_text
from tests.factories import make_contact, make_deal
from usecases import access
from usecases import visibility as sight
from usecases.visibility import visibility, visibility_for_users
from usecases.actors import Actor, ActorKind
from usecases.context import SlackIdentity


@pytest.fixture
def world(engine):
    with session_scope(engine) as s:
        rep = get_or_create_user(s, "rep@crm.example")
        owner = get_or_create_user(s, "owner@crm.example")
        dealer = get_or_create_user(s, "dealer@crm.example")
        friend = get_or_create_user(s, "friend@crm.example")
        other = get_or_create_user(s, "other@crm.example")
        for i, u in enumerate((rep, owner, dealer, friend, other)):
            link_slack_user(s, u, team_id="T1", slack_user_id=f"U{i}")
        contact = make_contact(s, "c@x.example", owner="owner@crm.example")
        make_deal(s, contact, "Proposal", "2026-12-01", owner="dealer@crm.example")
        account = GmailAccount(crm_user_id=rep.id, slack_team_id="T1", slack_user_id="U0",
                               email_address="rep@gmail.example", sharing="custom", sharing_depth="subject")
        s.add(account)
        s.flush()
        share_with(s, rep, friend)
        ids = {n: u.id for n, u in dict(rep=rep, owner=owner, dealer=dealer, friend=friend, other=other).items()}
        return ids, contact.id, account.id


def test_custom_sharing_follows_ownership_and_explicit_shares(engine, world):
    ids, contact_id, account_id = world
    with session_scope(engine) as s:
        account = s.get(GmailAccount, account_id)
        assert visibility(s, account, contact_id, ids["rep"]) is Visibility.OWNER
        assert visibility(s, account, contact_id, ids["owner"]) is Visibility.SUBJECT
        assert visibility(s, account, contact_id, ids["dealer"]) is Visibility.SUBJECT
        assert visibility(s, account, contact_id, ids["friend"]) is Visibility.SUBJECT
        assert visibility(s, account, contact_id, ids["other"]) is Visibility.NONE
        assert visibility(s, account, contact_id, None) is Visibility.NONE


def test_private_public_and_depth(engine, world):
    ids, contact_id, account_id = world
    with session_scope(engine) as s:
        account = s.get(GmailAccount, account_id)
        set_sharing(s, account, Sharing.PRIVATE)
        assert visibility(s, account, contact_id, ids["owner"]) is Visibility.NONE
        assert visibility(s, account, contact_id, ids["rep"]) is Visibility.OWNER
        set_sharing(s, account, Sharing.PUBLIC, SharingDepth.FULL)
        level = visibility(s, account, contact_id, ids["other"])
        assert level is Visibility.FULL and level.shows_snippet
        set_sharing(s, account, None, SharingDepth.METADATA)
        level = visibility(s, account, contact_id, ids["other"])
        assert level is Visibility.METADATA and not level.shows_subject


def test_organisation_policy_overrides_and_blocks_choice(engine, world):
    ids, contact_id, account_id = world
    with session_scope(engine) as s:
        account = s.get(GmailAccount, account_id)
        set_sharing(s, account, Sharing.PUBLIC)
        set_policy(s, "T1", SharingPolicy.PRIVATE)
        assert visibility(s, account, contact_id, ids["owner"]) is Visibility.NONE
        with pytest.raises(PolicyFixed) as fixed:
            set_sharing(s, account, Sharing.PUBLIC)
        assert "Private for everyone" in refusal_text(fixed.value)
        set_sharing(s, account, Sharing.PRIVATE)  # choosing what the policy says is fine
        set_policy(s, "T1", SharingPolicy.CHOICE)
        assert visibility(s, account, contact_id, ids["owner"]) is Visibility.NONE


def audience_visibility(session, account, contact_id, viewers):
    return min(visibility_for_users(session, account, contact_id, viewers).values())


def test_channel_audience_sees_the_least_any_member_may(engine, world):
    ids, contact_id, account_id = world
    with session_scope(engine) as s:
        account = s.get(GmailAccount, account_id)
        assert audience_visibility(s, account, contact_id, [ids["rep"], ids["owner"]]) is Visibility.SUBJECT
        assert audience_visibility(s, account, contact_id, [ids["rep"], ids["other"]]) is Visibility.NONE
        assert audience_visibility(s, account, contact_id, [ids["rep"], None]) is Visibility.NONE
        assert audience_visibility(s, account, contact_id, [ids["rep"]]) is Visibility.OWNER


# -- each decision of usecases/access.py refuses with its own domain error ------------------------------------
# A refusal is a specific DomainError (its message is what the user reads); anything else raised — a KeyError,
# a TypeError — would reach the user as "something went wrong" and must fail here, not pass as "refused".

def slack_actor(world, name: str | None, *, team: str = "T1", mail: bool = True, crm_admin: bool = False,
                workspace_admin: bool = False) -> Actor:
    ids = world[0]
    crm_id = ids[name] if name else None
    user_id = f"U{list(ids).index(name)}" if name else "U9GUEST"
    return Actor(ActorKind.SLACK, team_id=team, slack_user_id=user_id,
                 identity=SlackIdentity(team, user_id, is_workspace_admin=workspace_admin), crm_user_id=crm_id,
                 mail_integration=mail, crm_admin=crm_admin)


ACTOR_KINDS = {
    "rep": dict(name="rep"),
    "colleague": dict(name="other"),
    "colleague without Mail Integration": dict(name="other", mail=False),
    "guest": dict(name=None, mail=False),
    "workspace admin": dict(name=None, mail=False, workspace_admin=True),
    "other workspace's admin": dict(name=None, mail=False, workspace_admin=True, team="T2"),
    "CRM admin": dict(name="owner", crm_admin=True),
}


def decide(session, world, decision: str, actor: Actor):
    ids, contact_id, account_id = world
    if decision == "require_linked":
        return access.require_linked(session, actor).id
    if decision == "require_mail_integration":
        return access.require_mail_integration(session, actor).id
    if decision == "require_crm_user":
        return access.require_crm_user(session, actor).id
    if decision == "require_admin":
        return access.require_admin(actor)
    if decision == "admin_over_rep":
        return access.require_admin_over(session, actor, session.get(CrmUser, ids["rep"]))
    if decision == "admin_over_crm_admin":
        return access.require_admin_over(session, actor, session.get(CrmUser, ids["boss"]))
    if decision == "mailbox_owner":
        return access.require_mailbox_owner(session, actor, account_id).id
    if decision == "email_visibility":
        return sight.email_visibility(session, actor, account_id, contact_id)[1]
    if decision == "audit_scope":
        return access.audit_scope(session, actor)
    raise AssertionError(decision)


OK = "allowed"
# decision -> actor kind -> the domain error it raises, or what it answers when allowed (OK: anything, no error)
DECISIONS = {
    "require_linked": {"rep": OK, "colleague": OK, "colleague without Mail Integration": OK, "guest": NotLinked,
                       "workspace admin": NotLinked, "other workspace's admin": NotLinked, "CRM admin": OK},
    "require_mail_integration": {"rep": OK, "colleague": OK, "colleague without Mail Integration": PermissionRequired,
                                 "guest": NotLinked, "workspace admin": NotLinked,
                                 "other workspace's admin": NotLinked, "CRM admin": OK},
    "require_crm_user": {"rep": OK, "colleague": OK, "colleague without Mail Integration": OK, "guest": NotLinked,
                         "workspace admin": NotLinked, "other workspace's admin": NotLinked, "CRM admin": OK},
    "require_admin": {"rep": AdminOnly, "colleague": AdminOnly, "colleague without Mail Integration": AdminOnly,
                      "guest": AdminOnly, "workspace admin": None, "other workspace's admin": None, "CRM admin": None},
    "admin_over_rep": {"rep": AdminOnly, "colleague": AdminOnly, "colleague without Mail Integration": AdminOnly,
                       "guest": AdminOnly, "workspace admin": None, "other workspace's admin": NotAllowed,
                       "CRM admin": None},
    "admin_over_crm_admin": {"rep": AdminOnly, "colleague": AdminOnly,
                             "colleague without Mail Integration": AdminOnly, "guest": AdminOnly,
                             "workspace admin": NotAllowed, "other workspace's admin": NotAllowed, "CRM admin": None},
    "mailbox_owner": {"rep": OK, "colleague": NotAllowed, "colleague without Mail Integration": NotAllowed,
                      "guest": NotAllowed, "workspace admin": NotAllowed, "other workspace's admin": NotAllowed,
                      "CRM admin": NotAllowed},
    # Custom sharing at subject depth; the CRM admin is the contact's owner, so Custom lets them see it.
    "email_visibility": {"rep": Visibility.OWNER, "colleague": NotAllowed,
                         "colleague without Mail Integration": NotAllowed, "guest": NotAllowed,
                         "workspace admin": NotAllowed, "other workspace's admin": NotAllowed,
                         "CRM admin": Visibility.SUBJECT},
    "audit_scope": {"rep": AdminOnly, "colleague": AdminOnly, "colleague without Mail Integration": AdminOnly,
                    "guest": AdminOnly, "workspace admin": "T1", "other workspace's admin": "T2", "CRM admin": None},
}


def test_the_decision_table_covers_every_actor_kind():
    assert all(set(row) == set(ACTOR_KINDS) for row in DECISIONS.values())


@pytest.mark.parametrize("decision", list(DECISIONS))
def test_each_decision_refuses_with_its_own_domain_error(engine, world, decision):
    with session_scope(engine) as s:
        boss = get_or_create_user(s, "boss@crm.example")
        set_permissions(s, boss, mail_integration=True, is_admin=True)  # a CRM admin linked nowhere yet
        s.flush()
        world[0]["boss"] = boss.id
    for kind, expected in DECISIONS[decision].items():
        actor = slack_actor(world, **ACTOR_KINDS[kind])
        with session_scope(engine) as s:
            if isinstance(expected, type) and issubclass(expected, Exception):
                with pytest.raises(DomainError) as refused:
                    decide(s, world, decision, actor)
                assert refused.type is expected, (decision, kind, refused.value)
                assert refused.value.refusal in REFUSALS, (decision, kind)  # a reason the Slack surface words
                assert refusal_text(refused.value) != GENERIC_REFUSAL, (decision, kind)
            else:
                answer = decide(s, world, decision, actor)
                assert expected is OK or answer == expected, (decision, kind, answer)
