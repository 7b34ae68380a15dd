"""Charts for summaries (matplotlib, Agg backend): readable at Discord's preview size,
colour-blind-safe (Okabe–Ito palette), labelled axes, the question in the title."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from bot.reports.render import period_label
from bot.reports.summary import QuestionSummary

# Okabe & Ito (2008): distinguishable with the common forms of colour blindness.
PALETTE = ["#0072B2", "#D55E00", "#999999", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442"]
NEUTRAL_COLOUR = "#999999"


def label_colours(labels: Sequence[str]) -> dict[str, str]:
    colours, i = {}, 0
    for label in labels:
        if label == "neutral":
            colours[label] = NEUTRAL_COLOUR
            continue
        while PALETTE[i % len(PALETTE)] == NEUTRAL_COLOUR:
            i += 1
        colours[label] = PALETTE[i % len(PALETTE)]
        i += 1
    return colours


def _figure(width: float, height: float) -> Figure:
    # The object API (no pyplot state): safe to render in a worker thread, and the
    # constrained layout fits the margins in the single drawing pass that savefig makes.
    return Figure(figsize=(width, height), layout="constrained")


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def share_chart(s: QuestionSummary) -> bytes:
    """Horizontal bars: each stance's share of members, with its 95% interval."""
    return _png(share_figure(s))


def share_figure(s: QuestionSummary) -> Figure:
    """The share chart. With too few replies it draws no bars (a share of two members says
    nothing) and says so in the plot."""
    labels = [sh.label for sh in s.shares]
    colours = label_colours(labels)
    fig = _figure(8, 0.8 * len(labels) + 1.8)
    ax = fig.subplots()
    y = list(range(len(labels)))[::-1]
    too_few = s.verdict == "too few replies"
    for yi, sh in zip(y, s.shares, strict=True):
        if too_few:
            continue
        ax.barh(yi, 100 * sh.share, color=colours[sh.label], height=0.6)
        if s.decided:
            ax.errorbar(
                100 * sh.share,
                yi,
                xerr=[[100 * max(sh.share - sh.low, 0.0)], [100 * max(sh.high - sh.share, 0.0)]],
                fmt="none",
                ecolor="black",
                capsize=5,
                linewidth=1.5,
            )
        ax.text(
            min(100 * sh.high + 1.5, 92),
            yi,
            f"{100 * sh.share:.0f}% ({sh.people})",
            va="center",
            fontsize=12,
        )
    if too_few:
        ax.text(
            50,
            (len(labels) - 1) / 2,
            f"Too few replies to show shares\n({_members(s.decided)} with a clear stance so far)",
            ha="center",
            va="center",
            fontsize=13,
        )
    ax.set_yticks(y, [f"{sh.label}" for sh in s.shares], fontsize=13)
    ax.set_ylim(-0.6, len(labels) - 0.4)
    ax.set_xlim(0, 100)
    ax.set_xlabel(
        "share of members with a clear stance (%) — black lines: 95% interval; (n): members",
        fontsize=11,
    )
    title = "\n".join(textwrap.wrap(s.question, 70))
    ax.set_title(
        f"{title}\n{s.verdict} · {_members(s.decided)} · {period_label(s)}",
        fontsize=12,
        loc="left",
    )
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="x", alpha=0.3)
    return fig


def _members(n: int) -> str:
    return f"{n} member" if n == 1 else f"{n} members"


def trend_chart(weekly: Sequence[QuestionSummary]) -> bytes:
    """Lines: each stance's weekly share of members, with shaded 95% intervals."""
    return _png(trend_figure(weekly))


def trend_figure(weekly: Sequence[QuestionSummary]) -> Figure:
    """The trend chart: the legend names the shaded bands, and each week says how many
    members it rests on."""
    if not weekly:
        raise ValueError("no weeks to chart")
    labels = [sh.label for sh in weekly[0].shares]
    colours = label_colours(labels)
    fig = _figure(8, 4.5)
    ax = fig.subplots()
    xs = [f"{w.start:%d %b}\n{_members(w.decided)}" for w in weekly]
    for i, label in enumerate(labels):
        share = [100 * w.shares[i].share for w in weekly]
        lo = [100 * w.shares[i].low for w in weekly]
        hi = [100 * w.shares[i].high for w in weekly]
        ax.plot(xs, share, marker="o", color=colours[label], label=label, linewidth=2.5)
        ax.fill_between(xs, lo, hi, color=colours[label], alpha=0.12)
    ax.set_ylim(0, 100)
    ax.set_ylabel("share of members (%)", fontsize=11)
    ax.set_xlabel("week starting (members with a clear stance)", fontsize=11)
    title = "\n".join(textwrap.wrap(weekly[0].question, 70))
    ax.set_title(f"{title}\nweekly trend", fontsize=12, loc="left")
    handles, names = ax.get_legend_handles_labels()
    band = Patch(facecolor="#000000", alpha=0.12, label="shaded: 95% interval")
    ax.legend([*handles, band], [*names, band.get_label()], fontsize=11, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", alpha=0.3)
    return fig
