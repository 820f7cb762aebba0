"""The stores of a snapshot (warehouse, knowledge graph), the call graph and its algorithms."""
