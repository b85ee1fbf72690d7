"""`claimbridge serve`'s own process handling, in-process."""
from __future__ import annotations

import os
import signal

from infra.local.cli import stop_on_sigterm


def test_the_first_sigterm_stops_the_stack_and_a_second_cannot_reenter_the_handler():
    """`make run` stopped with its process group gets SIGTERM twice (make passes its own on): the
    second, handled inside the first's Event.set(), deadlocked on the Event's lock."""
    previous = signal.getsignal(signal.SIGTERM)
    try:
        stop = stop_on_sigterm()
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(5)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN  # the second signal finds no handler to re-enter
        os.kill(os.getpid(), signal.SIGTERM)  # and is ignored: this process goes on
    finally:
        signal.signal(signal.SIGTERM, previous)
