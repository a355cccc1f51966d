"""The sample CRM data (testsupport/demo_data), its deals moved to the month the demo runs in."""
from __future__ import annotations

import calendar
import csv
from datetime import date
from importlib import resources
from pathlib import Path

# The sample deals were written for this month; the demo moves every closing
# date by the same number of months so the categories read the same whenever
# it runs.
SAMPLE_MONTH = date(2026, 11, 1)


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def shifted_deals_csv(source: Path, target: Path, today: date) -> None:
    months = (today.year - SAMPLE_MONTH.year) * 12 + today.month - SAMPLE_MONTH.month
    with source.open(newline="", encoding="utf-8") as src, target.open("w", newline="", encoding="utf-8") as dst:
        reader = csv.DictReader(src)
        writer = csv.DictWriter(dst, fieldnames=reader.fieldnames)
        writer.writeheader()
        for row in reader:
            if row.get("closing_date"):
                row["closing_date"] = add_months(date.fromisoformat(row["closing_date"]), months).isoformat()
            writer.writerow(row)


def demo_data_dir() -> Path:
    return Path(str(resources.files("testsupport") / "demo_data"))
