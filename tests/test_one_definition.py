"""Every setting is written once (#23): the registry stays torch-free, a bound changed in its one definition
reaches every interface, and no range or default of an option is written a second time."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_style_registry_does_not_import_torch():
    """The registry ranks styles by the bars' numbers (`nst_core.bars`), not by loading the judge."""
    code = (
        "import sys, nst_core.styles.registry as r; r.default_style();"
        "import nst_core.bars, nst_core.options;"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout
