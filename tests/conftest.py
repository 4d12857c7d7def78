"""Make the test helpers in tests/ (browser.py, sweep_stub.py) importable, and keep the commands'
result cache (dse/cache.py) of this test session in a temporary directory, never the user's."""

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# set at import, before any test runs a command in this process or a subprocess (which inherits it)
os.environ["DSE_CACHE_DIR"] = tempfile.mkdtemp(prefix="dse-test-cache-")
atexit.register(shutil.rmtree, os.environ["DSE_CACHE_DIR"], ignore_errors=True)
