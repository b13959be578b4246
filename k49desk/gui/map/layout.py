"""The Map panel's widgets and keys (a mixin of MapPanel): the tool bar, the progress strip,
the message page shown while there is no map, the view and its legend."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from k49desk.gui.common.widgets import DemoBanner, ElidedLabel
from k49desk.gui.map.colours import MODES
from k49desk.gui.map.legend import HoverCard, Legend
from k49desk.gui.map.view import MapView

SPLIT_CHOICES = (("train", "Train"), ("test", "Test"), ("both", "Train + test"))
TOOL_BUTTONS = (("pan", "Pan", "P", "Drag to pan, wheel to zoom (P)"),
                ("rect", "Rectangle", "R", "Drag a rectangle to select (R)"),
                ("lasso", "Lasso", "L", "Draw around points to select them (L)"))
GESTURES = ("Shift+drag: add a lasso · Ctrl+drag: remove · click: one image · "
            "double-click: open it in the Gallery")


class MapLayout:
    """Methods of MapPanel; not usable on its own."""

    def build_ui(self) -> None:
        self.demo_banner = DemoBanner()
        self.split_combo = QComboBox()
        for key, text in SPLIT_CHOICES:
            self.split_combo.addItem(text, key)
        self.split_combo.setToolTip("Which images the map shows")
        self.colour_combo = QComboBox()
        for key, text in MODES:
            self.colour_combo.addItem(text, key)
        self.colour_combo.setToolTip("What the colours mean")
        self.tool_buttons: dict[str, QToolButton] = {}
        group = QButtonGroup(self)
        for key, text, _k, tip in TOOL_BUTTONS:
            b = QToolButton()
            b.setText(text)
            b.setCheckable(True)
            b.setToolTip(f"{tip}\n{GESTURES}")
            b.clicked.connect(lambda _=False, k=key: self.set_tool(k))
            group.addButton(b)
            self.tool_buttons[key] = b
        self.tool_buttons["pan"].setChecked(True)
        self.fit_button = QPushButton("Fit")
        self.fit_button.setToolTip("Show every point (F)")
        self.gallery_button = QPushButton("Show in Gallery")
        self.gallery_button.setToolTip("Open the selected images in the Gallery, all "
                                       "selected, to annotate them (Enter)")
        self.gallery_button.setEnabled(False)
        self.selection_label = QLabel()
        self.selection_label.setStyleSheet("color: #1d4ed8;")
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Points:"))
        bar.addWidget(self.split_combo)
        bar.addSpacing(6)
        bar.addWidget(QLabel("Colour:"))
        bar.addWidget(self.colour_combo)
        bar.addSpacing(10)
        for b in self.tool_buttons.values():
            bar.addWidget(b)
        bar.addWidget(self.fit_button)
        bar.addSpacing(10)
        bar.addWidget(self.gallery_button)
        bar.addWidget(self.selection_label, 1)

        self.strip_label = ElidedLabel()
        self.strip_bar = QProgressBar()
        self.strip_bar.setMaximumWidth(220)
        self.strip_bar.setTextVisible(False)
        self.strip_button = QPushButton()
        strip = QHBoxLayout()
        strip.addWidget(self.strip_label, 1)
        strip.addWidget(self.strip_bar)
        strip.addWidget(self.strip_button)

        self.message = QLabel()
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setStyleSheet("font-size: 15px; color: #4b5563;")
        self.view = MapView()
        self.view.set_tool("pan")
        self.legend = Legend()
        self.hover_card = HoverCard(self.view)
        body = QWidget()
        row = QHBoxLayout(body)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.view, 1)
        row.addWidget(self.legend)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.message)
        self.pages.addWidget(body)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.demo_banner)
        lay.addLayout(bar)
        lay.addLayout(strip)
        lay.addWidget(self.pages, 1)
        self._set_strip("", "")
        self.demo_banner.follow(self.state.dataset)
        for keys, fn in ((("P",), lambda: self.set_tool("pan")),
                         (("R",), lambda: self.set_tool("rect")),
                         (("L",), lambda: self.set_tool("lasso")),
                         (("F",), lambda: self.view.fit()),
                         (("Z",), lambda: self.view.fit(self.selected_rows)
                          if self.selected_rows.size else None),
                         (("Return", "Enter"), self.show_in_gallery),
                         (("Escape",), self.clear_selection)):
            for k in keys:
                sc = QShortcut(QKeySequence(k), self)
                sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
                sc.activated.connect(fn)

    def _set_strip(self, text: str, button: str, busy: bool = False,
                   fraction: float | None = None) -> None:
        """The line under the tool bar: what is shown or being computed, and its button."""
        self.strip_label.setText(text)
        self.strip_bar.setVisible(busy)
        if busy:
            if fraction is None:
                self.strip_bar.setRange(0, 0)
            else:
                self.strip_bar.setRange(0, 1000)
                self.strip_bar.setValue(int(1000 * fraction))
        self.strip_button.setText(button)
        self.strip_button.setVisible(bool(button))

    def _show_message(self) -> None:
        """No map yet: say why (no folder, no model, model outputs being computed)."""
        st = self.state
        if st.dataset is None:
            text, button = "Open a data folder to see its map.", ""
        elif st.model is None:
            text = ("The map places images by what a model sees in them.\n"
                    "Load a model (Model menu) or train one (Train tab).")
            button = ""
        elif st.outputs.busy:
            text = "Running the model over every image (once per model and folder)…"
            u = st.outputs.last_progress
            self._set_strip(text if u is None else f"{text} {u.text}", "Cancel", busy=True,
                            fraction=None if u is None else u.fraction)
            self.message.setText(text)
            self.pages.setCurrentIndex(0)
            return
        else:
            text, button = "The map appears here when this tab is shown.", "Compute map"
        self.message.setText(text)
        self.pages.setCurrentIndex(0)
        self._set_strip("", button)
