"""The Map panel (issue 13): every image as a point of a 2D map of the model's embeddings."""
