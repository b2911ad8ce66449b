"""The `crucible` command: wires the role CLIs together, the demo and the key commands. The only
package allowed to import every role."""
