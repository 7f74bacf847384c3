"""Empathy Studio: emotion category and intensity for help-seeker text.

The public API is re-exported here; see DESIGN in the README for the layout.
"""

__version__ = "0.1.0"
