"""`python -m empathy_studio`: the command line (what `accelerate launch -m empathy_studio score ...` runs in each process)."""

import sys

from .cli import main

sys.exit(main())
