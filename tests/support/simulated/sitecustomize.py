"""Imported by Python at start-up when this folder is on PYTHONPATH (see
tests/support/otherplatforms.py's ``environment``): plays the platform it names."""

import os
import sys

_platform = os.environ.get("CHAT_SIMULATED_PLATFORM")
if _platform:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from otherplatforms import install

    install(_platform)
    del sys.path[0]
