"""Turns settings into the domain's building blocks; the one place that knows both."""
from __future__ import annotations

from functools import lru_cache

from sqlalchemy.engine import Engine

from bot.settings import Settings
from crm_store.categories import LabelNames, StageRules
from crm_store.db import create_db_engine, is_sqlite, upgrade_database


@lru_cache(maxsize=8)
def _engine_for(url: str, pool_size: int) -> Engine:
    upgrade_database(url)
    return create_db_engine(url) if is_sqlite(url) else create_db_engine(url, pool_size=pool_size)


def open_store(settings: Settings) -> Engine:
    """The configured database, migrated to the newest schema (idempotent; once per process)."""
    return _engine_for(settings.database_url, settings.db_pool_size)


def category_config(settings: Settings) -> tuple[StageRules, LabelNames]:
    rules = StageRules.from_names(settings.won_stage_list, settings.lost_stage_list)
    labels = LabelNames(
        closing_this_month=settings.label_closing_this_month,
        open_deals=settings.label_open_deals,
        customers=settings.label_customers,
    )
    return rules, labels
