"""Test doubles that exercise the protocol: dishonest providers for the attack suite and the demo.
Nothing in production imports this package."""
