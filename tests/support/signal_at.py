"""`python signal_at.py POINT SIGNAL factory-args...`: the real `factory` CLI, sending
itself SIGNAL right after the workspace step POINT of a keep (`keep`, `release_slot`,
`archive_branch`): the moment between moving the user's branch and saving the record."""

import os
import signal
import sys
import time

from factory_tui.cli import main
from factory_tui.engine.workspace import Workspace

point, name, *argv = sys.argv[1:]
original = getattr(Workspace, point)


def then_signal(self, *args, **kwargs):
    result = original(self, *args, **kwargs)
    os.kill(os.getpid(), getattr(signal, name))
    time.sleep(1)  # the signal lands here, inside the step's thread or after it
    return result


setattr(Workspace, point, then_signal)
sys.exit(main(argv))
