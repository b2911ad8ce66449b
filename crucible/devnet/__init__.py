"""Local development network: anvil and IPFS processes, the project's tools, contract builds and
deployment. Used by the `crucible devnet` commands, the demo and the tests."""
