"""Pause/resume a training run from outside without losing its time budget.

The runs' learning-rate schedules decay over a budget of *training* seconds measured on the
wall clock, so a `kill -STOP` (say, to take a quiet benchmark on the same two cores) would
eat into the budget. Instead, `kill -USR1 PID` asks the run to pause at the next step and
another `kill -USR1 PID` resumes it; the time spent paused is returned by wait_if_paused()
so that the caller leaves it out of its training time.
"""
import signal
import time

_paused = False


def _toggle(signum, frame):
    global _paused
    _paused = not _paused


def install():
    signal.signal(signal.SIGUSR1, _toggle)


def wait_if_paused():
    """Blocks while paused; returns the seconds spent waiting (0.0 when not paused)."""
    if not _paused:
        return 0.0
    t0 = time.time()
    print("paused (SIGUSR1 resumes)", flush=True)
    while _paused:
        time.sleep(0.2)
    waited = time.time() - t0
    print(f"resumed after {waited:.0f}s", flush=True)
    return waited
