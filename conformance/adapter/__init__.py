"""The device adapter protocol (spec/adapter.md): how the harness reaches a device.

A device is anything that answers adapter requests: the in-process reference device, a
subprocess speaking frames over stdin/stdout (``ssh board edbp-shim`` reaches real hardware), or
a TCP peer. The harness only ever sees ``DeviceClient``.
"""

from edbp.conformance.adapter.client import DeviceClient, DeviceInfo
from edbp.conformance.adapter.framing import MAX_FRAME, FrameReader, encode_frame
from edbp.conformance.adapter.transport import (
    InProcessTransport,
    SubprocessTransport,
    TcpTransport,
    Transport,
    open_transport,
)

__all__ = [
    "MAX_FRAME",
    "DeviceClient",
    "DeviceInfo",
    "FrameReader",
    "InProcessTransport",
    "SubprocessTransport",
    "TcpTransport",
    "Transport",
    "encode_frame",
    "open_transport",
]
