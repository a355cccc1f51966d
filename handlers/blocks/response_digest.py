"""The weekly response-time digest (SPEC §3): a few lines of text and a chart, because a manager would rather
look than read. The chart is drawn with matplotlib's Agg backend (no display, thread-safe through its
object-oriented API: one Figure per call, never pyplot's global state)."""
from __future__ import annotations

import io
from datetime import timedelta

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from handlers.blocks.wording import escape
from usecases.response_digest import ResponseDigest

CHART_WIDTH_PX = 800
CHART_DPI = 100
MAX_REPS = 40  # a chart taller than this is not read; the text says how many more


def chart_height_px(reps: int) -> int:
    return 160 + 50 * max(1, min(reps, MAX_REPS))


def _percent(part: int, whole: int) -> int:
    return round(100 * part / whole) if whole else 0


def _duration(value: timedelta | None) -> str:
    if value is None:
        return "—"
    hours = value.total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def digest_text(digest: ResponseDigest) -> str:
    """The message with the chart: a line per rep, with the numbers the chart draws."""
    who = "everyone in the workspace" if digest.as_admin else "your team"
    lines = [f"*Customer response times, {digest.since:%b %d} – {digest.until:%b %d}* ({who})"]
    for rep in digest.reps:
        t = rep.times
        if not t.threads:
            lines.append(f"• *{escape(rep.name)}*: no customer email waiting for a reply this week")
            continue
        lines.append(
            f"• *{escape(rep.name)}*: {t.threads} customer thread{'s' if t.threads != 1 else ''} · "
            f"{t.within_4h} answered within 4 h ({_percent(t.within_4h, t.threads)}%) · "
            f"{t.within_24h} within 24 h ({_percent(t.within_24h, t.threads)}%) · "
            f"median first response {_duration(t.median_first_response)}"
            + (f" · {t.unanswered} unanswered" if t.unanswered else ""))
    return "\n".join(lines)


def digest_chart_png(digest: ResponseDigest) -> bytes:
    """Per rep, the share of customer threads answered within 4 h and within 24 h (PNG)."""
    reps = digest.reps[:MAX_REPS]
    height = chart_height_px(len(reps))
    figure = Figure(figsize=(CHART_WIDTH_PX / CHART_DPI, height / CHART_DPI), dpi=CHART_DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    names = [rep.name[:40] for rep in reps] or ["(no reps)"]
    positions = list(range(len(names)))
    within_24 = [_percent(rep.times.within_24h, rep.times.threads) for rep in reps] or [0]
    within_4 = [_percent(rep.times.within_4h, rep.times.threads) for rep in reps] or [0]
    axes.barh(positions, within_24, height=0.7, color="#9cc3e6", label="answered within 24 h")
    axes.barh(positions, within_4, height=0.7, color="#1f3b57", label="answered within 4 h")
    for position, rep in zip(positions, reps):
        axes.text(101, position, f"median {_duration(rep.times.median_first_response)} · {rep.times.threads} threads",
                  va="center", fontsize=8)
    axes.set_yticks(positions, labels=names)
    axes.invert_yaxis()
    axes.set_xlim(0, 140)
    axes.set_xticks([0, 25, 50, 75, 100])
    axes.set_xlabel("% of customer threads")
    axes.set_title(f"Customer response times, {digest.since:%b %d} – {digest.until:%b %d}")
    figure.legend(loc="lower center", ncols=2, fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 40 / height, 1, 1))  # room for the legend under the axis
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=CHART_DPI)
    return buffer.getvalue()
