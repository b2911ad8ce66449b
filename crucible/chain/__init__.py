"""Talking to the market contract: deployment file, RPC, keys and signing, revert decoding, the
typed market bindings, events and ether units."""
