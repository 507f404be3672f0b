"""BPE-Bench core: NB201 space, ground truth, metrics, training, evaluation, storage and reporting."""

__version__ = "0.1.0"
