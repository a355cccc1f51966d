"""SPEC §5: private, public, custom; depth; the organisation's policy; channel audiences."""
import pytest

from crm_store.db import session_scope
from crm_store.errors import PolicyFixed
from crm_store.mailboxes import set_policy, set_sharing, share_with
from crm_store.models import GmailAccount, Sharing, SharingDepth, SharingPolicy
from crm_store.sharing import Visibility
from usecases.access import visibility, visibility_for_users
from crm_store.users import get_or_create_user, link_slack_user
from tests.factories import make_contact, make_deal


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
        with pytest.raises(PolicyFixed, match="Private for everyone"):
            set_sharing(s, account, Sharing.PUBLIC)
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
