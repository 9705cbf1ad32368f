"""Screenshots of the HTML run report in headless Chromium: `python scripts/screenshots.py`.

A page is only known to be legible once someone has looked at it in a browser. This makes a small
offline run, writes its report with `stepstones report --format html` and shoots it with
headless Chromium: `report.png` (the top of the page, the README's image) into `--out`, and
`report-full.png` (the whole page, for reading every section) beside the run in `--work`.
Studio's own UI is hosted (smith.langchain.com) and unreachable offline, so it is not shot here.

Everything goes to a scratch directory by default, never over committed files;
`--out docs/images` regenerates the README's image on purpose.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SCRATCH = Path(tempfile.gettempdir()) / "stepstones-screenshots"
"""Where images, the run and its report go unless a flag says otherwise."""
RUN_ID = "screenshots"
FULL_HEIGHT = 16000
"""Window height for the whole-page shot (Chromium's CLI cannot scroll); blank rows are cut."""


def parser() -> argparse.ArgumentParser:
    """The command line; its defaults write nothing under the repository."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--out",
        type=Path,
        default=SCRATCH,
        help="folder for report.png, the README's image (default: %(default)s; "
        "docs/images regenerates the committed one)",
    )
    p.add_argument(
        "--work",
        type=Path,
        default=SCRATCH,
        help="folder for the run, report.html and report-full.png (default: %(default)s)",
    )
    p.add_argument("--quota", type=int, default=3, help="problems per band (default: 3)")
    p.add_argument("--seed", type=int, default=7, help="random seed of the run (default: 7)")
    p.add_argument("--width", type=int, default=1200, help="window width (default: 1200)")
    p.add_argument("--height", type=int, default=2400, help="height of report.png (default: 2400)")
    p.add_argument(
        "--chromium",
        default=shutil.which("chromium") or "/usr/bin/chromium",
        help="the Chromium binary (default: %(default)s)",
    )
    return p


def run(cmd: list[str], what: str) -> None:
    """Run a step; on failure, stop with its output (a screenshot of nothing helps no one)."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        sys.exit(
            f"{what} failed ({proc.returncode}):\n{proc.stderr[-3000:] or proc.stdout[-3000:]}"
        )


def make_report(work: Path, quota: int, seed: int) -> Path:
    """A fresh offline run in `work/run` and its HTML report; returns the page."""
    run_dir = work / "run"
    # Only the run this script made before: a run directory that is not ours is left alone.
    if (run_dir / ".screenshots").is_file():
        shutil.rmtree(run_dir)
    elif run_dir.exists():
        sys.exit(f"{run_dir} exists and was not made by this script: pass another --work")
    run_dir.mkdir(parents=True)
    (run_dir / ".screenshots").write_text("made by scripts/screenshots.py\n")
    stepstones = [sys.executable, "-m", "stepstones"]
    run(
        [
            *stepstones,
            "run",
            "--out",
            str(run_dir),
            "--quota",
            str(quota),
            "--seed",
            str(seed),
            "--run-id",
            RUN_ID,
            "--quiet",
        ],
        "stepstones run",
    )
    page = work / "report.html"
    bank = str(run_dir / "bank.sqlite")
    run(
        [*stepstones, "report", "--format", "html", "--bank", bank, "--out", str(page)],
        "stepstones report",
    )
    return page


def shoot(chromium: str, page: Path, png: Path, width: int, height: int, profile: Path) -> Path:
    """A screenshot of `page` at the given window size (the image is the window, no more)."""
    run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--screenshot={png}",
            page.resolve().as_uri(),
        ],
        "chromium",
    )
    return png


def trim_bottom(png: Path, margin: int = 40) -> None:
    """Cut the blank rows below the page's last content, keeping a margin."""
    from PIL import Image, ImageChops  # matplotlib's own dependency: the report needs it

    with Image.open(png) as raw:
        image = raw.convert("RGB")
    box = ImageChops.difference(image, Image.new("RGB", image.size, "white")).getbbox()
    if box is not None:
        image.crop((0, 0, image.width, min(image.height, box[3] + margin))).save(png)


def to_palette(png: Path) -> None:
    """256 colours: half the bytes of Chromium's PNG and no visible loss on a page of text and flat
    charts, so the committed image stays small."""
    from PIL import Image

    with Image.open(png) as raw:
        image = raw.convert("RGB")
    image.quantize(256).save(png, optimize=True)


def main(argv: list[str] | None = None) -> None:
    """Run, report, shoot; print where each file went."""
    args = parser().parse_args(argv)
    if shutil.which(args.chromium) is None and not Path(args.chromium).is_file():
        sys.exit(f"no Chromium at {args.chromium}: install it or pass --chromium PATH")
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    page = make_report(args.work, args.quota, args.seed)
    profile = args.work / "chromium-profile"
    top = shoot(args.chromium, page, args.out / "report.png", args.width, args.height, profile)
    to_palette(top)
    full = shoot(
        args.chromium, page, args.work / "report-full.png", args.width, FULL_HEIGHT, profile
    )
    trim_bottom(full)
    for path in (page, top, full):
        print(f"{path} ({path.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
