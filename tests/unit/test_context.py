"""Configuration precedence: defaults < file < STEPSTONES_* env < per-run overrides."""

from pathlib import Path

import pytest

from stepstones.graphs.context import (
    STUDIO_BANK,
    ConfigError,
    MissingContext,
    RunContext,
    get_context,
    load_context,
)
from stepstones.tools.store import DEFAULT_BANK, DEFAULT_OUT


def test_defaults() -> None:
    ctx = load_context(environ={})
    assert ctx == RunContext()
    assert ctx.teacher == "procedural"
    assert len(ctx.students) >= 2


def test_precedence(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("samples = 2\nconcurrency = 3\n[budget]\nmax_teacher_calls = 10\n")
    env = {
        "STEPSTONES_SAMPLES": "5",
        "STEPSTONES_BUDGET__MAX_TURNS_PER_SEED": "3",
        "STEPSTONES_STUDENTS": "sim:novice, sim:expert",
        "OTHER": "x",
    }
    ctx = load_context(cfg, {"concurrency": 9, "seed": None}, environ=env)
    assert ctx.samples == 5  # env beats file
    assert ctx.concurrency == 9  # override beats file
    assert ctx.budget.max_teacher_calls == 10  # file beats default
    assert ctx.budget.max_turns_per_seed == 3  # nested env
    assert ctx.students == ["sim:novice", "sim:expert"]
    assert ctx.seed == 0  # a None override leaves the value alone


def test_lineages_in_flight_default_fills_the_endpoint_under_flow() -> None:
    # The simulation runs rounds of 6 (its golden banks); a flowing LLM run gets a lineage per
    # request slot of an endpoint; a number the user gives is kept either way.
    assert RunContext().lineages_in_flight == 6
    llm = {"teacher": "vllm:t@http://h/v1", "endpoint_concurrency": 24}
    assert RunContext(**llm).flowing and RunContext(**llm).lineages_in_flight == 24
    assert RunContext(**llm, concurrency=5).lineages_in_flight == 5
    assert RunContext(**llm, schedule="rounds").lineages_in_flight == 6
    assert RunContext(**llm, human_review=True).lineages_in_flight == 6
    assert RunContext(concurrency=3).lineages_in_flight == 3


def test_json_config(tmp_path: Path) -> None:
    cfg = tmp_path / "c.json"
    cfg.write_text('{"bands": [{"name": "all", "lo": 0.0, "hi": 1.0, "quota": 3}]}')
    ctx = load_context(cfg, environ={})
    assert [b.name for b in ctx.bands] == ["all"]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("samples = 'many'", "samples"),
        ("samples = [", "not valid toml"),
        ("unknown_key = 1", "unknown_key"),
        ("students = []", "students"),
    ],
)
def test_bad_config_is_one_clear_line(tmp_path: Path, text: str, match: str) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=match) as info:
        load_context(cfg, environ={})
    assert "\n" not in str(info.value).strip()


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_context("/nonexistent/config.toml", environ={})


def test_get_context_is_required_outside_studio_and_coerced() -> None:
    class R:
        context = None

    with pytest.raises(MissingContext):
        get_context(R())
    assert get_context(R(), required=False) == RunContext(bank=str(STUDIO_BANK))
    R.context = {"samples": 3}  # type: ignore[assignment]
    assert get_context(R()).samples == 3


def test_studio_banks_apart_from_the_cli_unless_its_context_names_a_bank() -> None:
    # A Studio run in stepstones-out/ became the "newest run" `export` and `report` picked.
    class R:
        context: object = None

    assert Path(get_context(R(), required=False).bank) == STUDIO_BANK
    assert STUDIO_BANK.parent != DEFAULT_OUT
    for given in ({"samples": 3}, RunContext.model_validate({"samples": 3})):
        R.context = given
        studio = get_context(R(), required=False)
        assert Path(studio.bank) == STUDIO_BANK and studio.samples == 3
        assert Path(get_context(R()).bank) == DEFAULT_BANK  # the CLI's and the API's default
    R.context = {"bank": "mine/bank.sqlite"}
    assert get_context(R(), required=False).bank == "mine/bank.sqlite"
    R.context = {"bank": str(DEFAULT_BANK)}  # a form prefilled with the schema's default
    assert Path(get_context(R(), required=False).bank) == STUDIO_BANK


def test_the_example_config_in_the_readme_is_the_defaults() -> None:
    # It says it shows the defaults: rounded band edges (0.3333) once moved a pass rate of
    # exactly 1/3 from hard into medium, and the example ran differently from no config.
    example = Path(__file__).resolve().parents[2] / "examples" / "config.toml"
    ctx = load_context(example, environ={})
    assert ctx.model_dump() == load_context(environ={}).model_dump()
    assert [b.name for b in ctx.bands] == ["hard", "medium", "easy"]
    assert ctx.sandbox.isolation == "auto" and not ctx.sandbox.allow_unisolated


def test_vllm_engine_arguments_reach_the_model_settings() -> None:
    """`vllm-local:` needs engine arguments on some machines (on vLLM's CPU build, the share of
    RAM for the KV cache): they come from the config or environment like every other field."""
    from stepstones.graphs.components import model_settings

    ctx = load_context(
        environ={
            "STEPSTONES_VLLM_ENGINE__GPU_MEMORY_UTILIZATION": "0.2",
            "STEPSTONES_VLLM_ENGINE__ENFORCE_EAGER": "true",
        }
    )
    assert ctx.vllm_engine == {"gpu_memory_utilization": 0.2, "enforce_eager": True}
    assert model_settings(ctx).engine_kwargs == ctx.vllm_engine


def test_checkpoints_is_turn_or_step_and_anything_else_is_one_clear_error() -> None:
    assert RunContext().checkpoints == "turn"
    assert load_context(environ={"STEPSTONES_CHECKPOINTS": "step"}).checkpoints == "step"
    with pytest.raises(ConfigError, match=r"checkpoints: Input should be 'turn' or 'step'"):
        load_context(overrides={"checkpoints": "node"}, environ={})


def test_a_target_student_must_be_a_student_that_can_measure_the_problem() -> None:
    with pytest.raises(ValueError, match="not one of the students"):
        RunContext(students=["sim:expert"], target_student="sim:novice")
    with pytest.raises(ValueError, match="measures nothing"):
        RunContext(
            teacher="openai:gpt-4o-mini",
            students=["sim:expert", "openai:gpt-4o-mini"],
            target_student="sim:expert",
        )
    ok = RunContext(
        teacher="openai:gpt-4o-mini",
        students=["sim:expert", "openai:gpt-4o-mini"],
        target_student="openai:gpt-4o-mini",
    )
    assert ok.simulated_on_llm_problems() == []
    pooled = RunContext(teacher="openai:gpt-4o-mini", students=["sim:expert", "openai:m"])
    assert pooled.simulated_on_llm_problems() == ["sim:expert"]
    assert RunContext().simulated_on_llm_problems() == []  # procedural problems have levels


def test_a_preset_sits_between_the_defaults_and_the_config_file(tmp_path: Path) -> None:
    paper = load_context(preset="paper", environ={})
    assert paper.samples == 32 and paper.direction_rule == "paper"
    assert paper.target_range == (0.35, 0.65) and paper.band_gaps == "none"
    assert [(b.name, b.lo, b.hi) for b in paper.bands] == [
        ("hard", 0.05, 0.16),
        ("medium", 0.41, 0.59),
        ("easy", 0.81, 0.91),
    ]
    assert paper.preset == "paper" and load_context(environ={}).preset == "default"
    cfg = tmp_path / "c.toml"
    cfg.write_text('preset = "paper-broad"\nsamples = 8\n')
    broad = load_context(cfg, environ={})
    assert broad.samples == 8 and len(broad.bands) == 4  # the file wins over its preset
    assert load_context(cfg, {"samples": 16}, environ={}).samples == 16
    with pytest.raises(ConfigError, match="unknown preset 'papr': choose default, paper"):
        load_context(preset="papr", environ={})
