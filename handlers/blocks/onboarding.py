"""What a bulk grant says: who got Mail Integration, who had it, who was skipped and why."""
from __future__ import annotations

from handlers.blocks.commands import Reply, message
from handlers.blocks.wording import escape
from usecases.values import GrantReport, SkipReason

SKIP_WORDS = {
    SkipReason.APP: "an app, not a person",
    SkipReason.NO_CONFIRMED_EMAIL: "Slack shows no confirmed email for them, so nothing proves which CRM user they "
                                   "are (a CRM admin can `/gmail admin link` them)",
    SkipReason.NO_CRM_USER: "no CRM user has their Slack email (CRM users come from the CRM data; a Slack admin "
                            "does not create them)",
    SkipReason.AMBIGUOUS: "several CRM users have their email as secondary email (a CRM admin can "
                          "`/gmail admin link` them)",
    SkipReason.LINKED_TO_SOMEONE_ELSE: "the CRM user with their email is linked to another Slack user",
    SkipReason.NOT_YOURS: "their CRM user is a CRM admin or belongs to another workspace: only a CRM admin can "
                          "change them",
    SkipReason.UNKNOWN_EMAIL: "no CRM user has this email",
    SkipReason.INVALID_EMAIL: "not an email address",
}
MAX_NAMED = 40


def _names(pairs: list[tuple[str | None, str]]) -> str:
    shown = [f"<@{slack}>" if slack else escape(email) for slack, email in pairs[:MAX_NAMED]]
    more = len(pairs) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def grant_report(report: GrantReport, source: str) -> Reply:
    """`source`: the group or channel as a mention (`<!subteam^S1>`, `<#C1>`), already safe to show."""
    lines = [f"*{source}*: {report.members} member{'s' if report.members != 1 else ''}."]
    if report.granted:
        lines.append(f":white_check_mark: Mail Integration granted to {len(report.granted)}: "
                     f"{_names(report.granted)}. Each was sent a DM with a Connect button.")
    if report.already:
        lines.append(f"Already granted ({len(report.already)}): {_names(report.already)}.")
    if report.skipped:
        lines.append(f":warning: Skipped ({len(report.skipped)}):")
        for skipped in report.skipped[:MAX_NAMED]:
            who = f"<@{skipped.who}>" if skipped.line is None else f"line {skipped.line} ({escape(skipped.who)})"
            lines.append(f"• {who}: {SKIP_WORDS[skipped.reason]}")
        if len(report.skipped) > MAX_NAMED:
            lines.append(f"…and {len(report.skipped) - MAX_NAMED} more.")
    if not (report.granted or report.already or report.skipped):
        lines.append("Nobody to grant.")
    return message("\n".join(lines))


def grant_report_lines(report: GrantReport) -> list[str]:
    """The CLI's plain lines for `mailmagnet users grant --csv`."""
    lines = [f"granted: {email}" + (" (invited to connect in Slack)" if slack in report.invited else "")
             for slack, email in report.granted]
    lines += [f"already granted: {email}" for _, email in report.already]
    lines += [f"skipped line {s.line} ({s.who}): {SKIP_WORDS[s.reason]}" for s in report.skipped]
    lines.append(f"{len(report.granted)} granted, {len(report.already)} already, {len(report.skipped)} skipped")
    return lines
