"""``python -m facesr.cli ...`` (e.g. under ``torchrun``): the ``facesr`` command line."""
import sys

from . import main

sys.exit(main())
