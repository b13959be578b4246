"""Issue 9 item 1: quitting while training. The real app (`k49desk gui --data-dir D --panel
train`, offscreen Qt, in a subprocess) starts a run in its training process, quits from the
File menu once an epoch is done, answers "Stop training and quit?" with Yes, and must end
with exit code 0: no "QThread: Destroyed while thread is still running", no abort, no temp
file left in the models folder, and a complete checkpoint (with its curves) kept.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from k49desk.core import runs
from k49desk.core.model import load_checkpoint

# Drives the app from inside its own event loop, as a user would: click Start, wait for the
# first epoch, File > Quit (its Ctrl+Q shortcut is empty on the offscreen platform), Yes.
DRIVER = r'''
import faulthandler, sys
faulthandler.dump_traceback_later(240, exit=True)
from PySide6.QtCore import QTimer, Qt
from PySide6.QtGui import QAction
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox
import k49desk.gui.app as appmod

state = {"phase": "start"}

def answer():
    box = QApplication.activeModalWidget()
    if isinstance(box, QMessageBox):
        print("DRIVER dialog:", box.text().splitlines()[0], file=sys.stderr, flush=True)
        box.button(QMessageBox.StandardButton.Yes).click()
    else:
        QTimer.singleShot(50, answer)

def tick():
    app = QApplication.instance()
    wins = [w for w in app.topLevelWidgets() if type(w).__name__ == "MainWindow"]
    p = wins[0].panels.get("train") if wins else None
    if state["phase"] == "start" and p is not None and p.start_btn.isEnabled():
        QTest.mouseClick(p.start_btn, Qt.MouseButton.LeftButton)
        state["phase"] = "running"
    elif state["phase"] == "running" and p.curves.epoch_x:
        state["phase"] = "quitting"
        QTimer.singleShot(100, answer)
        [a for a in wins[0].findChildren(QAction) if a.text() == "&Quit"][0].trigger()
        return
    QTimer.singleShot(50, tick)

def make_app(*a, **k):
    app = _make_app(*a, **k)
    QTimer.singleShot(100, tick)
    return app

if __name__ == "__main__":  # the training process (spawn) imports this file too
    _make_app, appmod.make_app = appmod.make_app, make_app
    from k49desk.cli import main
    sys.exit(main(["gui", "--data-dir", sys.argv[1], "--panel", "train"]))
'''


def test_quit_while_training_stops_the_run_keeps_it_and_exits_cleanly(
        tmp_path: Path, tiny_dir: Path) -> None:
    home = tmp_path / "home"
    models = home / "models"
    ini = home / "settings.ini"
    home.mkdir()
    ini.write_text("[train]\nepochs=200\nbatch_size=64\naugment=false\n")
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", K49DESK_SETTINGS=str(ini),
               K49DESK_MODELS_DIR=str(models), K49DESK_LOG_DIR=str(home / "log"),
               XDG_CACHE_HOME=str(home / "cache"), OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, str(driver), str(tiny_dir)], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    err = out.stderr
    assert "DRIVER dialog: Stop training and quit?" in err, err[-3000:]
    assert out.returncode == 0, err[-3000:]
    assert "QThread: Destroyed" not in err and "Aborted" not in err, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    assert [p.name for p in models.iterdir() if p.name.endswith(".tmp")] == []
    kept = list(models.glob("run-*.pt"))
    assert len(kept) == 1
    m = load_checkpoint(kept[0]).metrics  # complete: it loads, and says how it ended
    assert m["stopped"] is True and 1 <= m["epochs_completed"] < 200
    assert runs.load_curves(kept[0]).epochs_completed == m["epochs_completed"]
    assert [r.path for r in runs.list_runs(models)] == kept
    # A stopped run is not made current behind the user's back (item 7).
    assert "current=" not in ini.read_text() or kept[0].name not in ini.read_text()
