"""What every party must compute identically: the job spec, hashing, Merkle trees, checkpoints,
determinism profiles and datasets. Imports nothing from the chain, the store or the devnet."""
