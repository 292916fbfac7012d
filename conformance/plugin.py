"""pytest plugin entry point of the conformance suite (filled by the conformance issue).

Registered under the ``pytest11`` entry point so that ``edbp conformance run`` and a vendor's
own pytest invocation load the same options. It adds nothing unless a conformance run asks.
"""
