"""The UI-free core: models, events, state, git, the cycle and the keep/revert rule.

Nothing here imports Textual; a test proves it.
"""
