"""Fine-tuning a classification head: it learns, resumes from its checkpoint, and refuses bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lensnb
from lensnb.fine_tune import classify, fine_tune_classifier

POSITIVE = ["the quick brown fox", "a quick fox jumps", "quick and brown", "the fox is quick"]
NEGATIVE = ["the lazy dog", "a lazy dog sleeps", "lazy and slow", "the dog is lazy"]


def _data():
    texts = POSITIVE * 4 + NEGATIVE * 4
    return texts, [1] * 16 + [0] * 16


def _classifier(tiny_paths):
    torch.manual_seed(0)
    return lensnb.load_model(tiny_paths["bert"], task="sequence-classification", num_labels=2)


def test_a_separable_task_is_learned(tiny_paths):
    model = _classifier(tiny_paths)
    texts, labels = _data()
    report = fine_tune_classifier(model, texts, labels, epochs=6, learning_rate=3e-3, batch_size=8, progress=False)
    assert report.steps == 24 and len(report.losses) == 24
    assert report.losses[-4:].mean() < report.losses[:4].mean()
    predicted = classify(model, POSITIVE + NEGATIVE).argmax(-1)
    assert (predicted == np.array([1] * 4 + [0] * 4)).mean() == 1.0
    assert not model.model.training


def test_resume_skips_finished_steps_and_restores_weights(tiny_paths, tmp_path):
    texts, labels = _data()
    model = _classifier(tiny_paths)
    options = dict(epochs=2, learning_rate=1e-3, batch_size=8, progress=False, checkpoint=tmp_path, checkpoint_every=3)
    fine_tune_classifier(model, texts, labels, **options)
    trained = classify(model, texts)
    fresh = _classifier(tiny_paths)
    report = fine_tune_classifier(fresh, texts, labels, **options)
    assert report.resumed_from == report.steps == 8 and len(report.losses) == 0
    assert np.allclose(classify(fresh, texts), trained, atol=1e-6)
    with pytest.raises(lensnb.LensError, match="checkpoint"):
        fine_tune_classifier(fresh, texts, labels, **{**options, "epochs": 3})


def test_bad_input_is_named(tiny_paths):
    model = _classifier(tiny_paths)
    with pytest.raises(lensnb.LensError, match="labels"):
        fine_tune_classifier(model, ["a", "b"], [0, 2], progress=False)
    with pytest.raises(lensnb.LensError, match="texts"):
        fine_tune_classifier(model, "one text", [0], progress=False)
    with pytest.raises(lensnb.LensError, match="sequence classifier"):
        fine_tune_classifier(lensnb.load_model(tiny_paths["bert"]), ["a"], [0], progress=False)


# ----------------------------------------------------------------------------- resuming exactly
class Stop(BaseException):
    """Stands for the process being killed (not an Exception: nothing may catch it on the way out)."""


def _stop_at_call(model, n: int) -> None:
    """Make the n-th forward pass of ``model`` stop the run."""
    forward, calls = model.model.forward, {"n": 0}

    def stopping(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            raise Stop
        return forward(*args, **kwargs)

    model.model.forward = stopping


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.model.state_dict().items()}


def _same_weights(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


OPTIONS = dict(epochs=2, learning_rate=1e-3, batch_size=8, max_length=32, seed=3, checkpoint_every=2, progress=False)


def test_a_stopped_and_resumed_run_ends_exactly_where_an_uninterrupted_run_ends(tiny_paths, tmp_path):
    """Weights, AdamW's moments, the schedule's position and dropout's random stream all continue (dropout on)."""
    texts, labels = _data()
    whole = _classifier(tiny_paths)
    assert whole.model.config.hidden_dropout_prob > 0
    uninterrupted = fine_tune_classifier(whole, texts, labels, checkpoint=tmp_path / "whole", **OPTIONS)
    stopped = _classifier(tiny_paths)
    _stop_at_call(stopped, 6)  # during step 6, after the checkpoint of step 4
    with pytest.raises(Stop):
        fine_tune_classifier(stopped, texts, labels, checkpoint=tmp_path / "stopped", **OPTIONS)
    resumed_model = _classifier(tiny_paths)
    resumed = fine_tune_classifier(resumed_model, texts, labels, checkpoint=tmp_path / "stopped", **OPTIONS)
    assert resumed.resumed_from == 4 and resumed.steps == uninterrupted.steps == 8
    assert np.array_equal(resumed.losses, uninterrupted.losses[4:])
    assert _same_weights(_weights(resumed_model), _weights(whole))
    assert np.array_equal(classify(resumed_model, texts), classify(whole, texts))
    assert sorted(p.name for p in (tmp_path / "stopped").iterdir()) == ["lensnb_fine_tune.json",
                                                                        "state-00000008.safetensors"]  # fmt: skip


def test_fine_tuning_leaves_the_callers_random_stream_alone_and_repeats_for_a_seed(tiny_paths):
    texts, labels = _data()
    torch.manual_seed(12345)
    expected = torch.rand(3)
    torch.manual_seed(12345)
    first = _classifier(tiny_paths)
    torch.manual_seed(12345)
    fine_tune_classifier(first, texts, labels, **OPTIONS)
    assert torch.equal(torch.rand(3), expected) and torch.initial_seed() == 12345
    second = _classifier(tiny_paths)
    torch.manual_seed(999)  # another caller state: the run depends on its seed only
    fine_tune_classifier(second, texts, labels, **OPTIONS)
    assert _same_weights(_weights(first), _weights(second))


@pytest.mark.parametrize("point", ["state file written", "state file renamed", "record renamed"])
def test_a_kill_while_a_checkpoint_is_written_leaves_the_old_or_the_new_one(tiny_paths, tmp_path, monkeypatch, point):
    import os

    import safetensors.torch

    texts, labels = _data()
    whole = _classifier(tiny_paths)
    fine_tune_classifier(whole, texts, labels, **OPTIONS)
    folder = tmp_path / "run"
    calls = {"save": 0, "replace": 0}
    save_file, replace = safetensors.torch.save_file, os.replace

    def killed_save(*args, **kwargs):  # the second checkpoint (step 4) dies inside the state file's write
        calls["save"] += 1
        if point == "state file written" and calls["save"] == 2:
            raise Stop
        return save_file(*args, **kwargs)

    def killed_replace(source, target):  # renames: state 2, record 2, state 4, record 4
        calls["replace"] += 1
        if calls["replace"] == {"state file renamed": 3, "record renamed": 4}.get(point):
            raise Stop
        return replace(source, target)

    monkeypatch.setattr(safetensors.torch, "save_file", killed_save)
    monkeypatch.setattr(os, "replace", killed_replace)
    with pytest.raises(Stop):
        fine_tune_classifier(_classifier(tiny_paths), texts, labels, checkpoint=folder, **OPTIONS)
    monkeypatch.undo()
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]
    resumed_model = _classifier(tiny_paths)
    resumed = fine_tune_classifier(resumed_model, texts, labels, checkpoint=folder, **OPTIONS)
    assert resumed.resumed_from == 2  # the old checkpoint, whole: the new one never became the record
    assert _same_weights(_weights(resumed_model), _weights(whole))


def test_a_damaged_or_old_record_is_refused_with_the_folder_named(tiny_paths, tmp_path):
    import json

    texts, labels = _data()
    options = {**OPTIONS, "epochs": 1}
    fine_tune_classifier(_classifier(tiny_paths), texts, labels, checkpoint=tmp_path, **options)
    record = tmp_path / "lensnb_fine_tune.json"
    text = record.read_text()
    record.write_text(text[:40])  # truncated
    with pytest.raises(lensnb.LensError, match=f"checkpoint: .*{tmp_path}.*damaged or truncated"):
        fine_tune_classifier(_classifier(tiny_paths), texts, labels, checkpoint=tmp_path, **options)
    record.write_text(json.dumps({"settings": {}, "step": 2}))  # an earlier lensnb's record
    with pytest.raises(lensnb.LensError, match="earlier lensnb that did not save the optimiser"):
        fine_tune_classifier(_classifier(tiny_paths), texts, labels, checkpoint=tmp_path, **options)
    state = json.loads(text)
    (tmp_path / state["state_file"]).write_bytes(b"\0" * state["state_bytes"])
    record.write_text(text)
    with pytest.raises(lensnb.LensError, match="its state file .* does not read"):
        fine_tune_classifier(_classifier(tiny_paths), texts, labels, checkpoint=tmp_path, **options)


def test_a_checkpoint_of_another_model_or_run_is_refused(tiny_paths, tmp_path):
    from lensnb.testing import build_tiny_model

    texts, labels = _data()
    fine_tune_classifier(_classifier(tiny_paths), texts, labels, checkpoint=tmp_path, **OPTIONS)
    other_weights = build_tiny_model("bert", tmp_path.parent / f"{tmp_path.name}-bert-seed-1", seed=1)
    others = {
        "class": lensnb.load_model(tiny_paths["gpt2"], task="sequence-classification", num_labels=2),
        "weights": lensnb.load_model(other_weights, task="sequence-classification", num_labels=2),
        "config": lensnb.load_model(
            tiny_paths["bert"], task="sequence-classification", num_labels=2, hidden_dropout_prob=0.0
        ),  # fmt: skip
    }
    for differs, model in others.items():
        before = _weights(model)
        with pytest.raises(lensnb.LensError, match=f"checkpoint: expected a folder saved while training this "
                                                   f"model.*whose .*{differs}"):  # fmt: skip
            fine_tune_classifier(model, texts, labels, checkpoint=tmp_path, **OPTIONS)
        assert _same_weights(_weights(model), before)  # refused before anything was loaded
    frozen = _classifier(tiny_paths)
    frozen.model.base_model.requires_grad_(False)
    with pytest.raises(lensnb.LensError, match="trainable"):
        fine_tune_classifier(frozen, texts, labels, checkpoint=tmp_path, **OPTIONS)
    with pytest.raises(lensnb.LensError, match="same data and settings.*differs in data"):
        fine_tune_classifier(_classifier(tiny_paths), texts, labels[::-1], checkpoint=tmp_path, **OPTIONS)


def test_weights_are_loaded_strictly(tiny_paths, tmp_path):
    import json

    from safetensors.torch import load_file, save_file

    texts, labels = _data()
    fine_tune_classifier(_classifier(tiny_paths), texts, labels, checkpoint=tmp_path, **OPTIONS)
    record = json.loads((tmp_path / "lensnb_fine_tune.json").read_text())
    path = tmp_path / record["state_file"]
    tensors = load_file(path)
    del tensors["model/classifier.weight"]
    save_file(tensors, path)
    record["state_bytes"] = path.stat().st_size
    (tmp_path / "lensnb_fine_tune.json").write_text(json.dumps(record))
    with pytest.raises(lensnb.LensError, match="weights do not fit this model.*classifier.weight"):
        fine_tune_classifier(_classifier(tiny_paths), texts, labels, checkpoint=tmp_path, **OPTIONS)


# ----------------------------------------------------------------------------- arguments
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"seed": -1}, "seed: expected a non-negative integer below 2\\*\\*32, received -1"),
        ({"seed": 1.0}, "seed: expected .*received 1.0"),
        ({"learning_rate": -1e-3}, "learning_rate: expected a finite positive number, received -0.001"),
        ({"learning_rate": "3e-5"}, "learning_rate: expected a finite positive number, received '3e-5'"),
        ({"learning_rate": float("nan")}, "learning_rate: expected a finite positive number"),
        ({"weight_decay": -0.1}, "weight_decay: expected a finite non-negative number, received -0.1"),
        ({"epochs": True}, "epochs: expected a positive integer, received True"),
        ({"epochs": 0}, "epochs: expected a positive integer, received 0"),
        ({"batch_size": 2.0}, "batch_size: expected a positive integer, received 2.0"),
        ({"checkpoint_every": 0}, "checkpoint_every: expected a positive integer, received 0"),
        ({"max_length": 65}, "max_length: expected at most 64 tokens, the longest input .* takes, received 65"),
        ({"progress": "no"}, "progress: expected True or False"),
    ],
)
def test_every_training_argument_is_checked_by_name(tiny_paths, options, message):
    texts, labels = _data()
    with pytest.raises(lensnb.LensError, match=message):
        fine_tune_classifier(_classifier(tiny_paths), texts, labels, **{"progress": False, **options})


def test_bad_data_and_checkpoint_paths_are_named(tiny_paths, tmp_path):
    texts, labels = _data()
    model = _classifier(tiny_paths)
    with pytest.raises(lensnb.LensError, match="labels: expected 2 integer labels, one per text"):
        fine_tune_classifier(model, ["a", "b"], [1, [0, 1]], progress=False)  # ragged
    with pytest.raises(lensnb.LensError, match="labels: expected 2 integer labels"):
        fine_tune_classifier(model, ["a", "b"], [True, False], progress=False)
    (tmp_path / "file").write_text("")
    with pytest.raises(lensnb.LensError, match="checkpoint: expected None or a folder path.*That path is a file"):
        fine_tune_classifier(model, texts, labels, checkpoint=tmp_path / "file", progress=False)
    with pytest.raises(lensnb.LensError, match="checkpoint: expected None or a folder path"):
        fine_tune_classifier(model, texts, labels, checkpoint=3, progress=False)


def test_a_checkpoint_folder_in_use_by_another_run_is_refused(tiny_paths, tmp_path):
    """Two runs into one folder would interleave their saves: the second is refused while the first
    holds the folder (here a lock taken by hand, as another process's run would), then goes ahead."""
    from lensnb.store_lock import StoreLock

    texts, labels = _data()
    folder = tmp_path / "busy"
    folder.mkdir()
    lock = StoreLock(folder, "checkpoint")
    try:
        with pytest.raises(
            lensnb.LensError, match=r"checkpoint: expected a checkpoint folder no other lensnb writer is using.*"
            r"Another training run \(in this process or another\) is writing it now",
        ):  # fmt: skip
            fine_tune_classifier(_classifier(tiny_paths), texts, labels, checkpoint=folder, progress=False)
    finally:
        lock.release()
    assert fine_tune_classifier(_classifier(tiny_paths), texts, labels, checkpoint=folder, progress=False).steps > 0
    assert (folder / "lensnb_fine_tune.json").is_file()


def test_classify_refuses_what_it_cannot_classify(tiny_paths):
    model = _classifier(tiny_paths)
    for texts, message in (("the quick fox", "texts: expected a non-empty list of strings, received 'the quick fox'"),
                           ([], "texts: expected a non-empty list of strings"),
                           ([1, 2], "texts\\[0\\]: expected a non-empty string, received 1")):  # fmt: skip
        with pytest.raises(lensnb.LensError, match=message):
            classify(model, texts)
    with pytest.raises(lensnb.LensError, match="batch_size: expected a positive integer, received 0"):
        classify(model, ["a b"], batch_size=0)
    with pytest.raises(lensnb.LensError, match="max_length: expected at most 64 tokens.*received 1000"):
        classify(model, ["the quick fox " * 30], max_length=1000)
    with pytest.raises(lensnb.LensError, match="texts\\[1\\]: expected at most 8 tokens"):
        classify(model, ["a", "the quick fox " * 3], max_length=8)
    with pytest.raises(lensnb.LensError, match="model: expected a sequence classifier"):
        classify(lensnb.load_model(tiny_paths["bert"]), ["a"])


# ----------------------------------------------------------------------------- tokenizers without a pad token
@pytest.mark.parametrize("family", ["gpt2", "gpt_neox"])
def test_decoder_classifiers_pad_with_eos_during_the_call_only(tiny_paths, family):
    torch.manual_seed(0)
    model = lensnb.load_model(tiny_paths[family], task="sequence-classification", num_labels=2)
    assert model.tokenizer.pad_token is None and model.model.config.pad_token_id is None
    texts, labels = _data()
    report = fine_tune_classifier(model, texts, labels, epochs=2, learning_rate=1e-3, batch_size=8, progress=False)
    assert report.steps == 8 and np.isfinite(report.losses).all()
    short_and_long = ["the fox", "the quick brown fox jumps over the lazy dog", "a dog"]
    together = classify(model, short_and_long)
    alone = np.concatenate([classify(model, [text]) for text in short_and_long])
    assert np.allclose(together, alone, atol=1e-5)  # padding is skipped: the head reads each text's last token
    assert model.tokenizer.pad_token is None and model.model.config.pad_token_id is None  # given back


# ----------------------------------------------------------------------------- the same model object, run again
def _interrupt_at_call(model, n: int):
    """Make the n-th forward pass of ``model`` raise KeyboardInterrupt (Ctrl-C in a notebook); the hook's handle."""
    calls = {"n": 0}

    def interrupt(module, args, kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            raise KeyboardInterrupt

    return model.model.register_forward_pre_hook(interrupt, with_kwargs=True)


def _interrupted_at_call(model, n: int, *args, **kwargs) -> None:
    """``fine_tune_classifier(model, *args, **kwargs)`` stopped by Ctrl-C in its n-th forward pass."""
    hook = _interrupt_at_call(model, n)
    try:
        with pytest.raises(KeyboardInterrupt):
            fine_tune_classifier(model, *args, **kwargs)
    finally:
        hook.remove()


def test_the_same_object_run_again_after_an_interrupt_resumes_exactly_and_a_finished_run_gives_its_result(
    tiny_paths, tmp_path
):
    """Ctrl-C, then the same cell again: transformers set config.problem_type and the weights are partly trained."""
    texts, labels = _data()
    whole = _classifier(tiny_paths)
    uninterrupted = fine_tune_classifier(whole, texts, labels, checkpoint=tmp_path / "whole", **OPTIONS)
    model = _classifier(tiny_paths)
    # during step 6, after the checkpoint of step 4
    _interrupted_at_call(model, 6, texts, labels, checkpoint=tmp_path / "run", **OPTIONS)
    assert model.model.config.problem_type == "single_label_classification"
    resumed = fine_tune_classifier(model, texts, labels, checkpoint=tmp_path / "run", **OPTIONS)
    assert resumed.resumed_from == 4 and resumed.steps == 8
    assert np.array_equal(resumed.losses, uninterrupted.losses[4:])
    assert _same_weights(_weights(model), _weights(whole))
    again = fine_tune_classifier(model, texts, labels, checkpoint=tmp_path / "run", **OPTIONS)  # the finished cell
    assert again.resumed_from == again.steps == 8 and len(again.losses) == 0
    assert _same_weights(_weights(model), _weights(whole))
    with pytest.raises(lensnb.LensError, match="differs in epochs.*holds the weights that the finished run.*reload"):
        fine_tune_classifier(model, texts, labels, checkpoint=tmp_path / "run", **{**OPTIONS, "epochs": 3})
    fresh = _classifier(tiny_paths)  # and a fresh process's model still resumes it (the record is the same)
    assert fine_tune_classifier(fresh, texts, labels, checkpoint=tmp_path / "run", **OPTIONS).resumed_from == 8


def test_the_same_object_interrupted_before_its_first_checkpoint_must_be_reloaded(tiny_paths, tmp_path):
    texts, labels = _data()
    model = _classifier(tiny_paths)
    # in step 1's forward pass: no weight has changed yet
    _interrupted_at_call(model, 1, texts, labels, checkpoint=tmp_path, **OPTIONS)
    whole = _classifier(tiny_paths)
    fine_tune_classifier(whole, texts, labels, **OPTIONS)
    assert fine_tune_classifier(model, texts, labels, checkpoint=tmp_path, **OPTIONS).resumed_from == 0
    assert _same_weights(_weights(model), _weights(whole))

    model = _classifier(tiny_paths)
    # during step 2: step 1 changed the weights, no checkpoint yet
    _interrupted_at_call(model, 2, texts, labels, checkpoint=tmp_path / "early", **OPTIONS)
    partly = _weights(model)
    with pytest.raises(lensnb.LensError, match="model: expected a model as loaded.*partly trained.*Reload it") as e:
        fine_tune_classifier(model, texts, labels, checkpoint=tmp_path / "early", **OPTIONS)
    assert "delete" not in str(e.value).lower()
    assert _same_weights(_weights(model), partly)


def test_the_same_object_partly_trained_is_told_to_reload_not_only_to_delete_the_checkpoint(tiny_paths, tmp_path):
    texts, labels = _data()
    model = _classifier(tiny_paths)
    _interrupted_at_call(model, 6, texts, labels, checkpoint=tmp_path, **OPTIONS)
    with pytest.raises(lensnb.LensError, match="differs in learning_rate.*partly trained.*reload it first"):
        fine_tune_classifier(model, texts, labels, checkpoint=tmp_path, **{**OPTIONS, "learning_rate": 1e-4})
    for path in tmp_path.iterdir():  # the user deletes the checkpoint: the weights are still partly trained
        path.unlink()
    with pytest.raises(lensnb.LensError, match="model: .*Reload it"):
        fine_tune_classifier(model, texts, labels, checkpoint=tmp_path, **{**OPTIONS, "learning_rate": 1e-4})
    writer = _classifier(tiny_paths)
    fine_tune_classifier(writer, texts, labels, checkpoint=tmp_path / "other", **OPTIONS)
    other = _classifier(tiny_paths)  # a model changed in place by something else: told to reload to resume
    fine_tune_classifier(other, texts, labels, **OPTIONS)  # trained, without a checkpoint
    with pytest.raises(lensnb.LensError, match="whose weights differ.*reload it.*resumes from the checkpoint"):
        fine_tune_classifier(other, texts, labels, checkpoint=tmp_path / "other", **OPTIONS)
    fine_tune_classifier(writer, texts, labels, **{**OPTIONS, "seed": 5})  # the writer, trained further in place
    final = _record(tmp_path / "other")
    report = fine_tune_classifier(writer, texts, labels, checkpoint=tmp_path / "other", **OPTIONS)
    assert report.resumed_from == 8 and _record(tmp_path / "other") == final  # its run's result, given back
    assert _same_weights(_weights(writer), _weights(_resumed(tiny_paths, texts, labels, tmp_path / "other")))


def _record(folder):
    import json

    return json.loads((folder / "lensnb_fine_tune.json").read_text())


def _resumed(tiny_paths, texts, labels, folder):
    model = _classifier(tiny_paths)
    fine_tune_classifier(model, texts, labels, checkpoint=folder, **OPTIONS)
    return model


def test_a_pipeline_of_runs_on_one_object_made_again_after_an_interrupt_resumes_each_stage(tiny_paths, tmp_path):
    """Stage 1 into one folder, stage 2 into another (as lensnb.papers.chefer trains its head), then Ctrl-C."""
    texts, labels = _data()
    stage_2 = {**OPTIONS, "learning_rate": 5e-4, "seed": 4}
    whole = _classifier(tiny_paths)
    fine_tune_classifier(whole, texts, labels, checkpoint=tmp_path / "w1", **OPTIONS)
    uninterrupted = fine_tune_classifier(whole, texts, labels, checkpoint=tmp_path / "w2", **stage_2)
    model = _classifier(tiny_paths)
    hook = _interrupt_at_call(model, 8 + 6)  # stage 2's step 6, after its checkpoint of step 4
    with pytest.raises(KeyboardInterrupt):
        fine_tune_classifier(model, texts, labels, checkpoint=tmp_path / "1", **OPTIONS)
        fine_tune_classifier(model, texts, labels, checkpoint=tmp_path / "2", **stage_2)
    hook.remove()
    first = fine_tune_classifier(model, texts, labels, checkpoint=tmp_path / "1", **OPTIONS)  # the cell, again
    second = fine_tune_classifier(model, texts, labels, checkpoint=tmp_path / "2", **stage_2)
    assert first.resumed_from == 8 and second.resumed_from == 4
    assert np.array_equal(second.losses, uninterrupted.losses[4:])
    assert _same_weights(_weights(model), _weights(whole))


def test_problem_type_set_by_transformers_is_not_part_of_the_identity(tiny_paths, tmp_path):
    from lensnb.checkpoint import model_identity

    texts, labels = _data()
    stopped = _classifier(tiny_paths)
    _interrupted_at_call(stopped, 6, texts, labels, checkpoint=tmp_path, **OPTIONS)
    model = _classifier(tiny_paths)
    before = model_identity(model.model, model.name)
    with torch.no_grad():  # a labelled forward pass (a loss computed by hand) sets config.problem_type
        model.model(**model.tokenizer(texts[:2], return_tensors="pt", padding=True), labels=torch.tensor([1, 1]))
    assert model.model.config.problem_type == "single_label_classification"
    assert model_identity(model.model, model.name) == before
    assert fine_tune_classifier(model, texts, labels, checkpoint=tmp_path, **OPTIONS).resumed_from == 4


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_decoder_classifiers_give_each_text_the_same_scores_in_any_batch_whatever_the_padding_side(tiny_paths, family):
    """Decoder tokenizers often pad on the left (for generation); GPT-2's learned absolute positions
    then moved with the padding, and a text's probabilities changed with its batch (by up to 0.03)."""
    torch.manual_seed(0)
    model = lensnb.load_model(tiny_paths[family], task="sequence-classification", num_labels=2)
    model.tokenizer.padding_side = "left"
    texts = ["the keys", "the keys to the cabinet are on the table", "a"]
    together = classify(model, texts, batch_size=3)
    alone = np.concatenate([classify(model, [text], batch_size=1) for text in texts])
    np.testing.assert_allclose(together, alone, atol=1e-6)
    assert model.tokenizer.padding_side == "left"  # the user's setting is left as it was


@pytest.mark.parametrize("case", ["no tokenizer pad", "another pad id"])
def test_a_config_naming_another_pad_id_than_the_tokenizer_pads_with_pools_the_last_real_token(tiny_paths, case):
    """Llama conversions ship a config with pad_token_id 0 (or another id) beside a tokenizer without a
    pad token: the last-token head looked for the config's id and pooled a padding position, so a
    text's scores changed with its batch. The config names the tokenizer's pad id for the call only."""
    torch.manual_seed(0)
    model = lensnb.load_model(tiny_paths["llama"], task="sequence-classification", num_labels=2)
    if case == "no tokenizer pad":
        model.tokenizer.pad_token = None
    else:
        model.tokenizer.pad_token = model.tokenizer.eos_token
    config_pad = model.model.config.pad_token_id
    assert config_pad is not None and config_pad != model.tokenizer.eos_token_id
    texts = ["the game", "the keys to the cabinet are on the table in the hall"]
    together = classify(model, texts, batch_size=2)
    alone = np.concatenate([classify(model, [text], batch_size=1) for text in texts])
    np.testing.assert_allclose(together, alone, atol=1e-6)
    assert model.model.config.pad_token_id == config_pad  # given back as it was
    assert (model.tokenizer.pad_token is None) == (case == "no tokenizer pad")


def test_a_pad_token_past_the_embedding_table_is_named_not_an_index_error(tiny_paths):
    """tokenizer.add_special_tokens({"pad_token": ...}) without resizing the embeddings: extraction pads
    with an id of the table (padding is masked), and training and classification, which pad with the
    tokenizer's own pad token, say what to do."""
    model = lensnb.load_model(tiny_paths["gpt2"], task="sequence-classification", num_labels=2)
    before = lensnb.extract(model, ["the keys", "the keys to the cabinet"], progress=False)
    model.tokenizer.add_special_tokens({"pad_token": "[PAD]"})
    assert model.tokenizer.pad_token_id == model.model.get_input_embeddings().weight.shape[0]
    assert model.padding_id == model.tokenizer.eos_token_id
    after = lensnb.extract(model, ["the keys", "the keys to the cabinet"], progress=False)
    np.testing.assert_array_equal(after.values, before.values)
    for call in (
        lambda: classify(model, ["a b", "a"]),
        lambda: fine_tune_classifier(model, ["a b", "a"], [0, 1], progress=False),
    ):
        with pytest.raises(lensnb.LensError, match=r"pad token '\[PAD\]' has id \d+, past the embedding table: resize"):
            call()


def test_weight_decay_spares_biases_and_norm_weights(tiny_paths):
    """BERT's recipe and Hugging Face's Trainer decay the weight matrices only; every 1-D parameter
    (biases, LayerNorm / RMSNorm weights) trains without decay."""
    from lensnb.fine_tune import _parameter_groups

    for family in ("bert", "llama"):
        model = lensnb.load_model(tiny_paths[family], task="sequence-classification", num_labels=2)
        named = dict(model.model.named_parameters())
        decayed, spared = _parameter_groups(list(named.values()), 0.01)
        assert decayed["weight_decay"] == 0.01 and spared["weight_decay"] == 0.0
        names = {id(p): n for n, p in named.items()}
        spared_names = {names[id(p)] for p in spared["params"]}
        assert spared_names and all(n.endswith("bias") or "norm" in n.lower() for n in spared_names)
        assert not any(n.endswith("bias") for n in (names[id(p)] for p in decayed["params"]))
        assert len(decayed["params"]) + len(spared["params"]) == len(named)


def test_a_checkpoint_of_a_run_with_another_tokenizer_is_refused(tiny_paths, tmp_path):
    """Same weights, same texts: a tokenizer that cuts long texts at the other end trains on other
    tokens, so its run is not the one the checkpoint holds."""
    torch.manual_seed(0)
    model = lensnb.load_model(tiny_paths["bert"], task="sequence-classification", num_labels=2)
    texts, labels = ["the keys to the cabinet are here", "a dog", "the cat sat", "no"], [1, 0, 1, 0]
    options = dict(epochs=1, batch_size=2, max_length=6, checkpoint=tmp_path / "run", progress=False)
    fine_tune_classifier(model, texts, labels, **options)
    model.tokenizer.truncation_side = "left"
    with pytest.raises(lensnb.LensError, match="tokenizer"):
        fine_tune_classifier(model, texts, labels, **options)
