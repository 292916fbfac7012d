"""Post-quantum suite benchmarks: `edbp-pq` beside the classical suite, in the same run.

Each PQ benchmark's baseline is its classical counterpart, so the ratio is the suite's cost:

- ``pq.key_delivery[hpke-xwing]`` / ``[ecdh-es-a128kw]``: the TAM side of one delivery's key
  step (``deploy.update``): the KeyVault unwraps the CEK from the class key and the TAM builds
  the device's encryption info — COSE-HPKE MLKEM768-X25519 versus ECDH-ES+A128KW on P-256.
  deliveries/s = 1 / time.
- ``pq.cek_unwrap[...]``: the Agent side (``deploy.unwrap_cek``) with the DAK.
- ``pq.sign[mldsa65]`` / ``[esp256]`` and ``pq.verify[...]``: one COSE_Sign1 over a 1 KiB
  payload (a device manifest's size), as the TSK, ASK and DSK sign and Agents and TAM verify.
- ``pq.deploy[pq]`` / ``[classical]`` (full runs): publish the next version and deploy it to one
  device end to end (every signature, evidence, key delivery, install, report).

Message sizes are not timed: ``edbp demo --suite pq`` prints them side by side and
``tests/cloud/test_pq_roles.py`` pins them under the protocol's limits.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import attrs

from edbp.bench import benchmark

_TA = uuid.uuid5(uuid.NAMESPACE_URL, "urn:edbp:bench:pq-ta").bytes


@attrs.define
class _Side:
    world: Any
    device: Any
    package: Any
    encryption: Any
    key: Any
    alg: Any
    counter: int = 1


@functools.lru_cache(maxsize=1)
def _sides() -> dict[str, _Side]:
    from edbp.reference.cloud.delivery import device_encryption_info
    from edbp.reference.device.keys import KeySuite
    from edbp.reference.device.world import World
    from edbp.reference.wire import pq
    from edbp.reference.wire.cose_algs import Alg

    pq.require()
    root = Path(tempfile.mkdtemp(prefix="edbp-bench-pq-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    out: dict[str, _Side] = {}
    for name, suite in (("classical", KeySuite.P256), ("pq", KeySuite.PQ)):
        w = World(root / name, seed=f"bench-pq-{name}", pq=True, record=False)
        dev = w.enrol("d", "gw", suite=suite)
        ta = w.build_ta(b"\x7fELF" + bytes(4096), _TA, 1)
        w.publish(ta, ta_uuid=_TA, sequence=1, class_name="gw", pq=suite.is_pq)
        package = w.tam.package(_TA, 1)
        enc = device_encryption_info(package, dev.agent.keys.dak_public, w.vault)
        key = w.pq_tsk if suite.is_pq else w.tsk
        alg = Alg.ML_DSA_65 if suite.is_pq else Alg.ESP256
        out[name] = _Side(w, dev, package, enc, key, alg)
    return out


def _classical() -> _Side:
    return _sides()["classical"]


def _pq() -> _Side:
    return _sides()["pq"]


def _deliver(side: _Side) -> None:
    from edbp.reference.cloud.delivery import device_encryption_info

    device_encryption_info(side.package, side.device.agent.keys.dak_public, side.world.vault)


def _unwrap(side: _Side) -> None:
    from edbp.reference.wire.cose_algs import Alg

    side.device.agent.keys.unwrap_cek(side.encryption, content_algs={Alg.A128GCM})


_PAYLOAD = bytes(range(256)) * 4  # 1 KiB, a device manifest's size


def _sign(side: _Side) -> bytes:
    from edbp.reference.wire.cose_sign import sign1

    return sign1(_PAYLOAD, side.key, side.alg).encode()


@functools.lru_cache(maxsize=2)
def _signed(name: str) -> tuple[_Side, bytes]:
    side = _sides()[name]
    return side, _sign(side)


def _verify(state: tuple[_Side, bytes]) -> None:
    from edbp.reference.wire.cose_sign import Sign1

    side, data = state
    Sign1.decode(data).verify(side.key.public(), algorithms={side.alg})


def _deploy(side: _Side) -> None:
    side.counter += 1
    seq = side.counter
    w = side.world
    ta = w.build_ta(b"\x7fELF" + bytes(4096) + seq.to_bytes(4, "big"), _TA, seq)
    w.publish(ta, ta_uuid=_TA, sequence=seq, class_name="gw", pq=side.device.agent.keys.suite.is_pq)
    if not w.deploy(side.device, _TA, seq).ok:
        raise RuntimeError("benchmark deploy failed")


@benchmark("pq.key_delivery[ecdh-es-a128kw]", setup=_classical)
def key_delivery_classical(side: _Side) -> None:
    _deliver(side)


@benchmark("pq.key_delivery[hpke-xwing]", baseline="pq.key_delivery[ecdh-es-a128kw]", setup=_pq)
def key_delivery_pq(side: _Side) -> None:
    _deliver(side)


@benchmark("pq.cek_unwrap[ecdh-es-a128kw]", setup=_classical)
def unwrap_classical(side: _Side) -> None:
    _unwrap(side)


@benchmark("pq.cek_unwrap[hpke-xwing]", baseline="pq.cek_unwrap[ecdh-es-a128kw]", setup=_pq)
def unwrap_pq(side: _Side) -> None:
    _unwrap(side)


@benchmark("pq.sign[esp256]", setup=_classical)
def sign_classical(side: _Side) -> None:
    _sign(side)


@benchmark("pq.sign[mldsa65]", baseline="pq.sign[esp256]", setup=_pq)
def sign_pq(side: _Side) -> None:
    _sign(side)


@benchmark("pq.verify[esp256]", setup=lambda: _signed("classical"))
def verify_classical(state: tuple[_Side, bytes]) -> None:
    _verify(state)


@benchmark("pq.verify[mldsa65]", baseline="pq.verify[esp256]", setup=lambda: _signed("pq"))
def verify_pq(state: tuple[_Side, bytes]) -> None:
    _verify(state)


@benchmark("pq.deploy[classical]", setup=_classical, quick=False)
def deploy_classical(side: _Side) -> None:
    _deploy(side)


@benchmark("pq.deploy[pq]", baseline="pq.deploy[classical]", setup=_pq, quick=False)
def deploy_pq(side: _Side) -> None:
    _deploy(side)
