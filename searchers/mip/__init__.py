"""Minimum Importance Pruning: a search over the BPE space (`space`) with space-filling designs (`design`), measured
costs and a cost model that only decides what is affordable (`cost`), and pruning by bootstrap fANOVA (`search`). It
searches training settings, not archs, and so registers no searcher."""
