"""Screens: each composes widgets; none reaches into another."""
