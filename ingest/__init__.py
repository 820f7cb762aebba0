"""Reading operator exports into published snapshots: contract, mapping, validation, quarantine."""
