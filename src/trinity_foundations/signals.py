"""How a script stops: Ctrl-C and SIGTERM end in one line, from the first import on.

A lesson imports this module before anything else. Loading JAX takes about a
second, and a Ctrl-C in that second would otherwise print a KeyboardInterrupt
traceback from deep inside the import machinery, or be swallowed by a
callback JAX runs during garbage collection ("Exception ignored in ...") so
that the lesson carries on and exits 0. Until `cli.entry` takes over, Ctrl-C
therefore ends the process at once with "interrupted", exit 130: nothing has
been started that needs cleaning up.

`take_over` (called by `cli.entry`) hands Ctrl-C back to Python's
KeyboardInterrupt and makes SIGTERM raise `Terminated`, a KeyboardInterrupt,
so that the same `finally` blocks run for both: lesson 22 stops its check
processes and removes its temporary folder, and a checkpoint being written
leaves no `.npz.tmp` behind. A Ctrl-C that a garbage-collection callback
swallows after that is delivered again (`deliver_again`).
"""

from __future__ import annotations

import _thread
import os
import signal
import sys
import threading
from pathlib import Path

SCRIPT_FOLDERS = ("lessons", "benchmarks")  # scripts whose first import is this module


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises KeyboardInterrupt, so the same cleanup runs."""


def _exit_while_loading(signum, frame) -> None:
    os.write(2, b"\ninterrupted\n")
    os._exit(128 + signum)


def _raise_terminated(signum, frame) -> None:
    raise Terminated


def _install(signum: int, handler) -> None:
    """Set a handler, except off the main thread (Python allows none there) and for a
    signal the caller chose to ignore (a background job of a shell ignores Ctrl-C)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signum) is not signal.SIG_IGN:
        signal.signal(signum, handler)


def run_as_script(main_file: str | None) -> bool:
    """Whether the running program (its `__main__` file) is a lesson or a benchmark.

    Only then is Ctrl-C made to exit at once: a test runner that imports a
    lesson keeps its own handling of Ctrl-C.
    """
    return bool(main_file) and Path(main_file).resolve().parent.name in SCRIPT_FOLDERS


def guard_loading() -> None:
    """While the script's imports load: Ctrl-C ends the process with one line, exit 130."""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if run_as_script(main_file):
        _install(signal.SIGINT, _exit_while_loading)


def deliver_again(unraisable) -> None:
    """sys.unraisablehook: a Ctrl-C or SIGTERM raised inside a callback (JAX runs one
    during garbage collection) is "ignored" there, and the run would go on; deliver
    it again to the main thread, where it stops the run as it should."""
    stop = unraisable.exc_value
    if isinstance(stop, KeyboardInterrupt):
        _thread.interrupt_main(signal.SIGTERM if isinstance(stop, Terminated) else signal.SIGINT)
    else:
        sys.__unraisablehook__(unraisable)


def take_over() -> None:
    """From here on Ctrl-C raises KeyboardInterrupt and SIGTERM raises Terminated."""
    _install(signal.SIGINT, signal.default_int_handler)
    _install(signal.SIGTERM, _raise_terminated)
    sys.unraisablehook = deliver_again


guard_loading()
