"""edbp.spec: the normative CDDL and spec documents, shipped as package data."""
