"""What a user reads when a use case refuses: the sentence of each `Refusal` (the facts it carries become its
words here, escaped), and of the domain errors whose kind alone says it."""
from __future__ import annotations

from typing import Callable

from handlers.blocks import settings as setting_words
from handlers.blocks.wording import escape, person
from usecases.compose import BODY_LIMIT, SUBJECT_LIMIT
from usecases.mailbox import ConnectRefused
from usecases.settings import AlertChannelRefused, NotAContact, NotACrmUserYet
from usecases.values import (
    GMAIL_MODIFY_SCOPE,
    GMAIL_SEND_SCOPE,
    DomainError,
    Person,
    PolicyScope,
    Refusal,
    SharingPolicy,
    StoreRefusal,
    WrongWorkspace,
)

OTHER_ORGANISATION = ("This MailMagnet serves another organisation's Slack workspace, so it does nothing here. "
                      "Ask your Slack admin which apps your workspace uses.")
GENERIC_REFUSAL = "MailMagnet cannot do that."
ADMIN_ONLY = "Only MailMagnet admins and Slack workspace admins can do that."
STALE_BUTTON = "That button is from an older MailMagnet message; it no longer works."


def who_grants(admins: tuple[Person, ...]) -> str:
    """Who can grant Mail Integration to someone of this workspace."""
    if admins:
        return ", ".join(person(a) for a in admins) + " (MailMagnet admins) or a Slack workspace admin"
    return "a Slack workspace admin or owner"


def crm_admins_named(admins: tuple[Person, ...]) -> str:
    """The CRM admins, named for a refusal that only they can lift."""
    return "a CRM admin" + (f" ({', '.join(person(a) for a in admins)})" if admins else "")


def _not_linked(slack_email: str | None, granters: tuple[Person, ...]) -> str:
    email = f" ({escape(slack_email)})" if slack_email else ""
    return (f"Your Slack account{email} is not linked to a CRM user. Ask {who_grants(granters)} "
            "to add you with `/gmail admin grant @you`.")


def _link_needs_proof(slack_user_id: str, proof: str | None, crm_email: str, crm_admins: tuple[Person, ...]) -> str:
    shown = (f"<@{slack_user_id}>'s Slack email is {escape(proof)}" if proof
             else f"Slack has no confirmed email for <@{slack_user_id}>")
    return ("A Slack workspace admin links someone only to the CRM user whose email or secondary email is their own "
            f"Slack email, as Slack confirmed it. {shown}, which is not the email of the CRM user {escape(crm_email)}, "
            f"so only {crm_admins_named(crm_admins)} can make this link. If the CRM has the wrong email for "
            "this person, correct it in the CRM.")


ACCESS: dict[Refusal, Callable[..., str]] = {
    Refusal.NOT_LINKED: _not_linked,
    Refusal.CRM_USER_GONE: lambda: "Your CRM user no longer exists. Ask a MailMagnet admin.",
    Refusal.NO_MAIL_INTEGRATION: lambda granters: (
        "Your CRM profile does not have the Mail Integration permission, which Gmail features need. "
        f"Ask {who_grants(granters)} to run `/gmail admin grant @you`."),
    Refusal.NEEDS_SLACK_USER: lambda: "This needs a Slack user.",
    Refusal.CONTACTS_FOR_CRM_USERS: lambda granters: (
        "Contact details are shown to CRM users only, and your Slack account is not linked to one. "
        f"Ask {who_grants(granters)} to add you."),
    Refusal.ADMIN_ONLY: lambda: ADMIN_ONLY,
    Refusal.ROLES_FOR_CRM_ADMINS: lambda: (
        "Roles are the organisation's, across its Slack workspaces: only a MailMagnet (CRM) admin sets a role's "
        "sharing policy. You can set your workspace's policy or one user's."),
    Refusal.ANOTHER_WORKSPACES_USER: lambda email: (
        f"{escape(email)} belongs to another Slack workspace of your organisation: only its admins or a MailMagnet "
        "(CRM) admin can change that user."),
    Refusal.TARGET_IS_CRM_ADMIN: lambda email: (
        f"{escape(email)} is a MailMagnet (CRM) admin: only another CRM admin can change them."),
    Refusal.CREATES_NO_CRM_USER: lambda email, crm_admins: (
        f"There is no CRM user with the email {escape(email)}, and a Slack workspace admin does not create CRM "
        "users. One comes from the CRM data (a CSV import, the CRM ingest API or the Zoho sync), from "
        f"`mailmagnet users grant {escape(email)}` on the MailMagnet server, or from "
        f"{crm_admins_named(crm_admins)} with `/gmail admin grant` or `/gmail admin link`."),
    Refusal.LINK_NEEDS_PROOF: _link_needs_proof,
    Refusal.MAILBOX_KEEPS_ITS_REP: lambda email, address, owner_slack_id: (
        f"{escape(email)} has the Gmail {escape(address)} connected by <@{owner_slack_id}>. A mailbox belongs to "
        "its rep: it must be disconnected (`/gmail admin revoke`) before that CRM user is linked to someone else."),
    Refusal.NO_MAILBOX: lambda: "You have no Gmail connected. Run `/gmail connect` first.",
    Refusal.MAILBOX_REVOKED: lambda address: (
        f"Google no longer lets MailMagnet read {escape(address)}. Run `/gmail connect` to reconnect."),
    Refusal.MAILBOX_GONE: lambda: "That mailbox is no longer connected to MailMagnet.",
    Refusal.NOT_YOUR_MAILBOX: lambda owner_slack_id: f"Only <@{owner_slack_id}> can do that for their mailbox.",
    Refusal.MAILBOX_GONE_EMAILS_HIDDEN: lambda: (
        "That mailbox is no longer connected to MailMagnet, so its emails are not shown."),
    Refusal.SHARING_HIDES_EMAIL: lambda owner_slack_id: (
        f"<@{owner_slack_id}>'s sharing settings do not let you see that email."),
}

CONTACTS: dict[Refusal, Callable[..., str]] = {
    Refusal.STALE_BUTTON: lambda: STALE_BUTTON,
    Refusal.VIEW_EXPIRED: lambda: "Those emails are no longer listed here: run `/contact` again.",
    Refusal.EMAIL_GONE: lambda: "That email is no longer in the mailbox.",
    Refusal.MAILBOX_NEEDS_RECONNECT: lambda: (
        "Google no longer lets MailMagnet read that mailbox; its owner must reconnect (`/gmail connect`)."),
    Refusal.GMAIL_DID_NOT_ANSWER: lambda: "Gmail did not answer just now. Please try again in a moment.",
    Refusal.NOT_WITH_CONTACT: lambda: "That email is not one with this contact.",
    Refusal.CONTACT_GONE: lambda: "That contact is no longer in the CRM.",
    Refusal.WHOM_TO_LOOK_UP: lambda: "Tell me whom to look up: `/contact jane@acme.example` or `/contact Jane Doe`.",
    Refusal.NO_ADDRESS_IN_MESSAGE: lambda: "That message mentions no email address, so there is no contact to show.",
}

ADMIN: dict[Refusal, Callable[..., str]] = {
    Refusal.TARGET_IS_AN_APP: lambda slack_user_id: f"<@{slack_user_id}> is an app, not a person.",
    Refusal.NO_CONFIRMED_EMAIL: lambda slack_user_id, crm_admins: (
        f"Slack shows no confirmed email for <@{slack_user_id}>, so nothing proves which CRM user they are: only "
        f"{crm_admins_named(crm_admins)} can link them (`/gmail admin link @user their-crm-email`)."),
    Refusal.SECONDARY_EMAIL_OF_SEVERAL: lambda email, slack_user_id, crm_admins: (
        f"Several CRM users have {escape(email)} as their secondary email, so it does not say which one "
        f"<@{slack_user_id}> is: {crm_admins_named(crm_admins)} can link them explicitly "
        "(`/gmail admin link @user their-crm-email`)."),
    Refusal.CRM_USER_LINKED_ELSEWHERE: lambda email, linked_to: (
        f"The CRM user {escape(email)} is linked to "
        f"{f'<@{linked_to}>' if linked_to else 'someone in another Slack workspace'}. "
        "Use `/gmail admin link` to change that."),
    Refusal.NOTHING_TO_REVOKE: lambda slack_user_id: (
        f"<@{slack_user_id}> is not a CRM user, so there is nothing to revoke."),
    Refusal.NAME_THE_CRM_EMAIL: lambda email: (
        f"Several CRM users have {escape(email)} as their secondary email: name the CRM user by their CRM email."),
    Refusal.NOT_AN_ADDRESS: lambda text: f"`{escape(text)}` is not an email address.",
    Refusal.GRANT_FIRST: lambda slack_user_id: (
        f"<@{slack_user_id}> is not a CRM user yet: `/gmail admin grant` them first."),
    Refusal.ADDRESS_OF_ANOTHER_USER: lambda address, other_email: (
        f"{escape(address)} is an email of another CRM user ({escape(other_email)})."),
    Refusal.ADDRESS_ALLOWED_TO_ANOTHER: lambda address: f"{escape(address)} is already allowed for another CRM user.",
    Refusal.ADDRESS_CONNECTED_BY_ANOTHER: lambda address: (
        f"{escape(address)} is connected to MailMagnet by another user."),
    Refusal.NO_SUCH_ROLE: lambda role: (
        f"No CRM user has the role “{escape(role)}”. Roles come from the CRM data (`mailmagnet users import`, the "
        "ingest API, the Zoho sync)."),
    Refusal.ONLY_CRM_ADMINS_MAKE_ADMINS: lambda: "Only a CRM admin makes someone a CRM admin.",
    Refusal.NO_CRM_USER_WITH_EMAIL: lambda email: f"no CRM user with email {escape(email)}",
    Refusal.NO_SLACK_CONNECTION: lambda: "This MailMagnet server has no Slack connection to list members with.",
    Refusal.TOO_MANY_MEMBERS: lambda members, limit: (
        f"{members} members: a grant takes at most {limit}. Grant smaller groups, or use "
        "`mailmagnet users grant --csv FILE`."),
    Refusal.CSV_WITHOUT_EMAIL_COLUMN: lambda: "the CSV needs an `email` column",
    Refusal.NO_SUCH_MAILBOX: lambda address: f"no connected mailbox {escape(address)}",
    Refusal.ZOHO_NOT_CONFIGURED: lambda: (
        "The Zoho CRM sync is not configured: set ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET and ZOHO_REFRESH_TOKEN."),
    Refusal.FOLLOWUP_HOURS: lambda limit: f"Follow-up hours go from 1 to {limit}.",
    Refusal.LABELS_NEED_MAGNET_TICKED: lambda: (
        "Labels file the mail MailMagnet picks up: tick MailMagnet alerts too, or untick Label your email."),
}

COMPOSE: dict[Refusal, Callable[..., str]] = {
    Refusal.SENDING_NOT_GRANTED: lambda address: (
        f"MailMagnet may not send from {escape(address)} yet: when you connected, Google did not grant it “send "
        "email on your behalf”. Reconnect with `/gmail connect` and leave that box ticked; reading and alerts keep "
        "working meanwhile."),
    Refusal.MAILBOX_REVOKED_FOR_SENDING: lambda address: (
        f"Google no longer lets MailMagnet use {escape(address)}. Run `/gmail connect` to reconnect, then send again."),
    Refusal.WHOM_TO_WRITE_TO: lambda: "Tell me whom to write to: `/email jane@acme.example` or `/email Jane Doe`.",
    Refusal.NO_REPLY_ADDRESS: lambda: "That email has no address to reply to.",
    Refusal.UNWRITABLE_REPLY_ADDRESS: lambda address: (
        "That email asks for replies to an address MailMagnet cannot write into an email "
        f"({escape(repr(address[:80]))}). Reply from Gmail."),
    Refusal.TOO_MANY_REPLY_ADDRESSES: lambda count, limit: (
        f"That email asks for replies to {count} addresses (its Reply-To). MailMagnet replies to at most {limit} at "
        "once: Reply from Gmail, where you see every address."),
    Refusal.NO_SUBJECT: lambda: "Add a subject.",
    Refusal.SUBJECT_TOO_LONG: lambda: f"Keep the subject under {SUBJECT_LIMIT} characters.",
    Refusal.SUBJECT_NOT_ONE_LINE: lambda: "The subject must be one line.",
    Refusal.NO_MESSAGE: lambda: "Write a message first.",
    Refusal.MESSAGE_TOO_LONG: lambda: f"Keep the message under {BODY_LIMIT:,} characters.",
    Refusal.NO_RECIPIENT: lambda: "Pick whom to send it to.",
    Refusal.UNWRITABLE_RECIPIENT: lambda: "That address cannot be written into an email: pick another.",
    Refusal.RECIPIENT_NOT_OFFERED: lambda: "Pick one of the contact's addresses.",
    Refusal.UNWRITABLE_ADDRESS_NOT_SENT: lambda address: (
        f"MailMagnet cannot write {escape(repr(address[:80]))} into an email, so nothing was sent. Send it from Gmail."),
    Refusal.SENDING_LIMIT_REACHED: lambda address: (
        f"Gmail refused to send from {escape(address)}: the mailbox reached Gmail's sending limit. Nothing was sent; "
        "Gmail lifts the limit within 24 hours."),
    Refusal.ACCESS_REFUSED_NOTHING_SENT: lambda address: (
        f"Google refused MailMagnet's access to {escape(address)}, so nothing was sent. Reconnect with "
        "`/gmail connect`."),
    Refusal.SENDING_UNCONFIRMED: lambda: (
        "Gmail did not confirm the email. It may or may not have gone out: look in your Sent folder before sending "
        "it again."),
    Refusal.SENDING_REFUSED: lambda: "Gmail refused to send this email.",
}

SCOPE_NAMES = {GMAIL_MODIFY_SCOPE: "read and organise your mail (gmail.modify)",
               GMAIL_SEND_SCOPE: "send mail as you (gmail.send)"}

# The consent page's reasons: plain text (the page escapes it for HTML), not mrkdwn.
CONNECT: dict[Refusal, Callable[..., str]] = {
    Refusal.CONSENT_FROM_ANOTHER_ORGANISATION: lambda: (
        "This MailMagnet serves another organisation's Slack workspace, so it did not keep your Google access."),
    Refusal.CONSENT_SCOPES_MISSING: lambda scopes: (
        f"Google did not grant everything MailMagnet needs — missing: {'; '.join(SCOPE_NAMES.get(s, s) for s in scopes)}"
        ". MailMagnet did not keep the access it was given. Run /gmail connect again and leave every box ticked on "
        "Google's page."),
    Refusal.CONSENT_WITHOUT_MAIL_INTEGRATION: lambda: (
        "Your CRM profile no longer has the Mail Integration permission, so MailMagnet did not keep access to your "
        "Gmail."),
    Refusal.CONSENT_UNANSWERED: lambda: "Google granted access but Gmail did not answer. Run /gmail connect again.",
    Refusal.CONSENT_ON_ANOTHERS_LINK: lambda address: (
        f"You signed in to Google as {address}, which is already connected to MailMagnet. This sign-in link was made "
        "for another Slack user, so it connected nothing."),
    Refusal.CONSENT_NOT_OWN_MAILBOX: lambda address, allowed: (
        f"You signed in to Google as {address}, but MailMagnet connects only your own mailbox ({', '.join(allowed)}). "
        f"Sign in with that account, or ask an admin to allow {address} for you with "
        f"`/gmail admin allow @you {address}`."),
    Refusal.MAILBOX_TAKEN: lambda address: (
        f"{address} is already connected to MailMagnet by another user; one mailbox can be connected only once."),
    Refusal.MAILBOX_TAKEN_MEANWHILE: lambda address: (
        f"{address} was connected by another user at the same moment; one mailbox can be connected only once."),
}

DISCONNECT: dict[Refusal, Callable[..., str]] = {
    Refusal.NOTHING_TO_DISCONNECT: lambda: "You have no Gmail connected, so there is nothing to disconnect.",
    Refusal.DISCONNECTED_ALREADY: lambda: "That mailbox is no longer connected: there is nothing to disconnect.",
}

def _policy_fixed(policy: SharingPolicy, scope: PolicyScope) -> str:
    if scope is PolicyScope.ORGANISATION:
        return (f"Your organisation's sharing policy is {policy.value.capitalize()} for everyone; an admin can change "
                "it with `/gmail admin policy choice`.")
    mine = scope is PolicyScope.USER
    return (f"An admin set your sharing to {policy.value.capitalize()} ({'for you' if mine else 'for your role'}); "
            f"they can let you choose with `/gmail admin policy {'@you' if mine else 'role <your role>'} choice`.")


STORE: dict[StoreRefusal, Callable[..., str]] = {
    StoreRefusal.POLICY_FIXED: _policy_fixed,
    StoreRefusal.LABELS_NEED_MAGNET: lambda: (
        "Labels file the mail MailMagnet picks up, so MailMagnet must be on first: run `/gmail magnet on`, then "
        "`/gmail labels on`."),
    StoreRefusal.NOT_A_TIME: lambda text: f"“{escape(text)}” is not a time of day; use HH:MM, e.g. 22:00",
    StoreRefusal.QUIET_HOURS_NEED_TWO_TIMES: lambda: (
        "Quiet hours need a start and a different end, e.g. `22:00-07:00`."),
    StoreRefusal.OWN_EMAILS_ALWAYS_VISIBLE: lambda: "Your own emails are always visible to you.",
    StoreRefusal.KEY_NAME_INVALID: lambda: (
        "A key name is 1 to 100 characters without spaces, e.g. zapier or hubspot-webhook."),
    StoreRefusal.KEY_NAME_TAKEN: lambda name: f"A key named {name} exists already; revoke it first to replace it.",
}

REFUSALS: dict[Refusal | StoreRefusal, Callable[..., str]] = {
    **ACCESS, **CONTACTS, **ADMIN, **COMPOSE, **CONNECT, **DISCONNECT, **STORE}


def connect_refused_text(refused: ConnectRefused) -> str:
    """Why the consent page kept nothing, and what became of the grant (plain text)."""
    reason = CONNECT[refused.refusal](**refused.facts)
    if refused.kept_address:
        return f"{reason} Nothing changed for {refused.kept_address}, which stays connected to MailMagnet as it was."
    return f"{reason} The access you gave was revoked at Google."


def field_refusals(errors: dict[str, Refusal]) -> dict[str, str]:
    """A modal's field errors ({field: why}) in words."""
    return {name: REFUSALS[why]() for name, why in errors.items()}

# A refusal raised without a `Refusal` of its own is told by its kind's.
SENTENCES: dict[type[DomainError], Callable[..., str]] = {
    WrongWorkspace: lambda _: OTHER_ORGANISATION,
    AlertChannelRefused: setting_words.alert_channel_refused,
    NotAContact: setting_words.not_a_contact,
    NotACrmUserYet: setting_words.not_a_crm_user_yet,
}


def refusal_text(error: DomainError) -> str:
    if error.refusal in REFUSALS:
        return REFUSALS[error.refusal](**error.facts)
    text = str(error)
    if text:
        return text
    for kind in type(error).__mro__:
        if kind in SENTENCES:
            return SENTENCES[kind](error)
    return GENERIC_REFUSAL
