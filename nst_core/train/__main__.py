"""`python -m nst_core.train ...` (and `torchrun ... -m nst_core.train ...`)."""

import sys

from . import main

sys.exit(main())
