"""The harness's post-quantum side (`edbp-pq`, spec/protocol.md 4.1): ML-DSA-65 TAM and Author
keys, PQ test keys for the device, and the PQ forms of the TAM's messages.

Why apart from ``Cloud``/``Harness``: the suite is optional and needs ``cryptography`` >= 50;
nothing here is built unless a ``pq.*`` case runs against a device that declares the suite, so
the classical run's keys, packages and bytes are unchanged.
"""

from __future__ import annotations

from typing import Any

import attrs
from edbp.conformance.harness.cloud import TA_UUID, Cloud, TaImage
from edbp.conformance.harness.session import Harness, Query, Target, agent_nonce_of
from edbp.reference.build.author import Author, Published
from edbp.reference.cloud.delivery import Delivery, build_delivery
from edbp.reference.wire import pq, teep
from edbp.reference.wire.cose_algs import Alg
from edbp.reference.wire.cose_key import CoseKey

__all__ = ["PQ_SUITE_NAMES", "PqKit"]

#: what a device declares in ``hello`` to run the ``pq.*`` cases (spec/adapter.md)
PQ_SUITE_NAMES = ("suit-sha256-mldsa65-hpke-xwing-a128gcm", "teep-sign1-mldsa65")

_KITS: dict[int, tuple[CoseKey, CoseKey, Author, dict[Any, Published]]] = {}


def _akp(alg: Alg, rng: Any) -> CoseKey:
    key = CoseKey.generate_akp(alg, rng)
    return attrs.evolve(key, kid=key.thumbprint())


def _cloud_side(cloud: Cloud) -> tuple[CoseKey, CoseKey, Author, dict[Any, Published]]:
    """The run's PQ TSK, ASK and Author (one per run, like the classical ones)."""
    if id(cloud) not in _KITS:
        rng = cloud.rng.fork("pq")
        tsk, ask = _akp(Alg.ML_DSA_65, rng.fork("tsk")), _akp(Alg.ML_DSA_65, rng.fork("ask"))
        author = Author(cloud.vault, cloud.registry, ask, Alg.ML_DSA_65, rng=rng.fork("author"))
        _KITS[id(cloud)] = (tsk, ask, author, {})
    return _KITS[id(cloud)]


class PqKit:
    """One case's PQ view of the device: run ``provision`` first."""

    def __init__(self, harness: Harness) -> None:
        pq.require()
        self.h = harness
        self.tsk, self.ask, self._author, self._published = _cloud_side(harness.cloud)
        rng = harness.rng.fork("pq-device")
        self._dak = _akp(Alg.EDBP_HPKE_XWING_KE, rng.fork("dak"))
        self._dsk = _akp(Alg.ML_DSA_65, rng.fork("dsk"))

    def provision(self, *, legacy_tam: bool = False, legacy_author: bool = False) -> None:
        """PQ test keys and the PQ anchors; ``legacy_*`` also leaves the run's classical TSK /
        ASK among the anchors (a device migrated to PQ that kept an old key: P14 says it
        still takes nothing classical)."""
        self.h.provision(
            [self.tsk, *([self.h.cloud.tsk] if legacy_tam else [])],
            [self.ask, *([self.h.cloud.ask] if legacy_author else [])],
            test_keys={"dak": self._dak.encode(), "dsk": self._dsk.encode()},
        )
        self.h.read_identity()

    # ------------------------------------------------------------------ the TAM's messages

    def sign(self, msg: teep.TeepMessage, key: CoseKey | None = None, alg: int = -49) -> bytes:
        key = key or self.tsk
        return teep.sign(msg, key, alg, kid=key.thumbprint())

    def query_request(
        self, *, key: CoseKey | None = None, alg: int = -49, offer_pq: bool = True
    ) -> tuple[bytes, bytes, bytes]:
        token, challenge = self.h._fresh("token", 16), self.h._fresh("challenge", 32)
        suites: dict[str, Any] = {}
        if offer_pq:
            suites = {
                "supported_cipher_suites": (teep.CIPHER_SUITE_MLDSA65,),
                "supported_suit_cose_profiles": (teep.SUIT_PROFILE_PQ,),
            }
        msg = teep.QueryRequest(
            token=token,
            challenge=challenge,
            freshness_mechanisms=(teep.Freshness.NONCE,),
            versions=(0,),
            data_item_requested=int(teep.DataItem.ATTESTATION),
            **suites,
        )
        return token, challenge, self.sign(msg, key, alg)

    def query(self, step: str = "pq: deploy.query_request") -> Query:
        token, challenge, request = self.query_request()
        got = self.h.deliver(request, step)
        return Query(token, challenge, request, got.replies, got.code, agent_nonce_of(got.replies))

    def publish(self, sequence: int) -> Published:
        ta = TaImage() if self.h.ta_check else None
        key = (self.h.vendor_id, self.h.class_id, sequence, ta)
        if key not in self._published:
            class_key = "class-" + self.h.class_id.hex()
            if not self.h.cloud.vault.exists(class_key):
                self.h.cloud.vault.create_class_key(class_key)
            self._published[key] = self._author.publish(
                self.h.cloud.image(TA_UUID, sequence, ta),
                ta_uuid=TA_UUID,
                sequence=sequence,
                vendor_id=self.h.vendor_id,
                class_id=self.h.class_id,
                class_key_id=class_key,
                repository="conformance/pq-author" + ("" if ta is None else "/ta"),
            )
        return self._published[key]

    def delivery(
        self,
        published: Published,
        *,
        key: CoseKey | None = None,
        alg: Alg = Alg.ML_DSA_65,
        dak: CoseKey | None = None,
    ) -> Delivery:
        """The device envelope: COSE-HPKE to the device's DAK (or ``dak``), signed ``alg``."""
        return build_delivery(
            published.package,
            Target(self.h.ueid, dak or self.h.dak),
            self.h.cloud.vault,
            key or self.tsk,
            alg,
            self.h.rng.fork(f"pq-delivery/{self.h._fresh('d', 8).hex()}"),
        )

    def update(self, published: Published, q: Query, envelope: bytes | None = None) -> bytes:
        env = envelope if envelope is not None else self.delivery(published).envelope
        return self.sign(teep.Update(token=q.token, manifest_list=(env,), agent_nonce=q.nonce))
