"""`python -m empathy_studio.cli`: what the job runner and the warmer start."""

import sys

from . import main

sys.exit(main())
