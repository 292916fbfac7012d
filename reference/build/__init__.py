"""edbp.reference.build: the Author pipeline and the package registries it publishes to."""
