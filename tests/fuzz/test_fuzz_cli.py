"""Every CLI that reads a file, on mutated files (issue 16): the command either succeeds or
prints one coded line (``edbp: error <code> <NAME>``, exit 1) or a usage error (exit 2);
never a traceback. The CLI runs in this process through ``edbp.cli.main``, exactly as the
``edbp`` script runs it, so an uncaught exception reaches the checks of ``fuzzing.run_one``.
"""

from __future__ import annotations

import base64
import contextlib
import io
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import fuzzing
import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st

from edbp.cli import main

FUZZ, CBOR_SEEDS, CPK_SEEDS = fuzzing.FUZZ, fuzzing.CBOR_SEEDS, fuzzing.CPK_SEEDS
TA_SEEDS, TA_ROOT, _mutate_cpk = fuzzing.TA_SEEDS, fuzzing.TA_ROOT, fuzzing.mutate_cpk
#: the CLI's one-line error; ``edbp ta verify`` words a rejected image as OP-TEE's loader does
ONE_CODED_LINE = re.compile(r"^(edbp: error \d+ [A-Z0-9_]+|REJECTED [A-Z0-9_]+ \(\d+\))(: .*)?$")

WORK = Path(tempfile.mkdtemp(prefix="edbp-fuzz-cli-"))
CLASS_KEY = WORK / "class.key"
CLASS_KEY.write_bytes(base64.b64encode(b"k" * 32))
TA_KEY = WORK / "root.pem"
TA_KEY.write_bytes(
    TA_ROOT.public_bytes(  # type: ignore[union-attr]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
)


def cli(*argv: str) -> Callable[[bytes], None]:
    """``edbp *argv`` with ``{}`` replaced by a file holding the input."""

    def run(data: bytes) -> None:
        path = WORK / "input"
        path.write_bytes(data)
        args = [str(path) if a == "{}" else a for a in argv]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(args)
                status = 0
            except SystemExit as exc:
                status = exc.code if isinstance(exc.code, int) else 1
        text = err.getvalue()
        assert "Traceback" not in text, text
        assert status in (0, 1, 2), (status, text)
        if status == 1:
            lines = text.strip().splitlines()
            assert len(lines) == 1 and ONE_CODED_LINE.match(lines[0]), text
        # exit 2 is click's usage error (one "Error: ..." line after the usage)

    return run


CLI_TARGETS: dict[str, tuple[Callable[[bytes], None], list[bytes], str]] = {
    "cli-inspect": (cli("inspect", "{}"), CBOR_SEEDS, "cbor"),
    "cli-inspect-lenient": (cli("inspect", "--lenient", "{}"), CBOR_SEEDS, "cbor"),
    "cli-cpk-inspect": (cli("cpk", "inspect", "--json", "{}"), CPK_SEEDS, "cpk"),
    "cli-cpk-inspect-strict": (cli("cpk", "inspect", "--strict", "{}"), CPK_SEEDS, "cpk"),
    "cli-cpk-verify": (
        cli("cpk", "verify", "{}", "--key-file", str(CLASS_KEY)),
        CPK_SEEDS,
        "cpk",
    ),
    "cli-cpk-verify-lenient": (cli("cpk", "verify", "--lenient", "{}"), CPK_SEEDS, "cpk"),
    "cli-ta-verify": (cli("ta", "verify", "{}", "--key", str(TA_KEY)), TA_SEEDS, "bytes"),
}


@pytest.mark.parametrize("target", sorted(CLI_TARGETS))
def test_cli_reads_mutated_files(target: str) -> None:
    fn, seeds, kind = CLI_TARGETS[target]

    @FUZZ
    @given(st.sampled_from(seeds), st.data())
    def run(seed: bytes, data: st.DataObject) -> None:
        if kind == "cbor":
            mutated = fuzzing.mutate_cbor(seed, data)
        elif kind == "cpk":
            mutated = _mutate_cpk(seed, data)
        else:
            mutated = fuzzing.mutate_bytes(seed, data)
        fuzzing.run_one(target, fn, mutated)

    run()


KEY_FILES = [CLASS_KEY.read_bytes(), TA_KEY.read_bytes()]


SEED_CPK = WORK / "seed.cpk"
SEED_CPK.write_bytes(CPK_SEEDS[0])
SEED_TA = WORK / "ta.img"
SEED_TA.write_bytes(TA_SEEDS[0])
KEY_TARGETS = {
    "cli-key-file": cli("cpk", "verify", str(SEED_CPK), "--key-file", "{}"),
    "cli-trust-anchor": cli("cpk", "verify", str(SEED_CPK), "--trust-anchor", "{}"),
    "cli-ta-key": cli("ta", "verify", str(SEED_TA), "--key", "{}"),
}


@settings(FUZZ)
@given(st.sampled_from(KEY_FILES), st.data())
def test_cli_key_files(seed: bytes, data: st.DataObject) -> None:
    """The key and certificate files the commands read: class key, TA key, trust anchor."""
    mutated = fuzzing.mutate_bytes(seed, data)
    for target, fn in KEY_TARGETS.items():
        fuzzing.run_one(target, fn, mutated)


ALL = {**{k: v[0] for k, v in CLI_TARGETS.items()}, **KEY_TARGETS}


@pytest.mark.parametrize(
    ("target", "path"),
    [e for e in fuzzing.corpus_inputs() if e[0] in ALL],
    ids=lambda v: v if isinstance(v, str) else v.name,
)
def test_corpus_replays(target: str, path: Path) -> None:
    """Every input kept in the corpus for a CLI target still gets a coded answer."""
    fuzzing.run_one(target, ALL[target], path.read_bytes())
