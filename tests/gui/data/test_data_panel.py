"""The start page: download from a local server, cancel, offline, bad folder, demo, recents."""

from __future__ import annotations

from pathlib import Path

import pytest
from httpserver import FileServer, closed_port
from k49helpers import contrast

from k49desk.core.dataset import OFFICIAL_FILES
from k49desk.gui.common import settings
from k49desk.gui.common.settings import MAX_RECENT
from k49desk.gui.common.state import AppState
from k49desk.gui.data.panel import DOWNLOAD_TEXT, DataPanel

IMGS = "k49-train-imgs.npz"


@pytest.fixture
def errors(error_dialogs: list) -> list[tuple[str, str]]:
    return error_dialogs


@pytest.fixture
def page(qtbot, tmp_path: Path) -> DataPanel:  # noqa: ANN001
    p = DataPanel(AppState())
    qtbot.addWidget(p)
    p.set_target_dir(tmp_path / "data")
    yield p
    p.shutdown()


def _buttons_enabled(p: DataPanel) -> bool:
    return all(b.isEnabled() for b in (p.download_button, p.open_button, p.demo_button))


def test_page_offers_the_three_ways_in(page: DataPanel) -> None:
    assert page.download_button.text() == DOWNLOAD_TEXT == "Download Kuzushiji-49 (about 77 MB)"
    assert page.open_button.text() == "Open folder…"
    assert page.demo_button.text() == "Try with demo data"
    assert _buttons_enabled(page) and not page.busy
    assert page.progress_frame.isHidden()


def test_download_from_local_server_fills_folder_and_opens_dataset(
        qtbot, page: DataPanel, server: FileServer, expected: dict, errors: list) -> None:  # noqa: ANN001
    target = page.target_dir
    with qtbot.waitSignal(page.dataset_opened, timeout=30000) as sig:
        assert page.start_download(base_url=server.base_url, expected=expected)
        assert page.busy and not page.download_button.isEnabled()
    ds = sig.args[0]
    assert page.state.dataset is ds and Path(ds.root) == target
    assert len(ds.split("train")) == 49 * 6
    assert sorted(p.name for p in target.glob("*.np*")) == sorted(
        n for n in OFFICIAL_FILES if n.endswith(".npz"))
    qtbot.waitUntil(lambda: not page.busy, timeout=10000)
    assert _buttons_enabled(page) and errors == []
    assert settings.recent_folders()[0] == str(target.resolve())
    assert "Open now:" in page.current_label.text()


def test_cancel_stops_download_keeps_part_and_page_stays_usable(
        qtbot, page: DataPanel, server: FileServer, expected: dict, errors: list) -> None:  # noqa: ANN001
    server.mode[IMGS] = "stall"
    server.stall_after = 4096
    page.start_download(base_url=server.base_url, expected=expected)
    assert server.stalled.wait(30)
    qtbot.waitUntil(lambda: page.progress_bar.value() > 0, timeout=10000)
    page.cancel_button.click()
    server.release.set()  # the worker sees the stop request once the next bytes arrive
    qtbot.waitUntil(lambda: not page.busy, timeout=20000)
    target = page.target_dir
    assert not (target / IMGS).exists()
    assert (target / (IMGS + ".part")).stat().st_size >= 4096
    assert page.state.dataset is None and errors == []
    assert "partial file is kept" in page.progress_title.text()
    assert "already there: Download checks and reuses it" in page.target_label.text()
    assert _buttons_enabled(page)


def test_offline_download_shows_error_dialog_and_page_stays_usable(
        qtbot, page: DataPanel, expected: dict, errors: list) -> None:  # noqa: ANN001
    port = closed_port()
    page.start_download(base_url=f"http://127.0.0.1:{port}/", expected=expected)
    qtbot.waitUntil(lambda: not page.busy, timeout=20000)
    assert len(errors) == 1
    title, text = errors[0]
    assert title == "Download failed"
    assert text.startswith(f"cannot reach 127.0.0.1:{port}: connection refused")
    assert "Traceback" not in text
    assert page.error_label.isVisibleTo(page) and page.state.dataset is None
    assert _buttons_enabled(page)


def test_corrupt_folder_shows_dialog_naming_the_file(
        qtbot, page: DataPanel, tiny_dir: Path, errors: list) -> None:  # noqa: ANN001
    (tiny_dir / "k49-test-labels.npz").write_bytes(b"PK\x03\x04 not really a zip")
    page.open_folder(tiny_dir)
    qtbot.waitUntil(lambda: not page.busy, timeout=20000)
    assert len(errors) == 1
    title, text = errors[0]
    assert title == "Cannot open the data folder"
    assert text.startswith("k49-test-labels.npz: ")
    assert page.state.dataset is None and _buttons_enabled(page)
    assert settings.recent_folders() == []


def test_open_valid_folder_sets_dataset_and_remembers_it(
        qtbot, page: DataPanel, tiny_dir: Path, errors: list) -> None:  # noqa: ANN001
    with qtbot.waitSignal(page.dataset_opened, timeout=20000):
        page.open_folder(tiny_dir)
    assert page.state.dataset.root == tiny_dir and errors == []
    assert settings.recent_folders() == [str(tiny_dir.resolve())]
    assert page.recent_list.item(0).data(256) == str(tiny_dir.resolve())  # UserRole


def test_recent_folders_most_recent_first_without_duplicates(tmp_path: Path) -> None:
    for i in range(MAX_RECENT + 2):
        settings.remember_folder(tmp_path / f"d{i}")
    settings.remember_folder(tmp_path / "d5")
    got = settings.recent_folders()
    assert len(got) == MAX_RECENT
    assert got[:3] == [str(tmp_path / n) for n in ("d5", f"d{MAX_RECENT + 1}", f"d{MAX_RECENT}")]
    assert got.count(str(tmp_path / "d5")) == 1
    settings.remember_folder(tmp_path / "only")
    assert settings.recent_folders()[0] == str(tmp_path / "only")


def test_single_recent_folder_round_trips_as_list(tmp_path: Path) -> None:
    settings.remember_folder(tmp_path)
    assert settings.recent_folders() == [str(tmp_path.resolve())]


def test_demo_generation_opens_generated_data(
        qtbot, page: DataPanel, errors: list) -> None:  # noqa: ANN001
    pytest.importorskip("k49desk.core.demo")
    with qtbot.waitSignal(page.dataset_opened, timeout=120000) as sig:
        page.start_demo(per_class=2)
    ds = sig.args[0]
    assert ds.is_demo and Path(ds.root) == page.target_dir / "demo"
    assert len(ds.split("train")) == 49 * 2
    assert "generated demo data" in page.current_label.text()
    assert errors == []


def test_licence_footer_is_readable(page: DataPanel, qtbot) -> None:  # noqa: ANN001
    from PySide6.QtGui import QFontInfo, QPalette

    page.resize(1024, 700)
    page.show()
    qtbot.waitExposed(page)
    f = page.footer
    f.ensurePolished()
    assert "CC BY-SA 4.0" in f.text() and "doi:10.20676/00000341" in f.text()
    assert QFontInfo(f.font()).pixelSize() >= 13  # body size, not 11 px
    fg = f.palette().color(QPalette.ColorRole.WindowText)
    bg = page.palette().color(QPalette.ColorRole.Window)
    assert contrast(fg, bg) >= 7.0  # WCAG AAA for body text
