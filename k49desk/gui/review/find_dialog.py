"""Review ▸ Find suspects: how thorough (the CLI's --folds/--epochs), with the expected time.

The expected times come from a training speed measured on this computer when the dialog
opens (a few seconds of training in the background, remembered for ten minutes); a plan whose
folds were partly done by an earlier, stopped run says so and is estimated for what is left.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from k49desk.core.fold_cache import resolve_init, resume_status
from k49desk.core.fold_config import other_images
from k49desk.core.scan_plan import (
    MAX_EPOCHS,
    MAX_FOLDS,
    ScanPlan,
    estimate_seconds,
    format_duration,
    measure_speed,
    presets,
    train_config,
)

if TYPE_CHECKING:
    from k49desk.core.dataset import K49Dataset
    from k49desk.core.model import LoadedModel
    from k49desk.gui.common.tasks import TaskOwner

SPEED_SLOT = "review-speed"
SPEED_KEEP_S = 600.0
# (data folder, split, model settings) -> (when, images per second), for this app session
_SPEEDS: dict[tuple, tuple[float, float]] = {}

EXPLAIN = ("Every image is scored by a model that never saw it: the split is cut into folds "
           "and one model is trained per fold on the others. Images whose label disagrees with "
           "what the rest teaches are flagged (confident learning), with blank images and "
           "duplicates. Stopping keeps the finished folds: the next run resumes there.")
FINE_TUNED = ("On a split this size the fold models start from the bundled model, which has "
              "read real Kuzushiji, and are fine-tuned on the folds.")
OUTLIERS = ("Outliers, images unlike the rest, are flagged too, by the current model's "
            "embeddings ({}).")
OUTLIERS_NO_MODEL = ("Outliers (images unlike the rest) need a model: load or train one to "
                     "flag them too.")


class FindDialog(QDialog):
    def __init__(self, ds: K49Dataset, split: str, tasks: TaskOwner,
                 parent: QWidget | None = None, *, speed: float | None = None,
                 model: LoadedModel | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Find suspects in {split}")
        self.ds, self.split, self.tasks = ds, split, tasks
        self.n = len(ds.split(split))
        self.extra = other_images(ds, split)  # other splits' images training every fold
        self.presets = presets(self.n, self.extra)
        base = train_config(ds, split, self.presets[1])
        from k49desk.core.issues import default_train_config

        cfg = base or default_train_config(self.n)
        self._key = (str(ds.root), split, self.n, cfg.model.channels, cfg.batch_size)
        self._cfg = cfg
        self.speed = speed if speed is not None else self._remembered()
        self.speed_label = QLabel("")
        self.speed_label.setStyleSheet("color: palette(mid);")
        self.speed_label.setWordWrap(True)
        self.group = QButtonGroup(self)
        self.radios: dict[str, QRadioButton] = {}
        self.notes: dict[str, QLabel] = {}
        grid = QGridLayout()
        grid.setColumnStretch(1, 1)
        grid.setHorizontalSpacing(16)
        for row, plan in enumerate(self.presets):
            self._add_choice(grid, row, plan.key, f"{plan.title}: {plan.describe()}")
        self.folds = QSpinBox(minimum=2, maximum=MAX_FOLDS, value=5)
        self.epochs = QSpinBox(minimum=1, maximum=MAX_EPOCHS, value=self.presets[1].epochs)
        custom = QWidget()
        cl = QHBoxLayout(custom)
        cl.setContentsMargins(0, 0, 0, 0)
        for text, w in (("folds ×", self.folds), ("epochs", self.epochs)):
            cl.addWidget(w)
            cl.addWidget(QLabel(text))
        cl.addStretch(1)
        self._add_choice(grid, len(self.presets), "custom", "Custom:", custom)
        for w in (self.folds, self.epochs):
            w.valueChanged.connect(self._custom_touched)
        self.radios["thorough"].setChecked(True)
        tuned = resolve_init(ds, split, None, cfg) is not None
        explain = QLabel(" ".join([EXPLAIN, *([FINE_TUNED] if tuned else []),
                                   OUTLIERS_NO_MODEL if model is None else
                                   OUTLIERS.format(model.summary())]))
        explain.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Start")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(explain)
        lay.addLayout(grid)
        lay.addWidget(self.speed_label)
        lay.addWidget(buttons)
        self.finished.connect(lambda _r: self.tasks.cancel(SPEED_SLOT))
        self.refresh()
        if self.speed is None:
            self._measure()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        self._fit_height()

    def _fit_height(self) -> None:
        # A shown dialog keeps its size when its wrapped texts grow (the measured speed takes
        # two lines where "Measuring…" took one): the explanation was squeezed and its first
        # and last lines cut. Grow to what the layout needs at this width.
        if self.isVisible():
            need = self.layout().totalHeightForWidth(self.width())
            if need > self.height():
                self.resize(self.width(), need)

    def _add_choice(self, grid: QGridLayout, row: int, key: str, text: str,
                    extra: QWidget | None = None) -> None:
        r = QRadioButton(text)
        self.group.addButton(r)
        self.radios[key] = r
        note = QLabel("")
        self.notes[key] = note
        if extra is None:
            grid.addWidget(r, row, 0, 1, 2)
        else:
            grid.addWidget(r, row, 0)
            grid.addWidget(extra, row, 1)
        grid.addWidget(note, row, 2)
        r.toggled.connect(lambda _on: self.refresh())

    def _custom_touched(self) -> None:
        self.radios["custom"].setChecked(True)
        self.refresh()

    # ---- the choice ---------------------------------------------------------------------
    def custom_plan(self) -> ScanPlan:
        return ScanPlan("custom", "Custom", self.folds.value(), self.epochs.value())

    def plans(self) -> dict[str, ScanPlan]:
        return {**{p.key: p for p in self.presets}, "custom": self.custom_plan()}

    def plan(self) -> ScanPlan:
        key = next((k for k, r in self.radios.items() if r.isChecked()), "thorough")
        return self.plans()[key]

    def note_for(self, plan: ScanPlan) -> str:
        """ "about 6 min", with what an earlier stopped run already did."""
        status = resume_status(self.ds, self.split, plan.folds,
                               train_config(self.ds, self.split, plan))
        if plan.folds and status.complete:
            return "seconds (" + status.describe() + ")"
        est = estimate_seconds(self.n, plan, self.speed, status.done, self.extra)
        text = format_duration(est) or "estimating…"
        if status.done:
            text += f" ({status.describe()})"
        return text

    def refresh(self) -> None:
        if len(self.notes) <= len(self.presets):
            return  # still being built
        for key, plan in self.plans().items():
            self.notes[key].setText(self.note_for(plan))
        self.speed_label.setText(
            "Measuring the training speed of this computer…" if self.speed is None else
            f"Measured here just now: {self.speed:,.0f} training images per second "
            f"({self.n:,d} images in {self.split}).")
        self._fit_height()

    # ---- speed --------------------------------------------------------------------------
    def _remembered(self) -> float | None:
        got = _SPEEDS.get(self._key)
        return got[1] if got and time.monotonic() - got[0] < SPEED_KEEP_S else None

    def _measure(self) -> None:
        s = self.ds.split(self.split)
        cfg = self._cfg

        def work(_progress, should_stop):  # noqa: ANN001, ANN202
            return measure_speed(s.images, s.labels, cfg, should_stop=should_stop)

        self.tasks.run(SPEED_SLOT, work, on_finished=self.set_speed,
                       on_failed=lambda e: self.speed_label.setText(
                           f"The training speed could not be measured ({e})."))

    def set_speed(self, images_per_s: float) -> None:
        if images_per_s > 0:
            _SPEEDS[self._key] = (time.monotonic(), float(images_per_s))
            self.speed = float(images_per_s)
        self.refresh()
