"""`python -m nst_core.train ...` (and `torchrun ... -m nst_core.train ...`); `python -m nst_core.train arbitrary
...` trains the arbitrary-style network instead of one style."""

import sys

if sys.argv[1:2] == ["arbitrary"]:
    from .arbitrary import main as arbitrary_main

    sys.exit(arbitrary_main(sys.argv[2:]))

from . import main

sys.exit(main())
