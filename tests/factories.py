"""Small builders for CRM rows in tests."""
from __future__ import annotations

from datetime import date

from sqlmodel import Session

from crm_store.models import AccountStatus, Contact, Deal, GmailAccount
from crm_store.users import get_or_create_user


def make_contact(session: Session, email: str, *, secondary: str | None = None, first: str = "Pat",
                 last: str | None = None, company: str | None = None, owner: str | None = None) -> Contact:
    owner_id = get_or_create_user(session, owner).id if owner else None
    contact = Contact(email=email.lower(), secondary_email=secondary.lower() if secondary else None,
                      first_name=first, last_name=last, company=company, owner_id=owner_id)
    session.add(contact)
    session.flush()
    return contact


def make_deal(session: Session, contact: Contact, stage: str, closing: date | str | None = None, *,
              name: str | None = None, owner: str | None = None) -> Deal:
    if isinstance(closing, str):
        closing = date.fromisoformat(closing)
    owner_id = get_or_create_user(session, owner).id if owner else None
    deal = Deal(name=name or f"{stage} deal", contact_id=contact.id, stage=stage, closing_date=closing,
                owner_id=owner_id)
    session.add(deal)
    session.flush()
    return deal


def make_mailbox(session: Session, rep_email: str, *, slack_user: str = "U1", team: str = "T1",
                 status: AccountStatus = AccountStatus.CONNECTED) -> GmailAccount:
    """A rep (the CRM user of `rep_email`) and their connected mailbox of the same address."""
    user = get_or_create_user(session, rep_email)
    account = GmailAccount(crm_user_id=user.id, slack_team_id=team, slack_user_id=slack_user,
                           email_address=rep_email, status=status)
    session.add(account)
    session.flush()
    return account
