"""Band assignment, quotas and the teacher's next move."""

import pytest

from stepstones.graphs.bands import (
    TOO_EASY,
    TOO_HARD,
    Band,
    band_of,
    default_bands,
    next_move,
    open_bands,
    validate_bands,
)

BANDS = default_bands(quota=2)


@pytest.mark.parametrize(
    ("rate", "band"),
    [
        (0.0, TOO_HARD),
        (0.1, "hard"),
        (1 / 3, "hard"),
        (0.5, "medium"),
        (2 / 3, "medium"),
        (0.9, "easy"),
        (1.0, TOO_EASY),
    ],
)
def test_band_of(rate: float, band: str) -> None:
    assert band_of(rate, BANDS) == band


def test_quotas() -> None:
    assert [b.name for b in open_bands({"hard": 2, "medium": 1}, BANDS)] == ["medium", "easy"]
    assert open_bands({"hard": 2, "medium": 1, "easy": 5}, BANDS)
    assert not open_bands({"hard": 2, "medium": 2, "easy": 2}, BANDS)


def test_next_move_extremes() -> None:
    assert next_move(1.0, {}, BANDS) == "harder"
    assert next_move(0.0, {}, BANDS) == "easier"
    assert next_move(None, {}, BANDS) == "next_seed"


def test_next_move_goes_towards_nearest_open_band() -> None:
    # In "easy" with hard and medium open: medium is nearer, and it is harder.
    assert next_move(0.8, {}, BANDS) == "harder"
    # In "hard" with only easy open: easier.
    assert next_move(0.2, {"hard": 2, "medium": 2}, BANDS) == "easier"
    # In "medium" with only easy open: easier.
    assert next_move(0.5, {"hard": 2, "medium": 2}, BANDS) == "easier"
    # Everything full: next seed.
    assert next_move(0.5, {"hard": 2, "medium": 2, "easy": 2}, BANDS) == "next_seed"


def test_band_validation() -> None:
    with pytest.raises(ValueError, match="lo"):
        Band(name="x", lo=0.5, hi=0.2, quota=1)
    with pytest.raises(ValueError, match="overlap"):
        validate_bands(
            [Band(name="a", lo=0, hi=0.6, quota=1), Band(name="b", lo=0.5, hi=1, quota=1)]
        )
    with pytest.raises(ValueError, match="unique"):
        validate_bands(
            [Band(name="a", lo=0, hi=0.5, quota=1), Band(name="a", lo=0.5, hi=1, quota=1)]
        )


def test_a_rate_between_bins_is_in_none_when_gaps_are_none() -> None:
    from stepstones.graphs.bands import BETWEEN, Band

    bins = [
        Band(name="hard", lo=0.05, hi=0.16, quota=1),
        Band(name="easy", lo=0.81, hi=0.91, quota=1),
    ]
    assert band_of(0.5, bins) in ("hard", "easy")  # nearest, the default
    assert band_of(0.5, bins, "none") == BETWEEN and band_of(0.1, bins, "none") == "hard"


def test_the_papers_direction_rule() -> None:
    from stepstones.graphs.bands import steer

    assert steer(0.7, {}, BANDS, "paper", (0.35, 0.65)) == "harder"  # above the target
    assert steer(0.0, {}, BANDS, "paper") == "easier"
    assert steer(0.5, {}, BANDS, "paper") == next_move(0.5, {}, BANDS)  # else: band steering
    assert steer(0.7, {}, BANDS, "bands") == next_move(0.7, {}, BANDS)
