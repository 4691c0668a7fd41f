"""Two renders writing the same page at once (`fraud-app score` re-rendering a run's pages
while `fraud-app dashboards` runs): each write is whole, none fails. They shared one
temporary name, `.<page>.tmp`: a writer's rename moved the other's half-written file
(FileNotFoundError for the other, a reader saw a cut or mixed page)."""

from __future__ import annotations

import contextlib
import threading

from dashboards.render import _write  # the pages' and images' writer

TEXTS = ["A" * 1_000_000 + "\n", "B" * 1_000_000 + "\n"]


def test_two_writers_of_one_page_never_fail_nor_show_half_a_page(tmp_path):
    page = tmp_path / "run" / "model-quality.html"
    errors: list[BaseException] = []
    seen: list[str] = []

    def write(text: str) -> None:
        for _ in range(30):
            try:
                _write(page, text)
            except OSError as exc:
                errors.append(exc)

    def read() -> None:
        for _ in range(200):
            with contextlib.suppress(FileNotFoundError):  # before the first write
                seen.append(page.read_text(encoding="utf-8"))

    threads = [threading.Thread(target=write, args=(t,)) for t in TEXTS]
    threads.append(threading.Thread(target=read))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(text in TEXTS for text in seen), "a reader saw a cut or mixed page"
    assert page.read_text(encoding="utf-8") in TEXTS
    assert [p.name for p in page.parent.iterdir()] == [page.name]  # no temporary file left
