"""Content-addressed artifacts: the IPFS client and the validating artifact store on top of it."""
