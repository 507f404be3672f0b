"""Minimum Importance Pruning: a search over the BPE space (`space`), priced by a fitted cost model (`cost`), with
fANOVA-guided pruning (`search`). It searches training settings, not archs, and so registers no searcher."""
