"""A contact deleted through the ingest API or the Zoho sync, seen from Gmail: its filed mail keeps its
label (SPEC §4: never back to the Inbox), the label job does not stumble on it, new mail from the
address is no longer filed."""
from __future__ import annotations

from crm_store.records import ingest_records
from tests.support.gmail import gmail_env  # noqa: F401  (fixture)
from tests.support.labels import NAMES, labels_env, mail, names  # noqa: F401  (fixture)


def test_a_deleted_contacts_filed_mail_keeps_its_label(labels_env):  # noqa: F811
    env = labels_env
    filed = mail(env, "closing@x.example")
    env.label_run()
    assert NAMES["closing"] in names(env, filed) and "INBOX" not in names(env, filed)

    result = ingest_records(env.engine, "contacts", [{"external_id": "C1", "deleted": True}], source="api")
    assert (result.deleted, result.deleted_deals) == (1, 2)
    later = mail(env, "closing@x.example")
    run = env.label_run()

    assert NAMES["closing"] in names(env, filed) and "INBOX" not in names(env, filed)
    assert "INBOX" in names(env, later) and not names(env, later) & set(NAMES.values())
    assert run.refiled == 0 and run.filed == {}
