"""SPEC §1 Roles and §5 policies, as usecases/visibility.py decides them: the managers' depth over their reports'
customer email (manager, manager's manager, peer, report, outsider × none/metadata/subject/full), never mail that
is with no contact; sharing policies for the organisation, a role or one user, the most specific winning."""
from __future__ import annotations

import pytest

from crm_store.db import session_scope
from crm_store.errors import PolicyFixed
from crm_store.mailboxes import org_settings, set_policy, set_sharing
from crm_store.models import CrmUser, GmailAccount, ManagersSee, RoleSharingPolicy, Sharing, SharingPolicy
from crm_store.sharing import Visibility, managers_of, reports_of
from crm_store.users import get_or_create_user, link_slack_user
from handlers.blocks.refusals import refusal_text
from tests.factories import make_contact
from usecases.visibility import mailboxes_visible_to, visibility, visibility_for_users
from usecases.actors import Actor, ActorKind

PEOPLE = ("ceo", "vp", "manager", "rep", "peer", "report", "outsider")
# who reports to whom: the rep's manager, the manager's manager (vp), the vp's (ceo); a peer under the same
# manager; someone reporting to the rep; an outsider in another branch.
LINES = {"vp": "ceo", "manager": "vp", "rep": "manager", "peer": "manager", "report": "rep", "outsider": "ceo"}


@pytest.fixture
def org(engine):
    with session_scope(engine) as s:
        users = {name: get_or_create_user(s, f"{name}@crm.example") for name in PEOPLE}
        for i, (name, user) in enumerate(users.items()):
            link_slack_user(s, user, team_id="T1", slack_user_id=f"U{i}")
        for name, boss in LINES.items():
            users[name].manager_id = users[boss].id
            users[name].role = "Sales Rep" if name in ("rep", "peer", "report") else "Sales Manager"
            s.add(users[name])
        contact = make_contact(s, "customer@client.example")
        account = GmailAccount(crm_user_id=users["rep"].id, slack_team_id="T1", slack_user_id="U3",
                               email_address="rep@gmail.example", sharing="private", sharing_depth="full")
        s.add(account)
        s.flush()
        return {n: u.id for n, u in users.items()}, contact.id, account.id


N, M, S, F, O = Visibility.NONE, Visibility.METADATA, Visibility.SUBJECT, Visibility.FULL, Visibility.OWNER
# managers_see -> what each person sees of the rep's (Private) mailbox's emails with a contact
MATRIX = {
    ManagersSee.NONE:     dict(ceo=N, vp=N, manager=N, rep=O, peer=N, report=N, outsider=N),
    ManagersSee.METADATA: dict(ceo=M, vp=M, manager=M, rep=O, peer=N, report=N, outsider=N),
    ManagersSee.SUBJECT:  dict(ceo=S, vp=S, manager=S, rep=O, peer=N, report=N, outsider=N),
    ManagersSee.FULL:     dict(ceo=F, vp=F, manager=F, rep=O, peer=N, report=N, outsider=N),
}


@pytest.mark.parametrize("depth", list(ManagersSee))
def test_managers_see_their_reports_customer_mail_at_the_organisations_depth(engine, org, depth):
    ids, contact_id, account_id = org
    with session_scope(engine) as s:
        org_settings(s, "T1").managers_see = depth.value
    with session_scope(engine) as s:
        account = s.get(GmailAccount, account_id)
        seen = visibility_for_users(s, account, contact_id, [ids[p] for p in PEOPLE])
        assert {p: seen[ids[p]] for p in PEOPLE} == MATRIX[depth]
        # Mail with nobody of the CRM is the owner's alone, whatever the managers' depth.
        assert visibility(s, account, None, ids["manager"]) is N
        assert visibility(s, account, None, ids["rep"]) is O


def test_managers_depth_only_adds_to_what_sharing_gives(engine, org):
    ids, contact_id, account_id = org
    with session_scope(engine) as s:
        org_settings(s, "T1").managers_see = ManagersSee.METADATA.value
        account = s.get(GmailAccount, account_id)
        set_sharing(s, account, Sharing.PUBLIC)  # Public at full depth: everyone in the workspace sees full
    with session_scope(engine) as s:
        account = s.get(GmailAccount, account_id)
        assert visibility(s, account, contact_id, ids["manager"]) is F
        assert visibility(s, account, contact_id, ids["peer"]) is F


def test_a_cycle_in_the_reporting_line_ends_and_a_manager_finds_their_reports_mailboxes(engine, org):
    ids, contact_id, account_id = org
    with session_scope(engine) as s:
        ceo = s.get(CrmUser, ids["ceo"])
        ceo.manager_id = ids["rep"]  # bad CRM data: a loop
        s.add(ceo)
        link_slack_user(s, s.get(CrmUser, ids["vp"]), team_id="T2", slack_user_id="U1")  # another workspace
        org_settings(s, "T1").managers_see = ManagersSee.SUBJECT.value
    with session_scope(engine) as s:
        assert managers_of(s, ids["rep"]) == [ids["manager"], ids["vp"], ids["ceo"]]
        assert ids["rep"] in reports_of(s, ids["vp"])  # and the walk ends, loop or not
        vp = Actor(ActorKind.SLACK, team_id="T2", slack_user_id="U1", crm_user_id=ids["vp"], mail_integration=True)
        peer = Actor(ActorKind.SLACK, team_id="T1", slack_user_id="U4", crm_user_id=ids["peer"], mail_integration=True)
        assert [(a.id, level) for a, level in mailboxes_visible_to(s, vp, contact_id)] == [(account_id, S)]
        assert mailboxes_visible_to(s, peer, contact_id) == []


def test_the_most_specific_sharing_policy_wins(engine, org):
    ids, contact_id, account_id = org
    with session_scope(engine) as s:
        account = s.get(GmailAccount, account_id)
        set_sharing(s, account, Sharing.PUBLIC)  # the rep's own choice
        set_policy(s, "T1", SharingPolicy.PRIVATE)  # the organisation: Private
    with session_scope(engine) as s:
        account = s.get(GmailAccount, account_id)
        assert visibility(s, account, contact_id, ids["outsider"]) is N
        s.add(RoleSharingPolicy(role="Sales Rep", policy=SharingPolicy.CHOICE.value))  # the role: rep's choice
    with session_scope(engine) as s:
        account = s.get(GmailAccount, account_id)
        assert visibility(s, account, contact_id, ids["outsider"]) is F
        rep = s.get(CrmUser, ids["rep"])
        rep.sharing_policy = SharingPolicy.PRIVATE.value  # this one user: Private
        s.add(rep)
    with session_scope(engine) as s:
        account = s.get(GmailAccount, account_id)
        assert visibility(s, account, contact_id, ids["outsider"]) is N
        with pytest.raises(PolicyFixed) as fixed:
            set_sharing(s, account, Sharing.PUBLIC)
        assert "for you" in refusal_text(fixed.value)
