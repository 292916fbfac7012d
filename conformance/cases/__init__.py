"""The conformance cases, collected by pytest with ``--pyargs edbp.conformance.cases``.

Every case carries ``@pytest.mark.edbp_case`` metadata (stable id, properties, flow, suite,
needed capabilities) and talks to the device only through the ``edbp_device`` fixture.
"""
