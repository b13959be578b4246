"""Draw > "Find images like my drawing": the images of the open folder nearest to the drawing
by the model's embedding (gui/common/similar_strip.py). The drawing is the 28x28 image the
model sees (inference.preprocess, as recognition uses it), embedded with
core.outputs.embed_images on the strip's thread. Once shown, the strip follows the drawing:
every new recognition searches again. A mixin of DrawPanel."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from k49desk.gui.common.similar_strip import SimilarStrip


class SimilarDrawMixin:
    """Methods of DrawPanel; not usable on its own."""

    def _build_similar(self) -> QWidget:
        self.similar = SimilarStrip(self.state, self.tasks, slot="similar",
                                    button_text="Find images like my drawing")
        self.similar.find_button.setToolTip(
            "The images of the open folder nearest to your drawing by the model's embedding "
            "(cosine), in train and test")
        self.predictions_updated.connect(self._drawing_for_similar)
        return self.similar

    def _drawing_for_similar(self) -> None:
        img = self.last_image28
        self.similar.set_drawing(img if img is not None and img.any() else None)

    def find_like_drawing(self) -> None:
        """Search for the drawing as it is now (the button does the same)."""
        self._drawing_for_similar()
        self.similar.find()
