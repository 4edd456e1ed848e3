"""Scoring: dimensions, composite, guards and the cache. Imports only the engine's models."""
