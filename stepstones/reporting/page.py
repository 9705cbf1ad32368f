"""The run report page: a run's bank rendered as one HTML or Markdown page with tables and plots.

`report.json` is for machines; this page is what a person opens after a run to see whether the
bands filled, what each turn bought, why drafts were rejected, what the models cost, and what a
chain of stepping stones actually looks like (statements and pass rates along a lineage). HTML
embeds its images (base64) so the page can be mailed or attached alone; Markdown writes them
into a folder beside the page.
"""

from __future__ import annotations

import html
import json
import shutil
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from stepstones.reporting import analysis, plots, trees
from stepstones.tools.quotas import split_quota
from stepstones.tools.schema import Problem, TurnOutcome
from stepstones.tools.store import Bank

ReportFormat = Literal["html", "md"]
FORMATS: tuple[ReportFormat, ...] = ("html", "md")
PAGE = 1000
"""Problems read from the bank at a time."""
SNIPPET_CHARS = 220
"""Characters of a statement shown in an example chain: enough to see what changed."""


class ReportError(ValueError):
    """The report cannot be made (no bank, unknown run, no turns); one line for the user."""


Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class Pre:
    """Preformatted text (a lineage's tree), shown as it is."""

    text: str


@dataclass
class Section:
    """A titled part of the page: text, tables and images, rendered in the order added."""

    title: str
    blocks: list[str | Rows | Path | Pre] = field(default_factory=list)

    def pre(self, text: str) -> Section:
        """Add preformatted text."""
        self.blocks.append(Pre(text))
        return self

    def text(self, *paragraphs: str) -> Section:
        """Add paragraphs (`code` spans allowed)."""
        self.blocks.extend(paragraphs)
        return self

    def table(self, rows: Rows) -> Section:
        """Add a table (columns from the first row)."""
        self.blocks.append(rows)
        return self

    def image(self, path: Path) -> Section:
        """Add a PNG figure."""
        self.blocks.append(path)
        return self

    @property
    def images(self) -> list[Path]:
        """The section's figures."""
        return [b for b in self.blocks if isinstance(b, Path)]


class BankProblems(Mapping[str, Problem]):
    """A run's valid problems by id, each read from the bank when asked for: the page draws
    a few lineages of a run that can hold 100k problems."""

    def __init__(self, bank: Bank, run_id: str, ids: Sequence[str]) -> None:
        self._bank, self._run, self._ids = bank, run_id, list(ids)
        self._known = set(ids)

    def __getitem__(self, key: str) -> Problem:
        problem = self._bank.problem(self._run, key) if key in self._known else None
        if problem is None:
            raise KeyError(key)
        return problem

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The start of a statement on one line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def count_stones(n: int) -> str:
    """ "1 stone", "3 stones": the page is read by people."""
    return f"{n} stone" if n == 1 else f"{n} stones"


def stored_report(bank: Bank, run_id: str) -> dict[str, Any]:
    """The report the run stored in its bank, or {} while it is unfinished."""
    row = bank.get_run(run_id) or {}
    try:
        return dict(json.loads(row.get("report") or "{}"))
    except json.JSONDecodeError:
        return {}


def example_chains(
    bank: Bank, run_id: str, turns: list[TurnOutcome], count: int = 3
) -> list[tuple[str, Rows]]:
    """The `count` lineages with the most valid stones (then most bands visited), as rows."""
    by_lineage: dict[str, list[TurnOutcome]] = defaultdict(list)
    for t in turns:
        if t.valid and t.problem_id:
            by_lineage[t.lineage_id].append(t)

    def rank(item: tuple[str, list[TurnOutcome]]) -> tuple[int, int, str]:
        lineage, stones = item
        return (-len(stones), -len({s.band for s in stones}), lineage)

    out = []
    for lineage, stones in sorted(by_lineage.items(), key=rank)[:count]:
        rows = []
        for t in sorted(stones, key=lambda s: s.turn):
            problem: Problem | None = bank.problem(run_id, t.problem_id or "")
            per_student = ", ".join(
                f"{k} {v:.2f}" for k, v in sorted((problem.pass_rates if problem else {}).items())
            )
            rows.append(
                {
                    "turn": t.turn,
                    "direction": t.direction,
                    "band": t.band,
                    "pass rate": t.pass_rate,
                    "per student": per_student,
                    "family / level": f"{problem.family} / {problem.level}"
                    if problem and problem.family
                    else "",
                    "statement": snippet(problem.statement) if problem else "",
                }
            )
        out.append((lineage, rows))
    return out


def build_sections(bank: Bank, run_id: str, img_dir: Path) -> list[Section]:
    """Every section of the page, with its figures written into `img_dir`."""
    turns = analysis.ordered_turns(bank, run_id)
    if not turns:
        raise ReportError(f"run {run_id} has no turns yet: nothing to report")
    bands = analysis.run_bands(bank, run_id)
    names = [b.name for b in bands]
    report = stored_report(bank, run_id)
    run = bank.get_run(run_id) or {}
    config = json.loads(run.get("config") or "{}")
    counts = Counter(analysis.outcome(t) for t in turns)
    held, surplus = split_quota(turns, {b.name: b.quota for b in bands})
    over = Counter(t.band for t in surplus)
    ids = bank.problem_ids(run_id)
    rates = [
        r
        for k in range(0, len(ids), PAGE)
        for r in bank.problems_by_id(run_id, ids[k : k + PAGE], analysis.ProblemRates)
    ]
    problems = BankProblems(bank, run_id, ids)  # the trees read only the lineages they draw
    calls = sum(t.teacher_calls for t in turns)
    banded = sum(counts[n] for n in names)
    sections = [
        Section("Summary").text(
            f"Run `{run_id}`: status {run.get('status', '?')}, stopped: "
            f"{report.get('stop_reason') or 'not finished'}.",
            f"Teacher `{config.get('teacher', '?')}`, students "
            f"{', '.join(f'`{s}`' for s in config.get('students', []))}, "
            f"{config.get('samples', '?')} samples each, random seed {config.get('seed', '?')}, "
            f"{'multi-turn' if config.get('multi_turn', True) else 'single-turn (ablation)'}.",
            f"{len(turns)} turns in {len({t.lineage_id for t in turns})} lineages, "
            f"{sum(t.valid for t in turns)} valid problems, {banded} inside a band, "
            f"{calls} teacher calls: {banded / calls if calls else 0:.3f} banded problems "
            "per call.",
        )
    ]

    band_rows = [
        {
            "band": b.name,
            "pass rate": f"({b.lo:.2f}, {b.hi:.2f}]",
            "problems": held[b.name],
            "surplus": over[b.name],
            "quota": b.quota,
            "filled": "yes" if held[b.name] >= b.quota else "no",
        }
        for b in bands
    ]
    band_rows += [
        {
            "band": o,
            "pass rate": "",
            "problems": counts[o],
            "surplus": "",
            "quota": "",
            "filled": "",
        }
        for o in analysis.OUTSIDE
    ]
    sections.append(
        Section("Bands vs quota")
        .text(
            "Problems per band against its quota; surplus: problems that landed in a band "
            "already full (kept in the bank, not in the band's count, not exported by "
            "default). too_easy / too_hard problems (pass rate 1 or 0) steer the teacher "
            "instead of filling a band. Turns without a valid problem: discarded (every "
            "draft rejected; the drafts are under Rejections), exhausted (the teacher had no "
            "variant left: no draft, no call), unmeasured (a model failed)."
        )
        .table(band_rows)
        .image(analysis.plot_band_fill(turns, bands, img_dir / "band_fill.png"))
    )
    sections.append(
        Section("Pass rates per band")
        .text("How the problems of each band spread over its pass-rate interval.")
        .image(analysis.plot_pass_rates(rates, bands, img_dir / "pass_rates.png"))
    )
    students = analysis.student_rates(rates, names)
    who = Section("Pass rates per student").text(
        "Each student's mean pass rate over the valid problems it was measured on, overall and "
        "per band (a band's difficulty is the pooled or target student's rate, so a weaker "
        "student sits below it and a stronger one above)."
    )
    if students:
        who.table(students).image(analysis.plot_students(students, names, img_dir / "students.png"))
    else:
        who.text("No valid problem was measured.")
    sections.append(who)

    by_turn = analysis.outcomes_by_turn(turns, names)
    sections.append(
        Section("Yield per turn")
        .text(
            "Where the problems of each lineage turn landed, and banded problems per teacher call "
            "(repairs of rejected drafts cost calls too)."
        )
        .table(by_turn)
        .image(analysis.plot_outcomes(by_turn, names, img_dir / "turns.png"))
    )

    reasons: Counter[str] = Counter()
    for r in bank.rejections(run_id):
        reasons.update(r["codes"])
    rej = Section("Rejections by reason").text(
        "Every rejected draft, repairs included; an exhausted turn wrote no draft and is not "
        "counted here."
    )
    if reasons:
        rej.table([{"reason": k, "count": v} for k, v in reasons.most_common()])
        rej.image(
            plots.save(
                plots.hbars(
                    list(reasons),
                    list(reasons.values()),
                    title="Rejections by reason",
                    xlabel="drafts",
                ),
                img_dir / "rejections.png",
            )
        )
    else:
        rej.text("No draft was rejected.")
    sections.append(rej)

    usage = [u.model_dump() for u in bank.usage(run_id)]
    use = Section("Usage and tokens")
    if usage:
        use.table(usage)
        tokens = [u["input_tokens"] + u["output_tokens"] for u in usage]
        if any(tokens):
            use.image(
                plots.save(
                    plots.hbars(
                        [f"{u['agent']} {u['model']}" for u in usage],
                        tokens,
                        title="Tokens by agent",
                        xlabel="input + output tokens",
                    ),
                    img_dir / "tokens.png",
                )
            )
    else:
        use.text(
            "No model calls were recorded (simulation mode: the procedural teacher and "
            "simulated students use no tokens)."
        )
    sections.append(use)

    depths = analysis.lineage_depths(turns)
    dirs = analysis.directions(turns)
    sections.append(
        Section("Lineages")
        .text(
            "Valid stepping stones per lineage, and for each direction whether the pass rate moved "
            "the way the teacher was asked (harder: lower)."
        )
        .table(depths)
        .table(dirs)
        .image(analysis.plot_lineages(depths, dirs, img_dir / "lineages.png"))
    )

    forest = Section("Stepping-stone trees").text(
        "The lineages with the most stones, as trees: each valid stone under the stone it was "
        "varied from, each turn that left none as a leaf saying how it ended."
    )
    for lineage, stones, tree in trees.lineage_trees(turns, problems):
        forest.text(f"Lineage `{lineage}`: {count_stones(stones)}.").pre(tree)
    sections.append(forest)

    chains = Section("Example chains of stepping stones").text(
        "The longest lineages: each row is one valid problem, in turn order."
    )
    for lineage, rows in example_chains(bank, run_id, turns):
        chains.text(f"Lineage `{lineage}`: {count_stones(len(rows))}.").table(rows)
    sections.append(chains)
    return sections


def _md(sections: list[Section], title: str, img_rel: str) -> str:
    parts = [f"# {title}\n"]
    for s in sections:
        parts.append(f"## {s.title}\n")
        for b in s.blocks:
            if isinstance(b, Path):
                parts.append(f"![{s.title}]({img_rel}/{b.name})\n")
            elif isinstance(b, Pre):
                parts.append(f"```text\n{b.text}\n```\n")
            elif isinstance(b, str):
                parts.append(f"{b}\n")
            else:
                parts.append(plots.markdown_table(b))
    return "\n".join(parts)


def _html_table(rows: Rows) -> str:
    if not rows:
        return "<p><em>(no rows)</em></p>"
    cols = list(rows[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(plots.fmt(r.get(c)))}</td>" for c in cols) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _inline(text: str) -> str:
    """Escape, then turn `code` spans into <code>."""
    pieces = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(pieces))


STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;margin:.8em 0;font-size:.9em}"
    "td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}"
    "th{background:#f3f3f3}img{max-width:100%;display:block;margin:.8em 0}"
    "pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.85em;line-height:1.35}"
)


def _html(sections: list[Section], title: str) -> str:
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
    ]
    for s in sections:
        parts.append(f"<h2>{html.escape(s.title)}</h2>")
        for b in s.blocks:
            if isinstance(b, Path):
                parts.append(f"<img alt='{html.escape(s.title)}' src='{plots.png_base64(b)}'>")
            elif isinstance(b, Pre):
                parts.append(f"<pre>{html.escape(b.text)}</pre>")
            elif isinstance(b, str):
                parts.append(f"<p>{_inline(b)}</p>")
            else:
                parts.append(_html_table(b))
    parts.append("</body></html>")
    return "\n".join(parts)


def render_report(
    bank_path: Path, out: Path, *, run_id: str | None = None, fmt: ReportFormat = "html"
) -> Path:
    """Write the report page of `run_id` (default: the bank's newest run) to `out`.

    Markdown images go to `<out stem>_files/` beside the page; HTML embeds them.
    """
    if fmt not in FORMATS:
        raise ReportError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    if not bank_path.is_file():
        raise ReportError(f"no bank at {bank_path} (pass --bank PATH/bank.sqlite)")
    bank = Bank(bank_path)
    try:
        run_id = analysis.resolve_run(bank, run_id)
        title = f"stepstones run {run_id}"
        with tempfile.TemporaryDirectory(prefix="stepstones-report-") as tmp:
            sections = build_sections(bank, run_id, Path(tmp))
            out.parent.mkdir(parents=True, exist_ok=True)
            if fmt == "html":
                out.write_text(_html(sections, title))
            else:
                img_dir = out.parent / f"{out.stem}_files"
                img_dir.mkdir(exist_ok=True)
                for s in sections:
                    for img in s.images:
                        shutil.copyfile(img, img_dir / img.name)
                out.write_text(_md(sections, title, img_dir.name))
    except analysis.DynamicsError as exc:
        raise ReportError(str(exc)) from exc
    finally:
        bank.close()
    return out
