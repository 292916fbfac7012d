"""`edbp ta`: placeholder until issue 4 builds it."""

from edbp.cli import not_built

command = not_built("ta", "Sign, encrypt and verify OP-TEE trusted application images as OP-TEE does.", "issue 4")
