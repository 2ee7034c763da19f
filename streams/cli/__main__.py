"""`python -m streams.cli`: the `brandpulse` command."""

import sys

from streams.cli import main

sys.exit(main())
