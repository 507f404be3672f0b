"""NB201 ground truth: one schema-versioned HDF5 file, built from several sources, read lazily."""

from harness.groundtruth.build import SOURCES, build_file, merge_into
from harness.groundtruth.reader import GroundTruth

__all__ = ["SOURCES", "GroundTruth", "build_file", "merge_into"]
