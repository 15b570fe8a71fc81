"""The model side: the multi-task model, architectures, weighting, strategies, training."""
