"""Empathy Studio: emotion category and intensity for help-seeker text, rated, modelled and compared.

Start from `empathy_studio.services.Studio` (what the app and the CLI call) or
the `empathy-studio` command; the README's Layout section lists every module
and the import rules between them.
"""

__version__ = "0.1.0"
