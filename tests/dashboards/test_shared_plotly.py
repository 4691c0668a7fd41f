"""The pages share one plotly.js: `<output>/assets/plotly-<plotly.js version>.min.js`.

Before (92b9b42) every run folder and the backtests folder held its own 4.8 MB
`plotly.min.js`: a daily train + score grew the output by ~5 MB a day, ~97 % of it that
file (session 31's measurement). Real pages rendered from the fixture files; each page's
script src is resolved as a browser does from file:// and the file it names is read."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

from plotly.offline import get_plotlyjs, get_plotlyjs_version

from dashboards import render_all, render_run
from dashboards.assets import ASSETS, OLD_COPY, bundle, drop_old_copy, ensure_plotly, plotly_name
from dashboards.synthetic import SyntheticRun, write_run
from tests.dashboards.test_backtest_page import _report

SHA = hashlib.sha256(get_plotlyjs().encode("utf-8")).hexdigest()


def _scripts(page: Path) -> list[Path]:
    """The files the page's <script src> name, resolved against the page's folder."""
    srcs = re.findall(r'<script src="([^"]+)"', page.read_text(encoding="utf-8"))
    assert all("://" not in s and not s.startswith("/") for s in srcs), srcs
    return [(page.parent / s).resolve() for s in srcs]


def _assert_loads_plotly(page: Path) -> None:
    [script] = _scripts(page)
    assert script.is_file(), f"{page}: {script} missing"
    assert hashlib.sha256(script.read_bytes()).hexdigest() == SHA, page


def _small(root: Path, run: str, seed: int = 0):
    spec = SyntheticRun(run=run, test_rows=2000, groups=4, scored_days=4, features=6, seed=seed)
    return write_run(root, spec)


def _backtest(sources, run: str) -> None:
    (sources.reports / f"backtest-{run}.json").write_text(json.dumps(_report()))


def _plotly_files(output: Path) -> list[Path]:
    return sorted(p for p in output.rglob("*.js") if p.is_file())


def test_every_page_loads_the_one_shared_copy(tmp_path):
    _small(tmp_path, "r1")
    sources = _small(tmp_path, "r2", seed=1)
    _backtest(sources, "bt1")
    written = render_all(sources)
    shared = sources.output / ASSETS / f"plotly-{get_plotlyjs_version()}.min.js"
    assert written.count(shared) == 1  # logged to MLflow once, not once per run
    assert _plotly_files(sources.output) == [shared]  # no copy per run folder
    pages = [p for p in sources.output.rglob("*.html") if p.parent.name != ASSETS]
    with_plots = [p for p in pages if p.name not in ("index.html",)]
    assert len(with_plots) == 2 * 4 + 1  # 2 runs x 4 pages, 1 backtest page
    for page in with_plots:
        _assert_loads_plotly(page)
    assert shared.stat().st_mode & 0o044 == 0o044  # readable by a web server's user too


def test_a_missing_or_damaged_copy_is_written_again(tmp_path):
    sources = _small(tmp_path, "r1")
    render_run(sources, "r1")
    shared = sources.output / ASSETS / plotly_name()
    data = shared.read_bytes()
    for damage in (
        lambda: shared.unlink(),
        lambda: shared.write_bytes(data[: len(data) // 2]),  # a copy cut short
        lambda: shared.write_bytes(b"x" + data[1:]),  # same size, other bytes
    ):
        damage()
        render_run(sources, "r1")
        assert hashlib.sha256(shared.read_bytes()).hexdigest() == SHA
        _assert_loads_plotly(sources.output / "r1" / "training.html")
    assert list(shared.parent.iterdir()) == [shared]  # no temporary file left behind


def test_an_upgrade_keeps_the_bundle_older_pages_load(tmp_path):
    """A page of plotly.js 9.9.9 (an older release of it) keeps its file when a render with
    this version writes its own beside it."""
    sources = _small(tmp_path, "r1")
    older = sources.output / ASSETS / "plotly-9.9.9.min.js"
    older.parent.mkdir(parents=True)
    older.write_text("/* plotly.js 9.9.9 */")
    render_run(sources, "r1")
    assert older.read_text() == "/* plotly.js 9.9.9 */"
    assert (sources.output / ASSETS / plotly_name()).is_file()


def _as_before_session_32(folder: Path) -> None:
    """The folder as 92b9b42 wrote it: each page loads plotly.min.js beside it."""
    for page in folder.glob("*.html"):
        text = page.read_text(encoding="utf-8")
        page.write_text(re.sub(r'<script src="[^"]+">', f'<script src="{OLD_COPY}">', text))
    (folder / OLD_COPY).write_bytes(bundle()[0])


def test_a_run_folder_of_an_older_release_keeps_working(tmp_path):
    _small(tmp_path, "old")
    sources = _small(tmp_path, "new", seed=1)
    render_run(sources, "old")
    old = sources.output / "old"
    _as_before_session_32(old)
    shutil.rmtree(sources.output / ASSETS)  # that release wrote no shared copy
    render_all(sources, ["new"])  # another run's render (train, score) leaves it alone
    assert (old / OLD_COPY).is_file()
    for stem in ("training", "model-quality", "data-quality", "scoring"):
        assert _scripts(old / f"{stem}.html") == [(old / OLD_COPY).resolve()]
        _assert_loads_plotly(old / f"{stem}.html")
    top = (sources.output / "index.html").read_text()
    assert 'href="old/index.html"' in top and 'href="new/index.html"' in top
    # `fraud-app dashboards` renders it again: its pages load the shared copy and the
    # folder's own copy goes (nothing refers to it any more)
    render_all(sources)
    assert not (old / OLD_COPY).exists()
    for stem in ("training", "scoring"):
        _assert_loads_plotly(old / f"{stem}.html")


def test_the_old_copy_stays_while_any_page_beside_it_loads_it(tmp_path):
    folder = tmp_path / "backtests"
    folder.mkdir()
    (folder / OLD_COPY).write_text("js")
    (folder / "b-new.html").write_text('<script src="../assets/plotly-4.min.js"></script>')
    (folder / "b-old.html").write_text(f"<script src='./{OLD_COPY}'></script>")
    assert drop_old_copy(folder) is False and (folder / OLD_COPY).is_file()
    (folder / "b-old.html").unlink()
    assert drop_old_copy(folder) is True and not (folder / OLD_COPY).exists()


def test_the_copy_is_hashed_once_per_change(tmp_path, monkeypatch):
    """A render of many runs checks the 4.8 MB file by its digest once, then by its stamp."""
    path = ensure_plotly(tmp_path)
    reads = []
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: reads.append(self) or real(self))
    for _ in range(5):
        assert ensure_plotly(tmp_path) == path
    assert reads == []
