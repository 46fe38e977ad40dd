"""What a model is: its spec, the data a featurizer hands a backend, the task and backend contracts,
the NumPy reference, metrics and the mobile export contract."""
