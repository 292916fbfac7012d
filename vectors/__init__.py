"""edbp.vectors: the generated CBOR/JSON test vectors, shipped as package data."""
