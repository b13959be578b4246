"""All Qt and pyqtgraph code: thin over k49desk.core."""
