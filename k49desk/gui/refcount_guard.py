"""Work around a PySide6 6.12.0 refcount bug that aborts the process after a few thousand calls.

With PySide6/shiboken6 6.12.0 on CPython 3.11, every binding that returns None (all void
methods: `QPainter.setFont`, `QWidget.setEnabled`, ...) and `Signal.emit` (returns a bool)
hand back the singleton without taking a reference. Each call therefore steals one reference
from None/True/False, and once a count reaches zero CPython aborts with "Fatal Python error:
none_dealloc: deallocating None" (or bool_dealloc). A gallery repaint makes ~1,500 such calls,
so the app died within seconds of scrolling.

CPython 3.12+ makes these singletons immortal, which is exactly the cure; on older versions we
emulate it by adding 2**40 references once (at a million leaked calls per second that lasts
12 days). The probe runs only the calls known to leak, and the fix is applied only if a leak is
actually measured, so a fixed PySide6 release leaves the interpreter untouched.
"""

from __future__ import annotations

import ctypes
import sys

_PAD = 1 << 40
_installed = False


def leaks_references(calls: int = 64) -> bool:
    """True when PySide6 void calls / signal emits steal references from None/True/False."""
    from PySide6.QtCore import QObject

    o = QObject()
    before = (sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False))
    for _ in range(calls):
        o.setObjectName("probe")
        o.objectNameChanged.emit("probe")
    after = (sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False))
    # Normal code can move the counts by a few; the bug loses one per call.
    return any(b - a >= calls for b, a in zip(before, after, strict=True))


def install() -> bool:
    """Pin None/True/False if this PySide6 leaks their references; True if it did so."""
    global _installed
    if _installed:
        return True
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return False  # immortal singletons (PEP 683): nothing can reach zero
    if not leaks_references():
        return False
    for obj in (None, True, False):
        # ob_refcnt is the first field of every CPython object (a Py_ssize_t).
        ctypes.c_ssize_t.from_address(id(obj)).value += _PAD
    _installed = True
    return True
