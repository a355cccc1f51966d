"""The Zoho CRM REST API v7 + Zoho accounts (OAuth) emulator: a real HTTP server on loopback.

``ZohoEmulator`` owns the CRM's users (Users API), Contacts, Deals and Leads (with their
conversion), the deleted records, the OAuth
server, fault injection and call recording, and serves them over HTTP/1.1 (keep-alive, exact
Content-Length) on a background thread. Its clock is its own (``set_time``, ``advance``): it
stamps ``Modified_Time``, ``deleted_time``, token expiry and the ``Date`` header, so tests
decide what "modified since" means without sleeping.
"""

from __future__ import annotations

import bisect
import email.utils
import json
import logging
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping
from urllib.parse import parse_qsl, urlsplit

from . import errors, leads, users
from .errors import ZohoError
from ..loopback_http import LoopbackService, TrackedHandler
from .faults import Fault
from .users import CrmUser

log = logging.getLogger(__name__)

JSON_TYPE = "application/json;charset=UTF-8"
API_VERSION = "v7"
MODULES = ("Contacts", "Deals", "Leads")
MAX_PER_PAGE = 200
DISCRETE_LIMIT = 2000  # records reachable with page/per_page; beyond that, page_token
PAGE_TOKEN_LIFETIME = timedelta(days=1)
SORT_FIELDS = ("id", "Created_Time", "Modified_Time")
DEFAULT_SCOPE = "ZohoCRM.modules.ALL"
_ID_BASE = 4150868000000000000
ORG_CREATED = datetime(2020, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Call:
    """One request as the emulator saw it (assertions: what was read, with which cursor)."""

    method: str
    path: str
    endpoint: str  # "records" | "record" (one by id) | "deleted" | "convert" | "users" | "token" | "other"
    module: str | None  # Contacts | Deals | Leads, "users", or None
    query: dict[str, str]
    if_modified_since: str | None
    status: int | str  # HTTP status, or "drop"
    fault: str | None = None  # the injected fault, if any
    record_ids: tuple[str, ...] = ()  # ids of the records (deleted records, users) in the answer
    time: datetime | None = None  # the emulator's clock

    @property
    def page_token(self) -> str | None:
        return self.query.get("page_token")


@dataclass
class _Response:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    drop: bool = False
    latency: float = 0.0
    unsized: bool = False  # no Content-Length: the body ends when the connection closes
    streamed: bool = False  # written in slices, not copied into one buffer (answers of many megabytes)


def _json(status: int, obj: Any, headers: Mapping[str, str] | None = None) -> _Response:
    body = b"" if obj is None else json.dumps(obj, ensure_ascii=False).encode("utf-8")
    all_headers = {"Content-Type": JSON_TYPE} if obj is not None else {}
    all_headers.update(headers or {})
    return _Response(status, all_headers, body)


def _error(error: ZohoError) -> _Response:
    return _json(error.status, error.body(), error.headers)


def _parse_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    text = str(value).strip().replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@dataclass
class _Record:
    id: str
    module: str
    fields: dict[str, Any]
    created: datetime
    modified: datetime
    # A converted lead: {"convert_user", "contact", "account", "deal", "converted_time"}; None otherwise.
    converted: dict[str, Any] | None = None


@dataclass
class _Deleted:
    id: str
    module: str
    display_name: str | None
    type: str  # recycle | permanent
    deleted_time: datetime
    deleted_by: dict | None
    created_by: dict | None


@dataclass
class _PageToken:
    module: str
    since: datetime | None
    sort_by: str
    descending: bool
    after: tuple  # sort key of the last record handed out
    per_page: int
    expires_at: datetime
    converted: str = "both"  # the listing's `converted` filter (Leads)


class _Handler(TrackedHandler):
    server_version = "ZGS"
    emulator: "ZohoEmulator"

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header follows the emulator's clock, the one that stamps Modified_Time.
        return email.utils.format_datetime(self.emulator.now().astimezone(timezone.utc), usegmt=True)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            response = self.emulator._handle_http(self.command, self.path, headers, body)
        except Exception:  # a bug in the emulator: answer like Zoho's backend would
            log.exception("zoho emulator failed on %s %s", self.command, self.path)
            response = _error(errors.internal_error())
        if response.latency > 0:
            self.emulator._stopping.wait(response.latency)
        if response.drop:
            self.drop_connection()
            return
        if response.streamed or response.unsized:
            self._write_streamed(response)
            return
        self.write_response(response.status, response.headers, response.body)

    def _write_streamed(self, response: _Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.unsized:
            self.close_connection = True
            self.send_header("Connection", "close")
        else:
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        try:
            for start in range(0, len(response.body), 65536):
                self.wfile.write(response.body[start:start + 65536])
        except OSError:
            pass  # the client hung up before the end, as a careful one does

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve


class ZohoEmulator(LoopbackService):
    """Zoho CRM v7 (Users; Contacts, Deals, Leads; deleted records; lead conversion) + the accounts
    server's token endpoint."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, access_token_lifetime: int = 3600,
                 org_timezone: timezone = timezone.utc, rate_limit: int = 100) -> None:
        self.host = host
        self._requested_port = port
        self.access_token_lifetime = access_token_lifetime
        self.org_timezone = org_timezone
        self.rate_limit = rate_limit
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._frozen_at: datetime | None = None
        self._offset = timedelta(0)
        self._next_id = _ID_BASE + 2175
        self._clients: dict[str, str] = {}
        self._refresh_tokens: dict[str, tuple[str, str]] = {}  # token -> (client id, scope)
        self._access_tokens: dict[str, datetime] = {}  # token -> expiry
        self._token_scopes: dict[str, str] = {}  # access token -> the scope its grant carried
        self._users: dict[str, CrmUser] = {}  # email -> user
        self._roles: dict[str, str] = {}  # role name -> id
        self._profiles: dict[str, str] = {}  # profile name -> id
        self._accounts: dict[str, str] = {}  # company name -> account id
        self._records: dict[str, dict[str, _Record]] = {module: {} for module in MODULES}
        self._deleted: dict[str, list[_Deleted]] = {module: [] for module in MODULES}
        # Listing order, kept between the pages of a listing: sorting every record for every page made
        # a 150k-record listing quadratic (each page cost as much as the whole listing). Any add, edit
        # or delete bumps the module's version and the next page sorts again.
        self._versions: dict[str, int] = {module: 0 for module in MODULES}
        self._listings: dict[tuple, tuple[int, list[_Record], list[tuple]]] = {}
        self._page_tokens: dict[str, _PageToken] = {}
        self._faults: list[Fault] = []
        self._calls: list[Call] = []
        self.default_owner = self.add_user("owner@crm.example", "CRM Owner", role="CEO",
                                           profile=users.ADMIN_PROFILE)
        # The organisation's creator was there long before any test's clock: not "modified since" anything.
        self._users["owner@crm.example"].created = self._users["owner@crm.example"].modified = ORG_CREATED

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> "ZohoEmulator":
        self._serve(type("ZohoEmulatorHandler", (_Handler,), {"emulator": self}), "zoho-emulator")
        return self

    def stop(self) -> None:
        self._close()

    @property
    def url(self) -> str:
        """Both servers' root, without a trailing slash (as `api_domain` is)."""
        return f"http://{self.host}:{self.port}"

    @property
    def accounts_url(self) -> str:
        return self.url

    @property
    def api_url(self) -> str:
        return self.url

    @property
    def token_url(self) -> str:
        return self.url + "/oauth/v2/token"

    # -- clock ----------------------------------------------------------------

    def now(self) -> datetime:
        """The emulator's time, to the second (Zoho's timestamps have no fraction)."""
        with self._lock:
            base = self._frozen_at if self._frozen_at is not None else datetime.now(timezone.utc) + self._offset
        return base.replace(microsecond=0)

    def set_time(self, when: datetime | str) -> None:
        """Freeze the clock at `when` (it moves only with `advance` from then on)."""
        with self._lock:
            self._frozen_at = _parse_time(when)

    def advance(self, seconds: float = 1) -> datetime:
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at += timedelta(seconds=seconds)
            else:
                self._offset += timedelta(seconds=seconds)
        return self.now()

    def format_time(self, when: datetime) -> str:
        """A timestamp as Zoho writes it: ISO 8601 in the organisation's time zone, to the second."""
        return when.astimezone(self.org_timezone).isoformat(timespec="seconds")

    # -- OAuth ----------------------------------------------------------------

    def register_client(self, client_id: str, client_secret: str) -> None:
        with self._lock:
            self._clients[client_id] = client_secret

    def issue_refresh_token(self, client_id: str, scope: str = DEFAULT_SCOPE) -> str:
        """A refresh token as a self-client grant would give (the admin pastes it into ZOHO_REFRESH_TOKEN)."""
        with self._lock:
            if client_id not in self._clients:
                raise KeyError(f"unknown client {client_id!r}; register_client first")
            token = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
            self._refresh_tokens[token] = (client_id, scope)
        return token

    def revoke_refresh_token(self, token: str) -> None:
        with self._lock:
            self._refresh_tokens.pop(token, None)

    def expire_access_tokens(self) -> None:
        """Every access token issued so far stops working (401 INVALID_TOKEN); refresh tokens still do."""
        with self._lock:
            self._access_tokens.clear()
            self._token_scopes.clear()

    def issue_access_token(self, scope: str = DEFAULT_SCOPE) -> str:
        with self._lock:
            token = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
            self._access_tokens[token] = self.now() + timedelta(seconds=self.access_token_lifetime)
            self._token_scopes[token] = scope
        return token

    # -- CRM data -------------------------------------------------------------

    def _new_id(self) -> str:
        self._next_id += 1000 + secrets.randbelow(7)
        return str(self._next_id)

    # -- users, roles and managers ---------------------------------------------

    def add_user(self, email: str, name: str | None = None, *, role: str | None = None,
                 profile: str | None = None, reporting_to: str | None = None, status: str = "active",
                 confirm: bool = True, time_zone: str = "UTC") -> dict[str, str]:
        """A Zoho CRM user (records' `Owner`, the Users API); returns `{"name", "id", "email"}`.

        `role` / `profile` are names (created on first use; default role "Sales Rep", profile "Standard";
        profile "Administrator" makes an admin), `reporting_to` the manager's email or id, `status`
        "active", "disabled" (deactivated) or "deleted". An existing user is returned as it is, with
        any of these given applied as by `edit_user`."""
        key = email.strip().lower()
        with self._lock:
            if key not in self._users:
                first, last = users.split_name(name, key)
                now = self.now()
                self._users[key] = CrmUser(
                    id=self._new_id(), email=key, first_name=first, last_name=last,
                    role=self._role(role or "Sales Rep"), profile=self._profile(profile or "Standard"),
                    reporting_to=None, status=self._status(status), confirm=confirm, time_zone=time_zone,
                    created=now, modified=now, zuid=str(700000000 + len(self._users)),
                )
                if reporting_to is not None:
                    self._users[key].reporting_to = self._manager_id(reporting_to, self._users[key])
            else:
                changes = {name: value for name, value in (("role", role), ("profile", profile),
                                                           ("reporting_to", reporting_to)) if value is not None}
                if changes:
                    self.edit_user(key, **changes)
            return self._users[key].lookup()

    def edit_user(self, user: str, **changes: Any) -> dict[str, Any]:
        """Change a user (by email or id) and bump its `Modified_Time`: `role=`, `profile=` (names),
        `reporting_to=` (the manager's email or id; None: nobody), `status=`, `first_name=`, `last_name=`,
        `confirm=`, `time_zone=`. Returns the user as the Users API shows it."""
        with self._lock:
            found = self._find_user(user)
            for name, value in changes.items():
                if name == "role":
                    found.role = self._role(value)
                elif name == "profile":
                    found.profile = self._profile(value)
                elif name == "reporting_to":
                    found.reporting_to = None if value is None else self._manager_id(value, found)
                elif name == "status":
                    found.status = self._status(value)
                elif name in ("first_name", "last_name", "confirm", "time_zone"):
                    setattr(found, name, value)
                else:
                    raise TypeError(f"edit_user() got an unexpected change {name!r}")
            found.modified = self.now()
            return self._user_object(found)

    def user(self, user: str) -> dict[str, Any]:
        """A user (by email or id) as `GET /users/{id}` answers it."""
        with self._lock:
            return self._user_object(self._find_user(user))

    def users(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._user_object(found) for found in self._users.values()]

    def _user_object(self, found: CrmUser) -> dict[str, Any]:
        by_id = {candidate.id: candidate for candidate in self._users.values()}
        creator = next(iter(self._users.values()))  # the organisation's first user added the others
        return users.user_object(found, by_id, self.format_time, creator)

    def _find_user(self, user: str) -> CrmUser:
        key = str(user).strip().lower()
        found = self._users.get(key) or next((u for u in self._users.values() if u.id == key), None)
        if found is None:
            raise KeyError(f"no Zoho user {user!r}; add_user first")
        return found

    def _user_by_id(self, user_id: str) -> dict[str, str] | None:
        found = next((u for u in self._users.values() if u.id == user_id), None)
        return found.lookup() if found is not None else None

    def _manager_id(self, manager: str, of: CrmUser) -> str:
        found = self._find_user(manager)
        chain, seen = found, {of.id}
        while chain is not None:  # Zoho refuses a reporting loop; so does the emulator
            if chain.id in seen:
                raise ValueError(f"{of.email} cannot report to {found.email}: that makes a reporting loop")
            seen.add(chain.id)
            chain = next((u for u in self._users.values() if u.id == chain.reporting_to), None)
        return found.id

    def _role(self, name: str) -> dict[str, str]:
        if name not in self._roles:
            self._roles[name] = self._new_id()
        return {"name": name, "id": self._roles[name]}

    def _profile(self, name: str) -> dict[str, str]:
        if name not in self._profiles:
            self._profiles[name] = self._new_id()
        return {"name": name, "id": self._profiles[name]}

    @staticmethod
    def _status(status: str) -> str:
        if status not in users.STATUSES:
            raise ValueError(f"status must be one of {users.STATUSES}, not {status!r}")
        return status

    def _owner(self, owner: str | Mapping | None) -> dict[str, str]:
        if owner is None:
            return dict(self.default_owner)
        if isinstance(owner, Mapping):
            return self.add_user(owner["email"], owner.get("name"))
        return self.add_user(owner)

    def _account(self, company: str | None) -> dict[str, str] | None:
        if not company:
            return None
        with self._lock:
            if company not in self._accounts:
                self._accounts[company] = self._new_id()
            return {"name": company, "id": self._accounts[company]}

    def _account_by_id(self, account_id: str) -> dict[str, str] | None:
        name = next((name for name, known in self._accounts.items() if known == account_id), None)
        return {"name": name, "id": account_id} if name is not None else None

    def add_record(self, module: str, fields: Mapping[str, Any], *, owner: str | Mapping | None = None) -> str:
        """A record with Zoho's field API names (``{"Email": …, "Last_Name": …}``); returns its id."""
        self._check_module(module)
        with self._lock:
            now = self.now()
            record = _Record(self._new_id(), module, dict(fields), now, now)
            record.fields.setdefault("Owner", self._owner(owner))
            self._records[module][record.id] = record
            self._versions[module] += 1
            return record.id

    def add_contact(self, email: str | None, *, first_name: str | None = None, last_name: str | None = None,
                    company: str | None = None, phone: str | None = None, secondary_email: str | None = None,
                    owner: str | Mapping | None = None, **fields: Any) -> str:
        return self.add_record("Contacts", {
            "Email": email, "Secondary_Email": secondary_email, "First_Name": first_name,
            "Last_Name": last_name or (email or "Unknown").split("@")[0], "Account_Name": self._account(company),
            "Phone": phone, **fields,
        }, owner=owner)

    def add_deal(self, name: str, *, stage: str = "Qualification", contact_id: str | None = None,
                 closing_date: str | None = None, amount: float | None = None, owner: str | Mapping | None = None,
                 **fields: Any) -> str:
        contact = None
        if contact_id is not None:
            found = self._get("Contacts", contact_id)
            contact = {"name": " ".join(p for p in (found.fields.get("First_Name"), found.fields.get("Last_Name")) if p),
                       "id": contact_id}
        return self.add_record("Deals", {"Deal_Name": name, "Stage": stage, "Closing_Date": closing_date,
                                         "Amount": amount, "Contact_Name": contact, **fields}, owner=owner)

    def add_lead(self, email: str | None, *, first_name: str | None = None, last_name: str | None = None,
                 company: str | None = None, phone: str | None = None, secondary_email: str | None = None,
                 lead_status: str | None = "Not Contacted", owner: str | Mapping | None = None, **fields: Any) -> str:
        """A lead (Zoho's fields: `Company` is plain text on a lead); returns its id."""
        return self.add_record("Leads", {
            "Email": email, "Secondary_Email": secondary_email, "First_Name": first_name,
            "Last_Name": last_name or (email or "Unknown").split("@")[0], "Company": company, "Phone": phone,
            "Lead_Status": lead_status, **fields,
        }, owner=owner)

    def convert_lead(self, lead_id: str, *, contact_id: str | None = None, account_id: str | None = None,
                     deal: Mapping[str, Any] | None = None, assign_to: str | None = None,
                     overwrite: bool = False, by: str | None = None) -> dict[str, Any]:
        """Convert a lead as a user does in Zoho (or as `POST /Leads/{id}/actions/convert`): a new Contact
        from it (or `contact_id`), its company's account, a Deal when `deal` (`Deal_Name`, `Closing_Date`,
        `Stage`…) is given. Returns the answer's `details`: `{"Contacts": {name, id}, "Deals", "Accounts"}`.
        The lead is kept, marked converted, and hidden from `GET /Leads` unless `converted=true|both`."""
        with self._lock:
            lead = self._get("Leads", lead_id)
            return leads.convert(self, lead, contact_id=contact_id, account_id=account_id, deal=deal,
                                 assign_to=assign_to, overwrite=overwrite,
                                 convert_user=self._owner(by) if by is not None else None)

    def edit_record(self, module: str, record_id: str, **fields: Any) -> None:
        """Change fields (Zoho API names; `owner=`/`company=` accepted too) and bump Modified_Time."""
        with self._lock:
            record = self._get(module, record_id)
            if "owner" in fields:
                record.fields["Owner"] = self._owner(fields.pop("owner"))
            if "company" in fields:
                record.fields["Account_Name"] = self._account(fields.pop("company"))
            if "contact_id" in fields:
                contact_id = fields.pop("contact_id")
                record.fields["Contact_Name"] = None if contact_id is None else {
                    "name": self._get("Contacts", contact_id).fields.get("Last_Name"), "id": contact_id}
            record.fields.update(fields)
            record.modified = self.now()
            self._versions[module] += 1

    def delete_record(self, module: str, record_id: str, *, permanent: bool = False,
                      by: str | None = None) -> None:
        """Delete a record (to the recycle bin, or permanently); it appears in `/{module}/deleted`."""
        with self._lock:
            record = self._get(module, record_id)
            del self._records[module][record_id]
            self._versions[module] += 1
            deleter = self._owner(by)
            name = record.fields.get("Deal_Name") or " ".join(
                part for part in (record.fields.get("First_Name"), record.fields.get("Last_Name")) if part)
            self._deleted[module].append(_Deleted(
                record.id, module, None if permanent else name, "permanent" if permanent else "recycle", self.now(),
                None if permanent else {"name": deleter["name"], "id": deleter["id"]},
                None if permanent else {"name": deleter["name"], "id": deleter["id"]},
            ))

    def record(self, module: str, record_id: str) -> dict[str, Any]:
        """A record as `GET /{module}/{id}` gives it, every field (a lead's `$converted_detail` too)."""
        with self._lock:
            return self._render(self._get(module, record_id), None, single=True)

    def records(self, module: str) -> list[dict[str, Any]]:
        with self._lock:
            return [self._render(record, None) for record in self._records[self._check_module(module)].values()]

    def _get(self, module: str, record_id: str) -> _Record:
        record = self._records[self._check_module(module)].get(str(record_id))
        if record is None:
            raise KeyError(f"no {module} record {record_id!r}")
        return record

    @staticmethod
    def _check_module(module: str) -> str:
        if module not in MODULES:
            raise KeyError(f"unknown module {module!r}; the emulator serves {', '.join(MODULES)}")
        return module

    def seed_from(self, seed: Mapping | str | Path) -> None:
        """`{"clients": [{"client_id", "client_secret"}],
        "users": [{"email", "name", "role", "profile", "reporting_to", "status"}],
        "contacts": [{"email", "first_name", "last_name", "company", "phone", "secondary_email", "owner"}],
        "deals": [{"name", "stage", "contact_email", "closing_date", "amount", "owner"}],
        "leads": [{"email", "first_name", "last_name", "company", "phone", "lead_status", "owner"}]}`
        (a user's `reporting_to` is the manager's email; managers may come later in the list)."""
        if isinstance(seed, Path) or (isinstance(seed, str) and not seed.lstrip().startswith("{")):
            seed = json.loads(Path(seed).read_text(encoding="utf-8"))
        elif isinstance(seed, str):
            seed = json.loads(seed)
        for client in seed.get("clients", []):
            self.register_client(client["client_id"], client["client_secret"])
        for user in seed.get("users", []):
            self.add_user(user["email"], user.get("name"), role=user.get("role"), profile=user.get("profile"),
                          status=user.get("status", "active"))
        for user in seed.get("users", []):
            if user.get("reporting_to"):
                self.edit_user(user["email"], reporting_to=user["reporting_to"])
        ids: dict[str, str] = {}
        for contact in seed.get("contacts", []):
            contact = dict(contact)
            ids[(contact.get("email") or "").lower()] = self.add_contact(contact.pop("email", None), **contact)
        for deal in seed.get("deals", []):
            deal = dict(deal)
            contact_email = (deal.pop("contact_email", None) or "").lower()
            self.add_deal(deal.pop("name"), contact_id=ids.get(contact_email), **deal)
        for lead in seed.get("leads", []):
            lead = dict(lead)
            self.add_lead(lead.pop("email", None), **lead)

    # -- faults and calls -----------------------------------------------------

    def inject(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def reset_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    def calls_to(self, endpoint: str, module: str | None = None) -> list[Call]:
        return [call for call in self.calls if call.endpoint == endpoint and (module is None or call.module == module)]

    def served_ids(self, module: str, endpoint: str = "records") -> list[str]:
        """Ids of the records the emulator answered with, in order, over every successful call."""
        return [record_id for call in self.calls_to(endpoint, module) for record_id in call.record_ids]

    # -- HTTP -------------------------------------------------------------------

    def _handle_http(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> _Response:
        parts = urlsplit(raw_path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        path = parts.path
        endpoint, module = "other", None
        segments = [segment for segment in path.split("/") if segment]
        if path == "/oauth/v2/token":
            endpoint = "token"
        elif len(segments) >= 3 and segments[0] == "crm" and segments[1] == API_VERSION:
            module = segments[2]
            rest = segments[3:]
            if module == "users":
                endpoint = "users"
            elif rest == ["deleted"]:
                endpoint = "deleted"
            elif len(rest) == 3 and rest[1:] == ["actions", "convert"]:
                endpoint = "convert"
            elif len(rest) == 1:
                endpoint = "record"
            else:
                endpoint = "records"
        call = {"method": method, "path": path, "query": query, "headers": headers, "endpoint": endpoint,
                "module": module}
        since_header = headers.get("if-modified-since")

        def record(status: int | str, fault: str | None = None, ids: Iterable[str] = ()) -> None:
            with self._lock:
                self._calls.append(Call(method, path, endpoint, module, query, since_header, status, fault,
                                        tuple(ids), self.now()))

        with self._lock:
            fault = next((f for f in self._faults if f.fires(call)), None)
        latency = fault.latency_ms / 1000 if fault is not None else 0.0
        if fault is not None and fault.status == "answer":
            record(200, "injected answer")
            answer = fault.answer(call)
            if isinstance(answer, (bytes, bytearray)):
                response = _Response(200, {"Content-Type": JSON_TYPE}, bytes(answer))
            else:
                response = _json(200, answer)
            response.latency, response.unsized, response.streamed = latency, fault.unsized, True
            return response
        if fault is not None and fault.status is not None:
            record(fault.status, f"injected {fault.status}")
            if fault.status == "drop":
                return _Response(drop=True, latency=latency)
            response = _error(self._fault_error(fault))
            response.latency = latency
            return response
        try:
            if endpoint == "token":
                response, ids = self._token(method, query, headers, body), ()
            elif endpoint == "users":
                scope = self._authenticate(headers)
                if method != "GET" or len(segments) > 4:
                    raise errors.invalid_url()
                users.check_scope(scope)
                if len(segments) == 4:
                    response, ids = self._get_user(segments[3])
                else:
                    response, ids = self._list_users(query, since_header)
            elif endpoint in ("records", "record", "deleted", "convert"):
                self._authenticate(headers)
                if module not in MODULES:
                    raise errors.invalid_module()
                if endpoint == "convert":
                    if method != "POST" or module != "Leads":
                        raise errors.invalid_url()
                    response, ids = self._convert(segments[3], body)
                elif method != "GET":
                    raise errors.invalid_url()
                elif endpoint == "records" and len(segments) == 3:
                    response, ids = self._list_records(module, query, since_header)
                elif endpoint == "record":
                    response, ids = self._get_record(module, segments[3], query)
                elif endpoint == "deleted":
                    response, ids = self._list_deleted(module, query, since_header)
                else:
                    raise errors.invalid_url()
            else:
                raise errors.invalid_url()
        except ZohoError as error:
            record(error.status)
            response = _error(error)
            response.latency = latency
            return response
        record(response.status, None, ids)
        response.latency = latency
        return response

    def _fault_error(self, fault: Fault) -> ZohoError:
        if fault.status == 429:
            reset = self.now() + timedelta(seconds=fault.retry_after)
            return errors.too_many_requests(fault.retry_after, self.rate_limit, int(reset.timestamp() * 1000))
        if fault.status == 401:
            return errors.invalid_token()
        return ZohoError(int(fault.status), "INTERNAL_ERROR", "Internal Server Error")

    def _authenticate(self, headers: dict[str, str]) -> str:
        """Check the access token; returns the scope its grant carried."""
        value = headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        if not value:
            raise errors.authentication_failure()
        if scheme != "Zoho-oauthtoken":
            raise errors.invalid_token()
        with self._lock:
            expires = self._access_tokens.get(token.strip())
            scope = self._token_scopes.get(token.strip(), "")
        if expires is None or expires <= self.now():
            raise errors.invalid_token()
        return scope

    def _token(self, method: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> _Response:
        if method != "POST":
            raise errors.invalid_url()
        params = dict(query)
        if body and "application/x-www-form-urlencoded" in headers.get("content-type", "application/x-www-form-urlencoded"):
            params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        if params.get("grant_type") != "refresh_token":
            return _json(200, {"error": "unsupported_grant_type"})
        client_id = params.get("client_id", "")
        with self._lock:
            if client_id not in self._clients or self._clients[client_id] != params.get("client_secret"):
                return _json(200, {"error": "invalid_client"})
            grant = self._refresh_tokens.get(params.get("refresh_token", ""))
            if grant is None or grant[0] != client_id:
                return _json(200, {"error": "invalid_code"})
        return _json(200, {"access_token": self.issue_access_token(grant[1]), "scope": grant[1], "api_domain": self.url,
                           "token_type": "Bearer", "expires_in": self.access_token_lifetime})

    def _per_page(self, query: dict[str, str]) -> int:
        try:
            per_page = int(query.get("per_page", MAX_PER_PAGE))
        except ValueError:
            raise errors.invalid_data("per_page") from None
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise errors.invalid_data("per_page", f"per_page must be between 1 and {MAX_PER_PAGE}")
        return per_page

    def _page(self, query: dict[str, str]) -> int:
        try:
            page = int(query.get("page", 1))
        except ValueError:
            raise errors.invalid_data("page") from None
        if page < 1:
            raise errors.invalid_data("page")
        return page

    @staticmethod
    def _since(value: str | None) -> datetime | None:
        if value is None:
            return None
        try:
            return _parse_time(value).replace(microsecond=0)
        except ValueError:
            raise errors.invalid_data("If-Modified-Since", "the If-Modified-Since header is not an ISO 8601 "
                                                           "date-time") from None

    def _render(self, record: _Record, wanted: list[str] | None, *, single: bool = False) -> dict[str, Any]:
        full = {"id": record.id, **record.fields, "Created_Time": self.format_time(record.created),
                "Modified_Time": self.format_time(record.modified)}
        system: dict[str, Any] = {}
        if record.module == "Leads":
            # Zoho adds these system keys to a lead; `$converted_detail` only to the single-record read.
            system["$converted"] = record.converted is not None
            if single:
                system["$converted_detail"] = leads.converted_detail(self, record)
        if wanted is None:
            return {**full, **system}
        return {"id": record.id, **{name: full.get(name) for name in wanted if name != "id" and name[:1] != "$"},
                **system}

    def _list_records(self, module: str, query: dict[str, str], since_header: str | None):
        if not query.get("fields"):
            raise errors.required_param_missing("fields")
        wanted = [name.strip() for name in query["fields"].split(",") if name.strip()]
        per_page = self._per_page(query)
        token_text = query.get("page_token")
        if token_text is not None and "page" in query:
            raise errors.ambiguity("page", "page_token")
        now = self.now()
        with self._lock:
            if token_text is not None:
                token = self._page_tokens.get(token_text)
                if token is None or token.expires_at <= now or token.module != module:
                    raise errors.invalid_data("page_token", "the page token is invalid or has expired")
                since, sort_by, descending = token.since, token.sort_by, token.descending
                converted = token.converted
            else:
                converted = leads.converted_filter(query, module)
                since = self._since(since_header)
                sort_by = query.get("sort_by", "id")
                if sort_by not in SORT_FIELDS:
                    error = errors.invalid_data("sort_by")
                    error.details["supported_values"] = list(SORT_FIELDS)
                    raise error
                order = query.get("sort_order", "desc")
                if order not in ("asc", "desc"):
                    raise errors.invalid_data("sort_order")
                descending = order == "desc"

            ordered, keys = self._listing(module, since, sort_by, converted)  # ascending
            page = 1
            if token_text is not None:
                # The keyset: what follows the token's last record in the listing's order.
                if descending:
                    end = bisect.bisect_left(keys, token.after)
                    start = max(0, end - per_page)
                    more = start > 0
                else:
                    start = bisect.bisect_right(keys, token.after)
                    end = min(len(ordered), start + per_page)
                    more = end < len(ordered)
            else:
                page = self._page(query)
                if page * per_page > DISCRETE_LIMIT:
                    raise errors.discrete_pagination_limit(DISCRETE_LIMIT)
                skipped = (page - 1) * per_page
                if descending:
                    end = max(0, len(ordered) - skipped)
                    start = max(0, end - per_page)
                else:
                    start = min(len(ordered), skipped)
                    end = min(len(ordered), start + per_page)
                more = len(ordered) > page * per_page
            chunk = ordered[start:end]
            last_key = (keys[start] if descending else keys[end - 1]) if chunk else None
            if descending:
                chunk.reverse()
            if not chunk:
                # Nothing newer than If-Modified-Since is "not modified"; an empty listing is "no content".
                return _json(304 if since_header is not None and token_text is None else 204, None), ()
            next_token = expiry = None
            if more:
                next_token = secrets.token_hex(24)
                expires_at = now + PAGE_TOKEN_LIFETIME
                self._page_tokens[next_token] = _PageToken(module, since, sort_by, descending, last_key,
                                                           per_page, expires_at, converted)
                expiry = self.format_time(expires_at)
            data = [self._render(record, wanted) for record in chunk]
        info = {"call": False, "per_page": per_page, "next_page_token": next_token, "count": len(data),
                "sort_by": sort_by, "page": page, "page_token": token_text, "page_token_expiry": expiry,
                "sort_order": "desc" if descending else "asc", "email": False, "more_records": more,
                "previous_page_token": None}
        return _json(200, {"data": data, "info": info}), [item["id"] for item in data]

    def _listing(self, module: str, since: datetime | None, sort_by: str,
                 converted: str = "both") -> tuple[list[_Record], list[tuple]]:
        """The records modified after `since` (leads: converted or not, as `converted` says), in ascending
        (`sort_by`, id) order, with their sort keys. Called under the lock."""
        cache_key = (module, since, sort_by, converted)
        cached = self._listings.get(cache_key)
        if cached is not None and cached[0] == self._versions[module]:
            return cached[1], cached[2]

        def key(record: _Record) -> tuple:
            value = {"id": int(record.id), "Created_Time": record.created, "Modified_Time": record.modified}[sort_by]
            return value, int(record.id)

        ordered = sorted((record for record in self._records[module].values()
                          if (since is None or record.modified > since) and leads.shown(record, converted)),
                         key=key)
        keys = [key(record) for record in ordered]
        if len(self._listings) >= 8:  # a few listings in flight at most; forget the oldest
            self._listings.pop(next(iter(self._listings)))
        self._listings[cache_key] = (self._versions[module], ordered, keys)
        return ordered, keys

    def _list_deleted(self, module: str, query: dict[str, str], since_header: str | None):
        kind = query.get("type", "all")
        if kind not in ("all", "recycle", "permanent"):
            raise errors.invalid_data("type")
        per_page = self._per_page(query)
        page = self._page(query)
        since = self._since(since_header)
        with self._lock:
            matching = [item for item in self._deleted[module]
                        if (kind == "all" or item.type == kind) and (since is None or item.deleted_time > since)]
            matching.sort(key=lambda item: (item.deleted_time, int(item.id)), reverse=True)
            chunk = matching[(page - 1) * per_page: page * per_page]
            if not chunk:
                return _json(304 if since_header is not None else 204, None), ()
            data = [{"deleted_by": item.deleted_by, "id": item.id, "display_name": item.display_name,
                     "type": item.type, "created_by": item.created_by,
                     "deleted_time": self.format_time(item.deleted_time)} for item in chunk]
        info = {"per_page": per_page, "count": len(data), "page": page,
                "more_records": len(matching) > page * per_page}
        return _json(200, {"data": data, "info": info}), [item["id"] for item in data]

    def _get_record(self, module: str, record_id: str, query: dict[str, str]):
        """`GET /{module}/{id}`: the whole record in `data`; 204 when there is none (or a converted lead read
        without `converted=true`, as Zoho answers)."""
        with self._lock:
            record = self._records[module].get(record_id)
            if record is None or (record.converted is not None and query.get("converted", "").lower()
                                  not in ("true", "both")):
                return _json(204, None), ()
            wanted = [name.strip() for name in query["fields"].split(",") if name.strip()] \
                if query.get("fields") else None
            data = self._render(record, wanted, single=True)
        return _json(200, {"data": [data]}), [record_id]

    def _convert(self, lead_id: str, body: bytes):
        try:
            options = leads.parse_convert_body(json.loads(body.decode("utf-8")) if body else None)
        except (ValueError, UnicodeDecodeError):
            raise errors.invalid_body() from None
        with self._lock:
            lead = self._records["Leads"].get(lead_id)
            if lead is None:
                raise errors.invalid_id(lead_id)
            details = leads.convert(self, lead, **options)
        answer = {"code": "SUCCESS", "details": details, "message": "Successfully converted", "status": "success"}
        return _json(200, {"data": [answer]}), [lead_id]

    def _get_user(self, user_id: str):
        with self._lock:
            found = next((u for u in self._users.values() if u.id == user_id), None)
            if found is None:
                raise errors.invalid_id(user_id)
            return _json(200, {"users": [self._user_object(found)]}), [user_id]

    def _list_users(self, query: dict[str, str], since_header: str | None):
        kind = users.user_type(query)
        per_page = self._per_page(query)
        page = self._page(query)
        since = self._since(since_header)
        with self._lock:
            if kind == "CurrentUser":  # the token's user: the emulator's tokens all act as the first user
                matching = [next(iter(self._users.values()))]
            else:
                matching = [u for u in self._users.values() if users.selects(u, kind)]
            matching = sorted((u for u in matching if since is None or u.modified > since), key=lambda u: int(u.id))
            chunk = matching[(page - 1) * per_page: page * per_page]
            if not chunk:
                return _json(304 if since_header is not None else 204, None), ()
            data = [self._user_object(found) for found in chunk]
        info = {"per_page": per_page, "count": len(data), "page": page,
                "more_records": len(matching) > page * per_page}
        return _json(200, {"users": data, "info": info}), [item["id"] for item in data]
