import numpy as np
import pytest

from harness import space

EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def test_parse_and_format_round_trip():
    ops = space.parse(EXAMPLE)
    assert ops == ("nor_conv_3x3", "nor_conv_3x3", "avg_pool_3x3", "skip_connect", "nor_conv_3x3", "skip_connect")
    assert space.format_ops(ops) == EXAMPLE


def test_code_round_trip():
    assert space.to_code(EXAMPLE) == "334131"
    assert space.from_code("334131") == EXAMPLE


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|", "3 nodes"),
        (EXAMPLE.replace("avg_pool_3x3", "max_pool_3x3"), "max_pool_3x3"),
        (EXAMPLE.replace("skip_connect~2", "skip_connect~1"), "skip_connect~1"),
        (EXAMPLE.replace("|+|skip", "|+skip"), "must start and end"),
        (EXAMPLE.replace("avg_pool_3x3~1|", ""), "needs 2 inputs"),
    ],
)
def test_invalid_strings_name_the_problem(bad, fragment):
    with pytest.raises(ValueError, match=fragment) as info:
        space.parse(bad)
    assert "invalid arch string" in str(info.value)


@pytest.mark.parametrize("code", ["33413", "334135", "abcdef", 334131])
def test_invalid_codes(code):
    with pytest.raises(ValueError, match="op code"):
        space.from_code(code)


def test_index_order_matches_nats_meta(gt, shared_data):
    from harness.groundtruth.sources.nats import load_pbz2

    meta = load_pbz2(shared_data / "nb201/NATS-tss-v1_0-3ffb9-simple/meta.pickle.pbz2")
    assert gt.arch_strings == meta["meta_archs"]


def test_isomorphism_classes(gt):
    keys = {space.isomorphism_key(a) for a in gt.arch_strings}
    assert len(keys) == space.NUM_UNIQUE_ARCHS == 6466


def test_isomorphism_matches_official_definition(gt):
    from nats_bench.genotype_utils import topology_str2structure

    rng = np.random.default_rng(0)
    for index in rng.choice(gt.num_archs, size=500, replace=False):
        arch = gt.arch_strings[index]
        assert space.isomorphism_key(arch) == topology_str2structure(arch).to_unique_str(consider_zero=True)


def test_isomorphic_examples():
    # node 2 never reaches node 3 (edge 3<-2 is none), so the op feeding node 2 does not matter
    a = space.format_ops(["nor_conv_3x3", "none", "nor_conv_3x3", "nor_conv_1x1", "skip_connect", "none"])
    b = space.format_ops(["nor_conv_3x3", "none", "avg_pool_3x3", "nor_conv_1x1", "skip_connect", "none"])
    assert space.isomorphism_key(a) == space.isomorphism_key(b)
    # a conv before or after a skip on the same path computes the same function
    c = space.format_ops(["skip_connect", "none", "nor_conv_3x3", "none", "none", "skip_connect"])
    d = space.format_ops(["nor_conv_3x3", "none", "skip_connect", "none", "none", "skip_connect"])
    assert space.isomorphism_key(c) == space.isomorphism_key(d)
    # but a different op on a live path does not
    e = space.format_ops(["nor_conv_1x1", "none", "skip_connect", "none", "none", "skip_connect"])
    assert space.isomorphism_key(e) != space.isomorphism_key(d)


def test_mutations_change_exactly_one_edge():
    neighbours = space.mutations(EXAMPLE)
    assert len(neighbours) == 6 * 4 == len(set(neighbours))
    base = space.parse(EXAMPLE)
    for other in neighbours:
        assert sum(x != y for x, y in zip(base, space.parse(other), strict=True)) == 1


def test_mutate_is_seeded():
    a = [space.mutate(EXAMPLE, np.random.default_rng(3)) for _ in range(3)]
    assert len(set(a)) == 1
    assert a[0] in space.mutations(EXAMPLE)


def test_sampling_is_seeded_and_unique(gt):
    first = space.sample_indices(100, seed=1, arch_strings=gt.arch_strings, unique=True)
    again = space.sample_indices(100, seed=1, arch_strings=gt.arch_strings, unique=True)
    other = space.sample_indices(100, seed=2, arch_strings=gt.arch_strings, unique=True)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    keys = {space.isomorphism_key(gt.arch_strings[i]) for i in first}
    assert len(keys) == 100
    everything = space.sample_indices(space.NUM_ARCHS, seed=0)
    assert len(set(everything)) == space.NUM_ARCHS


def test_sampling_rejects_bad_sizes(gt):
    with pytest.raises(ValueError, match=r"1\.\.6466"):
        space.sample_indices(7000, seed=0, arch_strings=gt.arch_strings, unique=True)
    with pytest.raises(ValueError, match="arch strings"):
        space.sample_indices(10, seed=0, unique=True)
