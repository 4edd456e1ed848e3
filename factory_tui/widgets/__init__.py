"""Widgets: each renders events and models, and knows nothing of the engine's internals."""
