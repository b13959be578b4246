"""Headless core of k49desk: numpy/pandas/torch only, never Qt."""
