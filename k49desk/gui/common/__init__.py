"""Shared GUI plumbing: state, tasks, errors, settings, fonts, widgets, the panel base."""
