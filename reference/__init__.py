"""edbp.reference: the wire layer and the reference roles (build, cloud, device)."""
