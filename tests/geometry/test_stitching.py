"""Model stitching: exact self-stitches, least squares, training, matrices, resuming, bad input."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from safetensors.torch import safe_open

import lensnb
from lensnb.errors import LensError
from lensnb.geometry import stitch_training
from lensnb.geometry.stitching import (
    Stitch,
    fit_least_squares,
    stitching_asymmetry,
    stitching_penalty_matrix,
    train_stitch,
)
from lensnb.testing import CORPUS, build_tiny_model

TASKS = {"bert": "masked-lm", "gpt2": "causal-lm", "gpt_neox": "causal-lm", "llama": "causal-lm"}
QUICK = dict(steps=2, progress=False)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny models on a shared 2-core machine: one intra-op thread avoids spin-waiting (restored after)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def heads(tiny_paths):
    """The tiny models loaded with the head whose loss is their own (masked-LM or causal-LM).

    The tiny checkpoints hold no heads (GPT-2's is tied to its embeddings): loading draws them from the
    global generator, seeded here so that every run tests the same models. (Unseeded, a random stitch's
    penalty ranged over 0.002-0.1 from run to run, and the test that it costs failed now and then.)"""
    loaded = {}
    for family, path in tiny_paths.items():
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            loaded[family] = lensnb.load_model(path, task=TASKS[family])
    return loaded


@pytest.fixture(scope="module")
def bert_affine(tiny_paths):
    """A tiny BERT whose LayerNorms have non-trivial affines, as a pretrained one has."""
    model = lensnb.load_model(tiny_paths["bert"], task="masked-lm")
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for module in model.model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.copy_(0.5 + torch.rand(module.weight.shape, generator=generator))
                module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.3)
    return model


@pytest.mark.parametrize("family", list(TASKS))
def test_identity_self_stitch_has_no_penalty(heads, family):
    model = heads[family]
    for layer in range(model.n_layers + 1):
        result = train_stitch(model, layer, model, layer, CORPUS, **QUICK)
        assert abs(result.initial_penalty) < 1e-5, (family, layer, result)
        assert result.initial_loss == pytest.approx(result.own_loss, abs=1e-5)
        assert abs(result.penalty) < 0.05  # a couple of small Adam steps away from the identity
        assert result.params["layer_norm"] is (family == "bert")


@pytest.mark.parametrize("position", ["residual", "pre_norm"])
def test_identity_self_stitch_inverts_post_ln_affine(bert_affine, position):
    for layer in (0, 1, 2):
        result = train_stitch(bert_affine, layer, bert_affine, layer, CORPUS, position=position, **QUICK)
        assert abs(result.initial_penalty) < 1e-5, (layer, position)
    # "identity" is the identity on B's states: W undoes the affine of the LayerNorm that made layer 2
    norm = bert_affine.base_model.encoder.layer[1].output.LayerNorm
    gamma, beta = norm.weight.detach().double().numpy(), norm.bias.detach().double().numpy()
    np.testing.assert_allclose(result.state["weight"], np.diag(1 / gamma), atol=5e-3)
    np.testing.assert_allclose(result.state["bias"], -beta / gamma, atol=5e-3)
    if position == "residual":  # S's own LayerNorm then puts B's affine back
        np.testing.assert_allclose(result.state["norm.weight"], gamma, atol=5e-3)
    else:  # B's own LayerNorm does
        np.testing.assert_allclose(result.state["norm.weight"], 1.0, atol=5e-3)
    plain = train_stitch(bert_affine, 1, bert_affine, 1, CORPUS, layer_norm=False, **QUICK)
    np.testing.assert_allclose(plain.state["weight"], np.eye(32), atol=5e-3)
    assert abs(plain.initial_penalty) < 1e-5 and "norm.weight" not in plain.state


@pytest.mark.parametrize("position", ["residual", "pre_norm"])
def test_identity_self_stitch_holds_where_a_layer_norm_has_dead_units(tiny_paths, position):
    """all-MiniLM-L6-v2's last LayerNorm has gains of -6e-33, -4.8e-33 and -1.5e-9 on units that hold about
    half of the normalised vector's energy. Dividing by such a gain is not possible, and writing 0 there (as
    before) let the norm after the stitch rescale every other unit: the state moved by 69%."""
    model = lensnb.load_model(tiny_paths["bert"], task="masked-lm")
    norm = model.base_model.encoder.layer[1].output.LayerNorm  # layer 2's norm
    with torch.no_grad():
        norm.weight[[3, 17]] = torch.tensor([-6e-33, 1.5e-9])
    assert stitch_training.dead_units(model, 2, position, layer_norm=True).nonzero().ravel().tolist() == [3, 17]
    texts = CORPUS * 3
    result = train_stitch(model, 2, model, 2, texts, position=position, optimizer="sgd", lr=1e-12, steps=1,
                          progress=False)  # the state is (to rounding) the initial one  # fmt: skip
    assert abs(result.initial_penalty) < 1e-5, result.initial_penalty
    fitted = train_stitch(model, 2, model, 2, texts, position=position, init="least_squares", **QUICK)
    assert abs(fitted.initial_penalty) < 1e-5, fitted.initial_penalty  # the least-squares init fits them too
    # the stitch writes B's own layer-2 states (their normalised values, for pre_norm) on held-out texts too
    tokens = model.tokenizer(["A sentence the stitch has never seen, with words of its own."], return_tensors="pt")
    captured = {}
    handle = norm.register_forward_hook(lambda module, args, output: captured.update(input=args[0], output=output))
    with torch.no_grad():
        states = model.base_model(**tokens, output_hidden_states=True).hidden_states[2][0].double()
    handle.remove()
    state = {name: torch.from_numpy(value).double() for name, value in result.state.items()}
    written = states @ state["weight"].T + state["bias"]
    if position == "residual":
        written = torch.nn.functional.layer_norm(written, (32,), state["norm.weight"], state["norm.bias"], norm.eps)
        target = states
    else:  # B's own norm comes next: the normalised input is what it must see, up to scale and shift
        written = torch.nn.functional.layer_norm(written, (32,), eps=norm.eps)
        target = torch.nn.functional.layer_norm(captured["input"][0].double(), (32,), eps=norm.eps)
    assert float(((written - target).norm(dim=1) / target.norm(dim=1)).max()) < 1e-4


def test_a_head_initialised_at_random_by_loading_is_warned_about_until_it_is_trained(tiny_paths):
    """The tiny models are saved without heads, as all-MiniLM-L6-v2 has no masked-LM head."""
    model = lensnb.load_model(tiny_paths["gpt2"], task="sequence-classification", num_labels=2)
    assert model.newly_initialised == model.untrained_parameters() == ("score.weight",)
    labels = np.arange(len(CORPUS)) % 2
    with pytest.warns(UserWarning, match=r"model_b: .* parameters its checkpoint lacks \(score.weight\)") as caught:
        train_stitch(model, 1, model, 1, CORPUS, labels=labels, **QUICK)
    assert caught[0].filename == __file__  # points at the caller
    with torch.no_grad():
        model.model.score.weight.mul_(2.0)  # as training would change it
    assert model.untrained_parameters() == ()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train_stitch(model, 1, model, 1, CORPUS, labels=labels, **QUICK)
    assert lensnb.load_model(tiny_paths["gpt2"]).newly_initialised == ()  # nothing missing without a head


@pytest.mark.parametrize("family", list(TASKS))
def test_a_stitch_that_is_not_the_identity_is_penalised_in_every_family(heads, family):
    """The self-stitch's penalty of 0 means something only if what S writes reaches B: a random S at the
    same layer must cost, in every family (and layer 0 written in place of layer 2, in GPT-2)."""
    model = heads[family]
    results = [train_stitch(model, 1, model, 1, CORPUS, init="random", **QUICK)]
    if family == "gpt2":
        results.append(train_stitch(model, 0, model, 2, CORPUS, **QUICK))
    for result in results:  # far beyond the self-stitch's 1e-5 (random heads: losses near log(vocab))
        assert abs(result.initial_penalty) > 1e-3, (family, result)


def test_masked_lm_never_masks_special_tokens_written_in_the_text(heads):
    """As Hugging Face's masked-LM collator: a "[CLS]" typed in a text, and [UNK], are special by their ids."""
    model = heads["bert"]
    encoded = stitch_training.encode(model, model, ["a [CLS] key \U0001f511"], None, 32, "texts")
    ids, special = encoded.ids[0], encoded.special[0]
    tokenizer = model.tokenizer
    typed = np.flatnonzero(ids == tokenizer.cls_token_id)
    assert len(typed) == 2 and special[typed].all()  # the one the tokenizer adds and the typed one
    assert special[ids == tokenizer.unk_token_id].all() and (ids == tokenizer.unk_token_id).any()
    assert not special[np.isin(ids, tokenizer.all_special_ids, invert=True)].any()


@pytest.mark.parametrize("family", list(TASKS))
def test_read_layer_is_the_hidden_state(heads, family):
    model = heads[family]
    rows = model.tokenizer(CORPUS[:3])["input_ids"]
    width = max(map(len, rows))
    ids = torch.tensor([r + [0] * (width - len(r)) for r in rows])  # right-padded batch
    encoded = {"input_ids": ids, "attention_mask": torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])}
    with torch.no_grad():
        expected = model.base_model(**encoded, output_hidden_states=True).hidden_states
        for layer in range(model.n_layers + 1):
            got = stitch_training.read_layer(model, layer, encoded["input_ids"], encoded["attention_mask"])
            torch.testing.assert_close(got, expected[layer], rtol=0, atol=0)


def _lstsq(x, y, rcond=1e-6):
    """Least squares on [x, 1] with unit-norm columns and a relative cutoff, straight from numpy."""
    z = np.hstack([x, np.ones((len(x), 1))])
    norms = np.linalg.norm(z, axis=0)
    theta = np.linalg.lstsq(z / norms, y, rcond=rcond)[0] / norms[:, None]
    return theta[:-1].T, theta[-1]


def test_fit_least_squares_known_answers():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6))
    w, b = rng.normal(size=(4, 6)), rng.normal(size=4)
    weight, bias = fit_least_squares(x, x @ w.T + b)
    np.testing.assert_allclose(weight, w, atol=1e-10)
    np.testing.assert_allclose(bias, b, atol=1e-10)
    # well conditioned: exactly numpy's lstsq
    y = rng.normal(size=(200, 3))
    theta = np.linalg.lstsq(np.hstack([x, np.ones((200, 1))]), y, rcond=None)[0]
    np.testing.assert_allclose(fit_least_squares(torch.from_numpy(x), y)[0], theta[:6].T, atol=1e-12)
    np.testing.assert_allclose(fit_least_squares(x, y, rcond=np.float32(1e-6))[0], theta[:6].T, atol=1e-12)
    # rank-deficient (more columns than rows): the minimum-norm solution (in scaled columns)
    x, y = rng.normal(size=(5, 8)), rng.normal(size=(5, 3))
    weight, bias = fit_least_squares(x, y)
    expected = _lstsq(x, y)
    np.testing.assert_allclose(weight, expected[0], atol=1e-10)
    np.testing.assert_allclose(bias, expected[1], atol=1e-10)
    np.testing.assert_allclose(x @ weight.T + bias, y, atol=1e-10)  # fewer rows than unknowns: a perfect fit
    # a LayerNorm-like input (rows on a hyperplane, up to float32 rounding): no blown-up weights
    x = rng.normal(size=(300, 10)).astype(np.float32)
    x = (x - x.mean(axis=1, keepdims=True)).astype(np.float32)
    y = x[:, :4] * 2.0 + 1.0
    weight, bias = fit_least_squares(x, y)
    assert np.abs(weight).max() < 3 and np.allclose(x @ weight.T + bias, y, atol=1e-4)
    # streaming in chunks (the running QR) gives the one-shot answer
    x, y = rng.normal(size=(300, 10)), rng.normal(size=(300, 7))
    fit = stitch_training.LeastSquares()
    for rows in np.array_split(np.arange(300), 7):
        fit.add(x[rows], y[rows])
    np.testing.assert_allclose(fit.solve()[0], _lstsq(x, y)[0], atol=1e-10)


def _states(model, layer, texts):
    """Hidden states of the non-padding tokens, (n_tokens, d), the independent way."""
    rows = []
    with torch.no_grad():
        for text in texts:
            encoded = model.tokenizer(text, return_tensors="pt")
            rows.append(model.base_model(**encoded, output_hidden_states=True).hidden_states[layer][0].double())
    return torch.cat(rows).numpy()


def test_least_squares_init_matches_lstsq(heads, tiny_paths, tmp_path):
    wide = lensnb.load_model(build_tiny_model("gpt2", tmp_path / "wide", width=48, seed=5), task="causal-lm")
    model_a = heads["gpt_neox"]
    for layer_a, layer_b in ((1, 2), (2, 0)):
        result = train_stitch(
            model_a, layer_a, wide, layer_b, CORPUS, eval_texts=CORPUS[:2], init="least_squares",
            optimizer="sgd", lr=1e-12, steps=1, progress=False,
        )  # fmt: skip
        x, y = _states(model_a, layer_a, CORPUS), _states(wide, layer_b, CORPUS)
        weight, bias = _lstsq(x, y)
        assert result.state["weight"].shape == (48, 32)
        np.testing.assert_allclose(result.state["weight"], weight, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(result.state["bias"], bias, rtol=1e-4, atol=1e-5)
    with pytest.raises(LensError, match="init"):
        train_stitch(model_a, 1, wide, 1, CORPUS, init="identity", **QUICK)


def test_training_reduces_loss_from_random_init(heads):
    model_a, model_b = heads["gpt_neox"], heads["gpt2"]
    result = train_stitch(model_a, 1, model_b, 1, CORPUS, init="random", lr=1e-2, steps=40, progress=False)
    assert result.curve.shape == (40,)
    assert result.stitched_loss < result.initial_loss - 0.05
    assert result.curve[-8:].mean() < result.curve[:8].mean()
    assert result.penalty == pytest.approx(result.stitched_loss - result.own_loss)
    # both halves stay frozen and untouched
    assert all(p.requires_grad and p.grad is None for p in model_b.model.parameters())
    assert not model_a.model.training and not model_b.model.training
    # the returned stitch reproduces the held-out score when put back in place
    stitch = result.stitch()
    assert isinstance(stitch, Stitch) and stitch.norm is None
    np.testing.assert_array_equal(stitch.weight.detach().numpy(), result.state["weight"])


def test_own_loss_is_the_models_loss(heads):
    model = heads["gpt2"]
    text = CORPUS[2]
    result = train_stitch(model, 1, model, 1, CORPUS, eval_texts=[text], **QUICK)
    encoded = model.tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        expected = model.model(**encoded, labels=encoded["input_ids"]).loss.item()
    assert result.own_loss == pytest.approx(expected, rel=1e-6)


def test_classification_head(tiny_paths):
    model = lensnb.load_model(tiny_paths["bert"], task="sequence-classification", num_labels=3)
    labels = np.arange(len(CORPUS)) % 3
    result = train_stitch(model, 1, model, 1, CORPUS, labels=labels, **QUICK)
    assert result.loss == "classification" and abs(result.initial_penalty) < 1e-5
    held = result.params["n_eval_texts"]
    assert held == 2 and result.own_accuracy in (0.0, 0.5, 1.0)
    eval_texts, eval_labels = CORPUS[:4], labels[:4]
    result = train_stitch(
        model, 2, model, 2, CORPUS, labels=labels, eval_texts=eval_texts, eval_labels=eval_labels, **QUICK
    )
    with torch.no_grad():
        logits = model.model(**model.tokenizer(eval_texts, padding=True, return_tensors="pt")).logits
    expected = torch.nn.functional.cross_entropy(logits, torch.from_numpy(eval_labels)).item()
    assert result.own_loss == pytest.approx(expected, rel=1e-5)
    assert result.own_accuracy == pytest.approx(float((logits.argmax(-1).numpy() == eval_labels).mean()))


def test_penalty_matrix_shape_and_entries(heads):
    model_a, model_b = heads["gpt_neox"], heads["gpt2"]
    matrix = stitching_penalty_matrix(
        model_a, model_b, CORPUS, layers_a=[0, -1], layers_b=[1, 2], pairs="all", init="random", **QUICK
    )
    assert matrix.values.shape == (2, 2) and matrix.layers_a == (0, 2) and matrix.layers_b == (1, 2)
    assert np.isfinite(matrix.values).all() and matrix.models == (model_a.name, model_b.name)
    single = train_stitch(model_a, 2, model_b, 1, CORPUS, init="random", **QUICK)
    assert matrix.values[1, 0] == pytest.approx(single.penalty, abs=1e-9)
    assert matrix.details["own_loss"] == pytest.approx(single.own_loss)
    assert matrix.details["stitched_accuracy"][1, 0] == pytest.approx(single.stitched_accuracy, nan_ok=True)
    diagonal = stitching_penalty_matrix(model_b, model_b, CORPUS, **QUICK)
    assert diagonal.layers_a == diagonal.layers_b == (0, 1, 2)
    assert np.isnan(diagonal.values[~np.eye(3, dtype=bool)]).all()
    assert np.abs(np.diag(diagonal.values)).max() < 0.05 and len(diagonal.table) == 2


def test_asymmetry_has_both_directions(heads):
    model_a, model_b = heads["gpt_neox"], heads["gpt2"]
    asym = stitching_asymmetry(model_a, model_b, CORPUS, layers_a=[1, 2], pairs="all", init="random", **QUICK)
    assert asym.a_to_b.models == (model_a.name, model_b.name) and asym.b_to_a.models == (model_b.name, model_a.name)
    assert asym.a_to_b.layers_a == asym.b_to_a.layers_b == (1, 2)
    np.testing.assert_allclose(asym.difference.values, asym.a_to_b.values - asym.b_to_a.values.T)
    back = train_stitch(model_b, 1, model_a, 2, CORPUS, init="random", **QUICK)
    assert asym.b_to_a.values[0, 1] == pytest.approx(back.penalty, abs=1e-9)
    assert not np.allclose(asym.a_to_b.values, asym.b_to_a.values.T)
    frame = asym.to_pandas()
    assert len(frame) == 4 and np.allclose(frame["difference"], frame["a_to_b"] - frame["b_to_a"])


def test_a_checkpoint_folder_in_use_by_another_stitch_run_is_refused(heads, tmp_path):
    from lensnb.store_lock import StoreLock

    model = heads["bert"]
    (tmp_path / "a").mkdir()
    lock = StoreLock(tmp_path / "a", "checkpoint")
    try:
        with pytest.raises(
            LensError, match="^checkpoint: expected a checkpoint folder no other lensnb writer is using"
        ):
            train_stitch(model, 1, model, 1, CORPUS, checkpoint=tmp_path / "a", **QUICK)
    finally:
        lock.release()
    assert train_stitch(model, 1, model, 1, CORPUS, checkpoint=tmp_path / "a", **QUICK).params["steps"] == 2
    (tmp_path / "file").write_text("")
    with pytest.raises(LensError, match="^checkpoint: expected a folder lensnb can create"):
        train_stitch(model, 1, model, 1, CORPUS, checkpoint=tmp_path / "file" / "inside", **QUICK)


def test_unreadable_checkpoint_is_a_lens_error(heads, tmp_path):
    """A truncated or foreign state.safetensors is refused by name; nothing is unpickled to find out."""
    from safetensors.torch import save_file

    model = heads["bert"]
    common = dict(init="random", lr=3e-3, progress=False, checkpoint_every=2, steps=2)
    train_stitch(model, 1, model, 2, CORPUS, checkpoint=tmp_path / "a", **common)
    state = tmp_path / "a" / "state.safetensors"
    data = state.read_bytes()
    state.write_bytes(data[: len(data) // 2])
    with pytest.raises(LensError, match="^checkpoint: expected a stitch checkpoint written by lensnb"):
        train_stitch(model, 1, model, 2, CORPUS, checkpoint=tmp_path / "a", **common)
    save_file({"curve": torch.zeros(2)}, str(state), metadata={"lensnb": json.dumps({"step": 2})})
    with pytest.raises(LensError, match="KeyError"):
        train_stitch(model, 1, model, 2, CORPUS, checkpoint=tmp_path / "a", **common)


def test_resume_equals_uninterrupted(heads, tmp_path, monkeypatch):
    model = heads["bert"]  # masked-LM: the masks must also be those of the uninterrupted run
    common = dict(init="random", lr=3e-3, progress=False, checkpoint_every=2)
    full = train_stitch(model, 1, model, 2, CORPUS, steps=8, **common)
    # stopped after 4 steps, then resumed to 8
    train_stitch(model, 1, model, 2, CORPUS, steps=4, checkpoint=tmp_path / "a", **common)
    with safe_open(str(tmp_path / "a" / "state.safetensors"), framework="pt") as handle:
        names = list(handle.keys())
        assert json.loads(handle.metadata()["lensnb"])["step"] == 4
    assert (
        "curve" in names
        and any(n.startswith("stitch.") for n in names)
        and any(n.startswith("optimizer.") for n in names)
    )
    assert not list(
        (tmp_path / "a").glob("*.pt")
    )  # tensors and JSON only: nothing to unpickle and json.loads((tmp_path / "a" / "run.json").read_text())["layer_b"] == 2
    resumed = train_stitch(model, 1, model, 2, CORPUS, steps=8, checkpoint=tmp_path / "a", **common)
    for key, value in full.state.items():
        np.testing.assert_array_equal(resumed.state[key], value)
    np.testing.assert_array_equal(resumed.curve, full.curve)
    assert resumed.initial_loss == full.initial_loss and resumed.stitched_loss == pytest.approx(full.stitched_loss)
    # a KeyboardInterrupt in step 6: the 5 completed steps are saved, and resuming finishes the same run
    calls = {"n": 0}
    original = stitch_training.StitchTask.training_loss

    def interrupted(self, *args):
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(stitch_training.StitchTask, "training_loss", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_stitch(model, 1, model, 2, CORPUS, steps=8, checkpoint=tmp_path / "b", **common)
    with safe_open(str(tmp_path / "b" / "state.safetensors"), framework="pt") as handle:
        assert json.loads(handle.metadata()["lensnb"])["step"] == 5
    monkeypatch.undo()
    resumed = train_stitch(model, 1, model, 2, CORPUS, steps=8, checkpoint=tmp_path / "b", **common)
    for key, value in full.state.items():
        np.testing.assert_array_equal(resumed.state[key], value)
    # a checkpoint of another run, or of more steps than asked, is refused
    with pytest.raises(LensError, match="checkpoint"):
        train_stitch(model, 1, model, 2, CORPUS, steps=8, checkpoint=tmp_path / "b", **{**common, "lr": 1e-3})
    with pytest.raises(LensError, match="steps"):
        train_stitch(model, 1, model, 2, CORPUS, steps=3, checkpoint=tmp_path / "b", **common)


def test_bad_input(heads, tiny_paths):
    bert, gpt2 = heads["bert"], heads["gpt2"]
    cases = [
        (dict(model_a=gpt2, layer_a=5), "layer_a"),
        (dict(layer_b=-4), "layer_b"),
        (dict(model_a=bert), "same tokenizer"),
        (dict(init="orthogonal"), "init"),
        (dict(loss="contrastive"), "loss"),
        (dict(loss="masked-lm"), "loss"),
        (dict(optimizer="lbfgs"), "optimizer"),
        (dict(position="after"), "position"),
        (dict(steps=0), "steps"),
        (dict(lr=-1.0), "lr"),
        (dict(texts=[]), "texts"),
        (dict(texts="one string"), "texts"),
        (dict(texts=["fine", ""]), r"texts\[1\]"),
        (dict(texts=["a", "b", "c"] * 4, eval_texts=CORPUS[:4]), "^texts: expected texts of two tokens or more"),
        (dict(eval_texts=["a", "b"]), "^eval_texts: expected texts of two tokens or more"),
        (dict(labels=[0] * len(CORPUS)), "labels"),
        (dict(model_b=lensnb.load_model(tiny_paths["gpt2"]), model_a=lensnb.load_model(tiny_paths["gpt2"])), "head"),
    ]
    for overrides, message in cases:
        arguments = dict(model_a=gpt2, layer_a=1, model_b=gpt2, layer_b=1, texts=CORPUS, **QUICK)
        arguments.update(overrides)
        with pytest.raises(LensError, match=message):
            train_stitch(**arguments)
    with pytest.raises(LensError, match="pairs"):
        stitching_penalty_matrix(gpt2, gpt2, CORPUS, pairs="upper", **QUICK)
    with pytest.raises(LensError, match="layers_b"):
        stitching_penalty_matrix(gpt2, gpt2, CORPUS, layers_a=[0, 1], layers_b=[1], **QUICK)
    with pytest.raises(LensError, match="options"):
        stitching_penalty_matrix(gpt2, gpt2, CORPUS, step=3, **QUICK)


def test_asymmetry_between_two_classifiers_takes_their_labels(tiny_paths):
    first = lensnb.load_model(tiny_paths["bert"], task="sequence-classification", num_labels=2)
    torch.manual_seed(1)
    second = lensnb.load_model(tiny_paths["bert"], task="sequence-classification", num_labels=2)
    labels = np.arange(len(CORPUS)) % 2
    asym = stitching_asymmetry(first, second, CORPUS, layers_a=[1, 2], labels=labels, init="random", **QUICK)
    assert asym.a_to_b.params["loss"] == asym.b_to_a.params["loss"] == "classification"
    assert np.isfinite(np.diag(asym.a_to_b.values)).all() and np.isfinite(np.diag(asym.b_to_a.values)).all()
    with pytest.raises(lensnb.LensError, match="labels: expected one class label per text"):
        stitching_asymmetry(first, second, CORPUS, layers_a=[1], **QUICK)


def test_electra_with_a_projected_embedding_stitches_at_layer_zero(tiny_paths, tmp_path):
    """ELECTRA-small's layer 0 is the output of embeddings_project, not of a LayerNorm."""
    import shutil

    import transformers

    folder = tmp_path / "electra"
    shutil.copytree(tiny_paths["bert"], folder)
    bert_config = json.loads((folder / "config.json").read_text())
    config = transformers.ElectraConfig(
        vocab_size=bert_config["vocab_size"], embedding_size=16, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=4, intermediate_size=64, max_position_embeddings=64,
    )  # fmt: skip
    (folder / "model.safetensors").unlink()
    torch.manual_seed(0)
    transformers.ElectraForMaskedLM(config).save_pretrained(folder)
    model = lensnb.load_model(folder, task="masked-lm")
    for position in ("residual", "pre_norm"):
        result = train_stitch(model, 0, model, 0, CORPUS, position=position, **QUICK)
        assert abs(result.initial_penalty) < 1e-5, position


@pytest.mark.parametrize("family", ["gpt2", "gpt_neox"])
def test_decoder_classification_heads_stitch_without_a_pad_token_in_their_config(tiny_paths, family):
    model = lensnb.load_model(tiny_paths[family], task="sequence-classification", num_labels=2)
    assert model.model.config.pad_token_id is None  # the head refuses batches of several texts then
    result = train_stitch(model, 1, model, 1, CORPUS, labels=np.arange(len(CORPUS)) % 2, **QUICK)
    assert result.loss == "classification" and abs(result.initial_penalty) < 1e-5
    assert model.model.config.pad_token_id is None  # restored


def test_train_and_eval_modes_are_restored_module_by_module(heads):
    model = heads["bert"]
    model.model.eval()
    model.base_model.encoder.layer[0].train()
    before = {name: module.training for name, module in model.model.named_modules()}
    try:
        train_stitch(model, 1, model, 1, CORPUS, **QUICK)
        assert {name: module.training for name, module in model.model.named_modules()} == before
    finally:
        model.model.eval()


def test_learning_rate_types(heads):
    model = heads["bert"]
    with pytest.raises(LensError, match="^lr: expected a positive learning rate"):
        train_stitch(model, 1, model, 1, CORPUS, lr=True, **QUICK)
    assert train_stitch(model, 1, model, 1, CORPUS, lr=np.float32(1e-3), **QUICK).params["lr"] == pytest.approx(1e-3)


def test_model_a_digest_sees_an_edit_past_the_first_values():
    # it read the first 2048 values of each tensor: an ablation further in went unnoticed on resume
    from lensnb.geometry.stitch_training import weights_digest

    module = torch.nn.Linear(100, 100)
    before = weights_digest(module)
    with torch.no_grad():
        module.weight[90, 50] += 1.0
    assert weights_digest(module) != before
