"""The experiment commands keep the docs' promises (issue 17): pasted from the README they never
overwrite the committed figures under docs/, and the defaults the docs state are the code's.

Only the argument parsers run here, never an experiment.
"""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path
from types import ModuleType

import pytest

from stepstones.evals import bank_fixture, bench_pipeline, dynamics, passk, yield_experiment

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EVALS: dict[str, ModuleType] = {
    "yield_experiment": yield_experiment,
    "dynamics": dynamics,
    "passk": passk,
}
TEMPORARY = {"bench_pipeline"}
"""Benchmarks whose runs go to a temporary folder, deleted at exit, unless given `--out`."""
NAMED = {"bank_fixture"}
"""Scripts that refuse to run without an `--out` of the user's choosing."""
REQUIRED = {"dynamics": ["--bank", "bank.sqlite"]}  # options without a default
PLACEHOLDER = re.compile(r"[A-Z][A-Z_]*(,[A-Z][A-Z_]*)*")  # FILE, RUN_ID, ENV,ENV: no default


def into_docs(out: Path) -> bool:
    """Whether `out`, run from the repository root as the docs' commands are, lands in docs/."""
    return (ROOT / out).resolve().is_relative_to(DOCS)


def shell_commands(markdown: str) -> list[list[str]]:
    """Every command of the ```bash blocks, continuation lines joined and comments dropped."""
    blocks = re.findall(r"^```bash\n(.*?)^```", markdown, re.M | re.S)
    lines = [line for block in blocks for line in block.replace("\\\n", " ").splitlines()]
    return [words for line in lines if (words := shlex.split(line, comments=True))]


def eval_args(words: list[str]) -> tuple[str, list[str]] | None:
    """(eval name, its arguments) for `python -m stepstones.evals.NAME ...`, else None."""
    if words[:2] == ["python", "-m"] and words[2].startswith("stepstones.evals."):
        return words[2].removeprefix("stepstones.evals."), words[3:]
    return None


def option(parser: argparse.ArgumentParser, flag: str) -> argparse.Action:
    return next(a for a in parser._actions if flag in a.option_strings)


def usage_options(module: ModuleType, name: str) -> list[tuple[str, str, bool]]:
    """(flag, value, optional) for each `--flag VALUE` of the docstring's usage line."""
    doc = module.__doc__ or ""
    usage = doc.split(f"python -m stepstones.evals.{name}", 1)[1].split("\n\n", 1)[0]
    usage = usage.replace("\\\n", " ")
    found = [(f, v, True) for f, v in re.findall(r"\[(-{1,2}[\w-]+) ([^\]\s]+)\]", usage)]
    bare = re.sub(r"\[[^\]]*\]", " ", usage)
    found += [(f, v, False) for f, v in re.findall(r"(?<!\S)(-{1,2}[\w-]+) (\S+)", bare)]
    return found


def test_every_eval_with_an_out_option_is_checked_here() -> None:
    declares = re.compile(r'add_argument\(\s*"--out"')
    writers = {p.stem for p in (ROOT / "evals").glob("*.py") if declares.search(p.read_text())}
    assert writers == set(EVALS) | TEMPORARY | NAMED


def test_a_benchmark_without_out_keeps_nothing() -> None:
    assert bench_pipeline.parse_args([]).out is None


def test_the_bank_fixture_asks_where_to_write() -> None:
    with pytest.raises(SystemExit) as exit_:
        bank_fixture.main([])
    assert exit_.value.code == 2  # argparse: the required --out is missing


@pytest.mark.parametrize("name", sorted(EVALS))
def test_an_experiment_without_out_writes_to_gitignored_scratch(name: str) -> None:
    out = EVALS[name].build_parser().parse_args(REQUIRED.get(name, [])).out
    assert not into_docs(out), out
    assert out.parts[:2] == ("stepstones-out", "experiments") and len(out.parts) == 3, out
    assert "stepstones-out/" in (ROOT / ".gitignore").read_text().splitlines()


def test_no_readme_command_writes_into_docs() -> None:
    commands = shell_commands((ROOT / "README.md").read_text())
    outs = [words[i + 1] for words in commands for i, w in enumerate(words[:-1]) if w == "--out"]
    assert outs and not [o for o in outs if into_docs(Path(o))], outs
    seen = set()
    for words in commands:
        if (parsed := eval_args(words)) is None:
            continue
        name, args = parsed
        seen.add(name)
        out = EVALS[name].build_parser().parse_args(args).out  # passk writes even without --out
        assert not into_docs(out), words
    assert seen == set(EVALS)


@pytest.mark.parametrize("name", sorted(EVALS))
def test_the_usage_line_states_the_parsers_defaults(name: str) -> None:
    parser = EVALS[name].build_parser()
    documented = usage_options(EVALS[name], name)
    assert documented, f"no --option VALUE in {name}'s usage line"
    for flag, value, optional in documented:
        action = option(parser, flag)
        assert action.required is not optional, flag
        if not optional:
            continue
        if action.default is None:
            assert PLACEHOLDER.fullmatch(value), f"{flag} has no default; usage shows {value}"
        else:
            assert value == str(action.default), f"{flag}: usage {value}, code {action.default}"


def test_the_documented_yield_run_is_the_default_run() -> None:
    """docs/experiments.md's committed run, minus `--out`, is what the plain command runs."""
    parser = yield_experiment.build_parser()
    runs = [
        args
        for words in shell_commands((DOCS / "experiments.md").read_text())
        if (parsed := eval_args(words)) and parsed[0] == "yield_experiment"
        for args in [parsed[1]]
    ]
    committed = [a for a in runs if a[:2] == ["--out", "docs/experiments/yield"]]
    assert len(committed) == 1, runs
    defaults = vars(parser.parse_args([]))
    assert vars(parser.parse_args(committed[0])) | {"out": defaults["out"]} == defaults
    readme = [
        parsed[1]
        for words in shell_commands((ROOT / "README.md").read_text())
        if (parsed := eval_args(words)) and parsed[0] == "yield_experiment"
    ]
    assert readme and all(vars(parser.parse_args(a)) == defaults for a in readme), readme


def test_every_docs_command_that_overwrites_committed_tables_says_so() -> None:
    text = (DOCS / "experiments.md").read_text()
    blocks = re.findall(r"^```bash\n(.*?)^```", text, re.M | re.S)
    writers = [b for b in blocks if re.search(r"--out docs/", b)]
    assert writers
    for block in writers:
        assert block.startswith("# regenerate the committed tables"), block
