"""``python -m sslteach`` (and ``torchrun -m sslteach``) runs the command line."""

import sys

from sslteach.cli import main

sys.exit(main())
