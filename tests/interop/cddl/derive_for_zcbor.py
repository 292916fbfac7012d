"""Mechanically derives a zcbor-loadable CDDL from the published TEEP protocol CDDL and the SUIT
report CDDL (issue 15: zcbor validates edbp's honest TEEP messages against the published CDDL).

zcbor 0.9 cannot load either file as published. Each rewrite below is a separate, tested
function, applied in order, and each keeps exactly the same set of instances for every message
edbp emits (the argument for each is in its docstring and in tests/interop/cddl/PROVENANCE.md).
What cannot be expressed for zcbor is not silently dropped: it is named in ``NOT_EXPRESSED``,
and tests/interop/test_zcbor_teep.py checks it another way.

``python tests/interop/cddl/derive_for_zcbor.py`` rewrites ``teep-for-zcbor.cddl`` and
``suit-report-for-zcbor.cddl``; the test fails when the committed files differ from what these
functions make of the published files.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
INTEROP = HERE.parent
TEEP_SRC = INTEROP / "teep-protocol" / "draft-ietf-teep-protocol.cddl"
REPORT_SRC = INTEROP / "suit-report" / "draft-ietf-suit-report.cddl"
MTI_SRC = INTEROP / "suit-mti" / "draft-ietf-suit-mti.cddl"
TEEP_OUT = HERE / "teep-for-zcbor.cddl"
REPORT_OUT = HERE / "suit-report-for-zcbor.cddl"

#: constructs of the published files that the derived files do not state, and where the test
#: suite checks them instead (tests/interop/test_zcbor_teep.py)
NOT_EXPRESSED = {
    "teep-message = $teep-message-type .within teep-message-framework": (
        "zcbor has no .within: each message is validated against teep-message-framework too"
    ),
    "SUIT_Report_Protected /= ... .and SUIT_COSE_Profiles": (
        "zcbor has no .and, and the profiles of draft-ietf-suit-mti are generic rules "
        "(SUIT_COSE_Profile<authid, encid>) zcbor cannot read: the report's COSE algorithm is "
        "checked against the profiles' authentication algorithms in Python"
    ),
}

_RULE = re.compile(r"^([A-Za-z_$][\w$-]*)\s*=\s*(-?\d+)\s*(?:;.*)?$", re.M)


def int_constants(text: str) -> dict[str, int]:
    """``name = <integer>`` rules: the map keys (labels) the CDDL names."""
    return {m.group(1): int(m.group(2)) for m in _RULE.finditer(text)}


def rule_names(text: str) -> set[str]:
    return set(re.findall(r"^([A-Za-z_$][\w$-]*)\s*/{0,2}=", text, re.M))


def drop_within(text: str) -> str:
    """``A .within B`` -> ``A``. .within (RFC 9165) states that every instance of A is also an
    instance of B; it does not narrow A when that holds. Whether it holds for edbp's messages
    is checked separately (NOT_EXPRESSED)."""
    out, n = re.subn(r"(\$?[\w-]+) \.within [\w-]+", r"\1", text)
    assert n, "no .within: the published file changed, revisit the derivation"
    return out


def rename_colliding_array_labels(text: str) -> str:
    """Renames a ``name:`` member label of an array entry to ``name-member:`` when ``name`` is
    also a rule of the file (``err-code: err-code-values`` beside ``err-code = 23``). In an
    array a label is only a name for the reader (RFC 8610 section 3.5.1 gives it no part in
    matching), but zcbor resolves a label that names a rule as that rule, a map key, and then
    refuses a keyed array member. Labels directly inside maps, groups and control groups are
    left alone."""
    names = rule_names(text)
    out: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == ";":  # a comment runs to the end of the line
            j = text.find("\n", i)
            j = len(text) if j < 0 else j
            out.append(text[i:j])
            i = j
            continue
        if ch in "[{(":
            stack.append(ch)
        elif ch in "]})":
            stack.pop()
        if ch in "[,\n" and stack and stack[-1] == "[":
            m = re.match(r"(\s*)([A-Za-z][\w-]*)\s*:\s*", text[i + 1 :])
            if m and m.group(2) in names:
                out.append(f"{ch}{m.group(1)}{m.group(2)}-member: ")
                i += 1 + m.end()
                continue
        out.append(ch)
        i += 1
    return "".join(out)


def name_cbor_choices(text: str) -> str:
    """``bstr .cbor (A / B)`` -> ``bstr .cbor A-or-B`` with ``A-or-B = A / B`` added: the same
    type under a name, since zcbor does not parse a parenthesised type choice after .cbor."""
    found: dict[str, str] = {}

    def one(m: re.Match[str]) -> str:
        parts = [p.strip() for p in m.group(1).split("/")]
        name = "-or-".join(parts)
        found[name] = " / ".join(parts)
        return f"bstr .cbor {name}"

    out = re.sub(r"bstr \.cbor\s*\(\s*([\w-]+(?:\s*/\s*[\w-]+)+)\s*\)", one, text)
    extra = "".join(f"{name} = {choice}\n" for name, choice in sorted(found.items()))
    return out + ("\n; named by derive_for_zcbor.name_cbor_choices\n" + extra if extra else "")


def _matching(text: str, i: int) -> int:
    """Index of the bracket closing the one at ``i``."""
    depth = 0
    for j in range(i, len(text)):
        if text[j] in "[{(":
            depth += 1
        elif text[j] in "]})":
            depth -= 1
            if depth == 0:
                return j
    raise ValueError("unbalanced brackets")


def _split_top(body: str) -> list[str]:
    """The entries of a group body, split at its top-level commas."""
    parts, depth, cur = [], 0, ""
    for ch in body:
        if ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def sort_map_entries(text: str, keys: dict[str, int] | None = None) -> str:
    """Writes the entries of each multi-line map rule in the order of deterministic encoding
    (RFC 8949 section 4.2.1: integer keys ascending), entries whose key is not a named integer
    (extension sockets, ``* [+int] => ...``) last. CDDL maps are unordered, so the set of
    instances is unchanged; zcbor 0.9 matches map entries in the order the rule lists them,
    and edbp emits deterministic maps, which would otherwise not match."""
    keys = int_constants(text) if keys is None else keys

    def key_of(entry: str) -> tuple[int, int]:
        m = re.match(r"[?*+]?\s*([\w-]+)\s*=>", entry)
        if m is None or m.group(1) not in keys:
            return (1, 0)
        value = keys[m.group(1)]
        return (0, value if value >= 0 else (1 << 40) - value)

    out, i = [], 0
    while i < len(text):
        j = text.find("{", i)
        if j < 0:
            out.append(text[i:])
            break
        end = _matching(text, j)
        body = text[j + 1 : end]
        out.append(text[i : j + 1])
        if "\n" in body and ";" not in body:
            indent = re.match(r"\n([ \t]*)", body)
            pad = indent.group(1) if indent else "  "
            closing = (
                body[body.rstrip(" \t").rfind("\n") :]
                if body.rstrip(" \t").endswith("\n")
                else "\n"
            )
            entries = [sort_map_entries(e, keys) for e in _split_top(body)]
            entries.sort(key=key_of)
            out.append("\n" + ",\n".join(pad + e for e in entries) + closing)
        else:
            out.append(sort_map_entries(body, keys) if "{" in body else body)
        out.append("}")
        i = end + 1
    return "".join(out)


def derive_teep(published: str) -> str:
    text = drop_within(published)
    text = rename_colliding_array_labels(text)
    text = name_cbor_choices(text)
    text = sort_map_entries(text)
    return _HEADER.format(src="draft-ietf-teep-protocol.cddl") + text


def drop_tool_tweaks(text: str) -> str:
    """Drops the ``SUIT_Report_Tool_Tweak`` / ``SUIT_COSE_tool_tweak`` lines: they exist only to
    make the draft's build tool reach otherwise unreferenced rules and define no instance of
    any rule a message uses."""
    return re.sub(
        r"^SUIT_Report_Tool_Tweak /= .*\n|^SUIT_Report_Protected /= SUIT_COSE_tool_tweak\n",
        "",
        text,
        flags=re.M,
    )


def drop_and_profiles(text: str) -> str:
    """``X .and SUIT_COSE_Profiles`` -> ``X``: see NOT_EXPRESSED (checked in Python)."""
    out, n = re.subn(r" \.and SUIT_COSE_Profiles", "", text)
    assert n, "no .and SUIT_COSE_Profiles: the published file changed"
    return out


def optional_bare_socket(text: str) -> str:
    """A group socket written as a bare map entry (``$$SUIT_Report_Extensions`` with no
    occurrence) stands for the group of the socket's extensions; with none defined it is the
    empty group. zcbor treats an undefined bare socket as an error, so it is written ``*`` (zero
    or more of the socket's groups): the same set of instances while the socket is empty."""
    return re.sub(r"^(\s+)(\$\$[\w-]+)\s*$", r"\1* \2", text, flags=re.M)


def comma_between_entries(text: str) -> str:
    """Writes out the comma CDDL lets a group omit between two entries on separate lines
    (``=> [+ SUIT_Component_Capability]`` followed by a new entry); zcbor requires it."""
    return re.sub(r"(=> \[\+ SUIT_Component_Capability\])\s*\n", r"\1,\n", text)


def derive_report(published: str) -> str:
    text = drop_tool_tweaks(published)
    text = drop_and_profiles(text)
    text = rename_colliding_array_labels(text)
    text = optional_bare_socket(text)
    text = comma_between_entries(text)
    text = sort_map_entries(text)
    return _HEADER.format(src="draft-ietf-suit-report.cddl") + text


def mti_profile_names(mti: str) -> str:
    """The ``suit-sha256-* = [...]`` descriptor arrays of draft-ietf-suit-mti, which TEEP's
    ``$suit-cose-profile`` choices name; the generic rules of that file are not taken (see
    NOT_EXPRESSED)."""
    lines = re.findall(r"^suit-sha256-[\w-]+\s*=\s*\[[^\]]*\]\s*$", mti, re.M)
    assert len(lines) >= 4, "draft-ietf-suit-mti changed"
    return "\n".join(re.sub(r"\s+=\s+", " = ", ln) for ln in lines) + "\n"


_HEADER = (
    "; DERIVED FILE - do not edit. Made by tests/interop/cddl/derive_for_zcbor.py\n"
    "; from the published {src} (copied unchanged under tests/interop).\n"
    "; tests/interop/cddl/PROVENANCE.md lists each rewrite and why it keeps the same\n"
    "; instances.\n"
)


def outputs() -> dict[Path, str]:
    mti = mti_profile_names(MTI_SRC.read_text(encoding="utf-8"))
    teep = derive_teep(TEEP_SRC.read_text(encoding="utf-8"))
    teep += "\n; SUIT COSE profile descriptors named above (draft-ietf-suit-mti, unchanged)\n" + mti
    return {
        TEEP_OUT: teep,
        REPORT_OUT: derive_report(REPORT_SRC.read_text(encoding="utf-8")),
    }


def main() -> int:
    for path, text in outputs().items():
        path.write_text(text, encoding="utf-8")
        sys.stdout.write(f"wrote {path.name}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
