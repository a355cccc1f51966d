"""`make demo` (`python -m testsupport.demo`): the product working on the sample CRM data in testsupport/demo_data,
against the emulators. Dev-only: the runtime wheel ships neither this nor the emulators.

One module per scene of the story, in the order it is told: the CRM's categories on the sample data
(`categories`), then the bot end to end (`story`, which starts the stack and tells the scenes): Alice connects
(`connect`), mail arrives and is alerted and filed (`mail`), a colleague's /contact under her sharing settings
(`sharing`), a reply sent from Slack (`reply`), Zoho CRM deals and leads (`zoho`), a follow-up nudge (`followup`),
the admins' overview (`admin`). `reading` turns what Slack shows into the lines a person reads."""
from __future__ import annotations

from bot.settings import Settings


def run_demo(settings: Settings) -> int:
    # Imported here: `main` checks the settings (one line naming a bad one) before the product is loaded.
    from testsupport.demo.categories import show_categories
    from testsupport.demo.story import run_bot_end_to_end

    show_categories(settings)
    run_bot_end_to_end(settings)
    return 0


def main() -> int:
    """Settings are checked first (one line naming a bad one, as every `mailmagnet` command does)."""
    from bot.cli import run_with_settings

    return run_with_settings(run_demo)
