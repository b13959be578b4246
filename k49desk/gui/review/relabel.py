"""Key 3 on a review card: the app's one class input (gui/common/class_input.py), which the
Gallery's relabel uses too."""

from k49desk.gui.common.class_input import ERROR_COLOR, RelabelBar  # noqa: F401
