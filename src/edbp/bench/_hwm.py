"""Run a Python program and record its peak resident set (``VmHWM``) when it exits.

Usage: ``python .../_hwm.py REPORT (script PATH | module NAME | call MOD:FUNC | none) [ARGS]``.

Why not ``ru_maxrss`` from ``wait4``: on Linux a child's ``ru_maxrss`` starts from its
parent's resident set at fork (and ``vfork``/``exec`` keep it), so a child of a large
benchmark process reports the parent's size. ``VmHWM`` belongs to the memory map the program
itself runs in (a fresh one after ``exec``), so it is the program's own peak. The program runs
unmodified, in this interpreter, through ``runpy``; this file is run by path, so it imports
nothing of edbp itself (``none`` measures a bare interpreter the same way).
"""

import atexit
import json
import runpy
import sys


def _hwm() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    report, kind, *rest = sys.argv[1:]

    def write() -> None:
        with open(report, "w") as out:
            json.dump({"vm_hwm": _hwm()}, out)

    atexit.register(write)
    if kind == "none":
        return
    target, *args = rest
    sys.argv = [target, *args]
    if kind == "script":
        sys.path.insert(0, target.rsplit("/", 1)[0])
        runpy.run_path(target, run_name="__main__")
    elif kind == "call":
        import importlib

        module, func = target.split(":")
        sys.exit(getattr(importlib.import_module(module), func)())
    else:
        runpy.run_module(target, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
