"""Local emulators of the vendors' APIs, written from their documentation.

Never from our connectors, so that a connector's misreading shows up in tests.
"""
