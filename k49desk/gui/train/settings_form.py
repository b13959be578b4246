"""The training settings form: sensible defaults, tooltips, remembered under `train/`."""

from __future__ import annotations

import os
import sys
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QSpinBox,
    QWidget,
)

from k49desk.gui.common import settings

# key: default. QSettings (ini) hands values back as strings, so each is converted by type.
DEFAULTS: dict[str, Any] = {
    "epochs": 0, "batch_size": 0, "lr": 3e-3, "augment": True, "imbalance": "weights",
    "val_fraction": 0.1, "seed": 0, "device": "auto", "threads": 0,
}
IMBALANCE_LABELS = (("weights", "Class-weighted loss"), ("sampler", "Balanced sampler"),
                    ("none", "None"))


def _available_devices() -> list[tuple[str, str]]:
    """Auto, CPU, and the GPUs torch sees. Importing torch takes seconds: while the app is
    still importing it off the GUI thread, only auto/CPU are listed (refreshed when shown)."""
    out = [("auto", "Auto (GPU when present)"), ("cpu", "CPU")]
    torch = sys.modules.get("torch")
    if torch is None:
        return out
    if torch.cuda.is_available():
        out.append(("cuda", f"GPU: {torch.cuda.get_device_name(0)}"))
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        out.append(("mps", "GPU: Apple MPS"))
    return out


def load_saved() -> dict[str, Any]:
    """The last used settings (defaults for anything missing or unreadable)."""
    return settings.train_settings(DEFAULTS)


class TrainSettingsForm(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.epochs = QSpinBox()
        self.epochs.setRange(0, 500)
        self.epochs.setSpecialValueText("auto (sized to the data)")
        self.epochs.setToolTip("Passes over the training images. Auto (as `k49desk train`): "
                               "many passes over a small folder, 6 over full K49; the plan is "
                               "written to the log when training starts.")
        self.batch = QSpinBox()
        self.batch.setRange(0, 8192)
        self.batch.setSingleStep(32)
        self.batch.setSpecialValueText("auto")
        self.batch.setToolTip("Images per optimisation step. Auto: 64 below 60,000 training "
                              "images, else 128; larger batches are faster per image but may "
                              "need a higher rate.")
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(5)
        self.lr.setRange(1e-5, 1.0)
        self.lr.setSingleStep(5e-4)
        self.lr.setToolTip("Peak learning rate of the one-cycle schedule (AdamW). 0.003 works "
                           "for batch 128; scale it roughly with the batch size.")
        self.augment = QCheckBox("Small random distortions")
        self.augment.setToolTip("Augmentation: each training image is slightly rotated, shifted, "
                                "scaled and sheared. Helps the model generalise; costs ~10%.")
        self.imbalance = QComboBox()
        for key, label in IMBALANCE_LABELS:
            self.imbalance.addItem(label, key)
        self.imbalance.setToolTip(
            "K49's classes are imbalanced (ゑ has 392 training images, 31 classes 6000).\n"
            "Class-weighted loss: rare classes count more in the loss (recommended).\n"
            "Balanced sampler: draw batches with every class equally likely.\n"
            "None: plain loss; good plain accuracy, worse balanced accuracy.")
        self.val = QDoubleSpinBox()
        self.val.setDecimals(0)
        self.val.setRange(0, 50)
        self.val.setSingleStep(5)
        self.val.setSuffix(" %")
        self.val.setToolTip("Share of each class's training images held out to validate after "
                            "every epoch (the test split is never used for this).")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("Random seed for the split, the shuffling and the initial weights: "
                             "the same seed and settings give the same model.")
        self.device = QComboBox()
        for key, label in _available_devices():
            self.device.addItem(label, key)
        self.device.setToolTip("Where to train. Auto uses a GPU when one is present.")
        self.threads = QSpinBox()
        self.threads.setRange(0, max(os.cpu_count() or 1, 1))
        self.threads.setSpecialValueText("auto")
        self.threads.setToolTip("CPU threads for training (auto: PyTorch's default, usually "
                                "one per core). Fewer keeps the machine responsive.")
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        for label, w in (("Epochs", self.epochs), ("Batch size", self.batch),
                         ("Learning rate", self.lr), ("Augmentation", self.augment),
                         ("Class imbalance", self.imbalance), ("Validation", self.val),
                         ("Seed", self.seed), ("Device", self.device),
                         ("CPU threads", self.threads)):
            form.addRow(label, w)
            form.labelForField(w).setToolTip(w.toolTip())
        self.set_values(load_saved())

    def refresh_devices(self) -> None:
        """Re-list devices (GPUs appear once torch is imported), keeping the choice."""
        keep = self.device.currentData()
        if self.device.findData(self._wanted_device) < 0:  # e.g. "cuda" before torch loaded
            keep = self._wanted_device
        devices = _available_devices()
        if self.device.count() == len(devices):
            return
        self.device.clear()
        for key, label in devices:
            self.device.addItem(label, key)
        self.device.setCurrentIndex(max(self.device.findData(keep), 0))

    def form_tooltips(self) -> list[str]:
        """Every setting's tooltip (a practitioner hovering gets an explanation for each)."""
        return [w.toolTip() for w in (self.epochs, self.batch, self.lr, self.augment,
                                      self.imbalance, self.val, self.seed, self.device,
                                      self.threads)]

    def values(self) -> dict[str, Any]:
        return {
            "epochs": self.epochs.value(), "batch_size": self.batch.value(),
            "lr": round(self.lr.value(), 6), "augment": self.augment.isChecked(),
            "imbalance": self.imbalance.currentData(), "val_fraction": self.val.value() / 100,
            "seed": self.seed.value(), "device": self.device.currentData(),
            "threads": self.threads.value(),
        }

    def describe(self) -> str:
        """The settings as the form shows them ("CPU threads auto", not "threads 0")."""
        v = self.values()
        return ", ".join((
            f"epochs {v['epochs'] or 'auto'}", f"batch size {v['batch_size'] or 'auto'}",
            f"learning rate {v['lr']:g}",
            f"augmentation {'on' if v['augment'] else 'off'}",
            f"class imbalance: {self.imbalance.currentText()}",
            f"validation {round(100 * v['val_fraction'])}%", f"seed {v['seed']}",
            f"device {self.device.currentText()}",
            f"CPU threads {v['threads'] or 'auto'}"))

    def set_values(self, v: dict[str, Any]) -> None:
        v = {**DEFAULTS, **v}
        self.epochs.setValue(int(v["epochs"]))
        self.batch.setValue(int(v["batch_size"]))
        self.lr.setValue(float(v["lr"]))
        self.augment.setChecked(bool(v["augment"]))
        i = self.imbalance.findData(v["imbalance"])
        self.imbalance.setCurrentIndex(max(i, 0))
        self.val.setValue(round(100 * float(v["val_fraction"])))
        self.seed.setValue(int(v["seed"]))
        self._wanted_device = str(v["device"])
        i = self.device.findData(v["device"])  # a GPU remembered on another machine: auto
        self.device.setCurrentIndex(max(i, 0))
        self.threads.setValue(int(v["threads"]))

    def save(self) -> None:
        settings.set_train_settings(self.values())

    def config(self) -> Any:
        """A `TrainConfig` from the form (ValueError names the bad setting)."""
        from k49desk.core.training import TrainConfig

        v = self.values()  # 0 in the form: auto, None in the config (the schedule decides)
        return TrainConfig(**{**v, "epochs": v["epochs"] or None,
                              "batch_size": v["batch_size"] or None})
