"""The store refuses what it cannot trust: site names that are no file of their own, crafted
manifests and tables, symbolic links in a store being written, read-only places, and a
resume with other batch settings (each with a LensError naming the path and the field)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lensnb
import lensnb.store
from lensnb import Activations, LensError
from lensnb.store import FORMAT, FORMAT_VERSION, StoreWriter

TEXTS = [f"Sentence number {i} says something about keys and cabinets." for i in range(16)]


class Interrupt:
    """Raises KeyboardInterrupt on forward pass number ``fail_at`` (a pre-hook on the model)."""

    def __init__(self, model, fail_at: int):
        self.calls, self.fail_at = 0, fail_at
        self.handle = model.register_forward_pre_hook(self)

    def __call__(self, module, args):
        self.calls += 1
        if self.calls == self.fail_at:
            raise KeyboardInterrupt

    def remove(self):
        self.handle.remove()


@pytest.fixture(scope="module")
def base_store(tiny_models, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("base") / "s"
    lensnb.extract(tiny_models["bert"], TEXTS[:3], store=path, attentions=True, progress=False)
    return path


@pytest.fixture
def store(base_store, tmp_path) -> Path:
    """A fresh copy of a finished store (with attentions) to break."""
    return Path(shutil.copytree(base_store, tmp_path / "s"))


def unfinished(tiny_models, path: Path) -> Path:
    """An extraction of TEXTS into ``path`` stopped after two batches of four."""
    hook = Interrupt(tiny_models["bert"].model, fail_at=3)
    try:
        with pytest.raises(KeyboardInterrupt):
            lensnb.extract(tiny_models["bert"], TEXTS, batch_size=4, store=path, progress=False)
    finally:
        hook.remove()
    assert json.loads((path / "manifest.json").read_text())["status"] == "in_progress"
    return path


def edit_manifest(path: Path, change) -> None:
    manifest = json.loads((path / "manifest.json").read_text())
    change(manifest)
    (path / "manifest.json").write_text(json.dumps(manifest))


def edit_table(path: Path, name: str, change) -> None:
    table = pd.read_parquet(path / f"{name}.parquet")
    change(table)
    table.to_parquet(path / f"{name}.parquet", index=False)


# ------------------------------------------------------------------ finding 1: site names
@pytest.mark.parametrize(
    "name", ["../escaped", "attentions", "Tokens", "manifest", "done", "a.b", "", "1x", 3, "x" * 101]
)
def test_activations_refuse_a_site_name_that_is_no_file_of_their_own(store, name):
    acts = Activations.load(store)
    with pytest.raises(LensError, match=r"^arrays: expected a site name: letters, digits and '_'"):
        Activations({name: np.asarray(acts.values)}, {name: acts.layers}, acts.table, model=acts.model)


def test_identifier_site_names_are_kept(store, tmp_path):
    acts = Activations.load(store)
    renamed = Activations({"_probe_2": np.asarray(acts.values)}, {"_probe_2": acts.layers}, acts.table,
                          texts=acts.texts, attentions=acts.attentions, model=acts.model)  # fmt: skip
    loaded = Activations.load(renamed.save(tmp_path / "renamed"))
    assert loaded.sites == ("_probe_2",)
    np.testing.assert_array_equal(np.asarray(loaded.values), np.asarray(acts.values))
    again = Activations.load(acts.save(tmp_path / "renamed", overwrite=True))  # its own site's file is its own
    assert again.sites == acts.sites and not (tmp_path / "renamed" / "_probe_2.npy").exists()
    (tmp_path / "renamed" / "notes.txt").write_text("mine")
    with pytest.raises(LensError, match="It also holds notes.txt"):  # a file of the user's is never deleted
        acts.save(tmp_path / "renamed", overwrite=True)


def test_save_refuses_a_site_renamed_after_construction_and_keeps_the_store_there(store, tmp_path):
    before = {p.name: p.read_bytes() for p in store.iterdir()}
    acts = Activations.load(tmp_path / "s")
    acts = Activations({"resid_post": np.array(acts.values)}, {"resid_post": acts.layers}, acts.table,
                       texts=acts.texts, attentions=acts.attentions, model=acts.model)  # fmt: skip
    for name in ("attentions", "../escaped"):
        acts.arrays = {name: acts.arrays.pop(next(iter(acts.arrays)))}
        acts.layers_by_site = {name: (0, 1, 2)}
        with pytest.raises(LensError, match="^sites: expected a site name"):
            acts.save(store, overwrite=True)
    assert {p.name: p.read_bytes() for p in store.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]  # nothing beside it either


def test_save_refuses_layers_a_store_cannot_list(store, tmp_path):
    acts = Activations.load(store)
    shuffled = Activations({"resid_post": np.asarray(acts.values)}, {"resid_post": (2, 0, 1)}, acts.table)
    with pytest.raises(LensError, match="layers of 'resid_post': expected distinct model layers"):
        shuffled.save(tmp_path / "shuffled")
    assert not (tmp_path / "shuffled").exists()


def test_the_store_writer_refuses_a_bad_site_name(tmp_path):
    with pytest.raises(LensError, match="^sites: expected a site name"):
        StoreWriter(tmp_path / "s", {}, {}, {"../x": (1, 2, 3)}, np.float32)
    assert not (tmp_path / "x.npy").exists()


# ------------------------------------------------------------------ finding 2: crafted manifests
def site(manifest):
    return manifest["sites"]["resid_post"]


def att(manifest):
    return manifest["attentions"]


CRAFTED = {
    "a 10**30 size": (lambda m: site(m).update(shape=[10**30, 43, 32]), r"sites\['resid_post'\]\['shape'\]"),
    "a huge dim": (lambda m: site(m).update(shape=[3, site(m)["shape"][1], 10**30]), r"\['shape'\] \(sizes of an"),
    "layers 'ab'": (lambda m: site(m).update(layers="ab"), r"\['layers'\] \(a non-empty list of integer layers"),
    "layers null": (lambda m: site(m).update(layers=None), r"\['layers'\] \(a non-empty list"),
    "layers floats": (lambda m: site(m).update(layers=[0.9, 1.5, 2.2]), r"\['layers'\] \(a non-empty list"),
    "layers bools": (lambda m: site(m).update(layers=[False, True, 2]), r"\['layers'\] \(a non-empty list"),
    "layers repeated": (lambda m: site(m).update(layers=[2, 2, 2]), r"\['layers'\] \(distinct layers in increasing"),
    "layers unsorted": (lambda m: site(m).update(layers=[2, 1, 0]), r"\['layers'\] \(distinct layers in increasing"),
    "layers past the model": (lambda m: site(m).update(layers=[0, 1, 7]), r"\['layers'\] \(layers from 0 to 2"),
    "layers below 0": (lambda m: site(m).update(layers=[-1, 0, 1]), r"\['layers'\] \(layers from 0"),
    "layers that are not the shape's": (lambda m: site(m).update(layers=[0, 1]), r"\['shape'\] \(\(layers, n_tokens"),
    "dtype float64": (lambda m: site(m).update(dtype="<f8"), r"\['dtype'\] \(float16 or float32\)"),
    "dtype int": (lambda m: site(m).update(dtype=7), r"\['dtype'\] \(float16 or float32\)"),
    "file of another site": (lambda m: site(m).update(file="attentions.npy"), r"\['file'\] \('resid_post.npy'"),
    "attention n_heads 'four'": (lambda m: att(m).update(n_heads="four"), r"attentions\['n_heads'\] \(a positive"),
    "attention n_heads 0": (lambda m: att(m).update(n_heads=0), r"attentions\['n_heads'\] \(a positive"),
    "attention layers 7": (lambda m: att(m).update(layers=7), r"attentions\['layers'\] \(a non-empty list"),
    "attention layer 0": (lambda m: att(m).update(layers=[0, 1]), r"attentions\['layers'\] \(layers from 1 to 2"),
    "attention n_values True": (lambda m: att(m).update(n_values=True), r"attentions\['n_values'\] \(a size\)"),
    "attentions a list": (lambda m: m.update(attentions=[1]), r"attentions \(a mapping, or null\)"),
    "model a string": (lambda m: m.update(model="bert"), r"model \(a mapping\)"),
    "n_layers 'two'": (lambda m: m["model"].update(n_layers="two"), r"model\['n_layers'\] \(a count\)"),
    "sites empty": (lambda m: m.update(sites={}), r"sites \(at least one site\)"),
    "n_tokens '43'": (lambda m: m.update(n_tokens=str(m["n_tokens"])), r"n_tokens \(a count\)"),
    "n_texts -1": (lambda m: m.update(n_texts=-1), r"n_texts \(a count\)"),
    "unit 'tok'": (lambda m: m.update(unit="tok"), r"unit \(one of"),
    "site name '../x'": (lambda m: m.update(sites={"../x": site(m)}), r"sites\['\.\./x'\] \(a site name"),
    "site name 'tokens'": (lambda m: m.update(sites={"tokens": site(m)}), r"sites\['tokens'\] \(a site name"),
}


@pytest.mark.parametrize("case", CRAFTED, ids=list(CRAFTED))
def test_a_crafted_manifest_is_refused_naming_the_store_and_the_field(store, case):
    craft, field = CRAFTED[case]
    edit_manifest(store, craft)
    with pytest.raises(
        LensError, match=f"^store: {store / 'manifest.json'} is incomplete \\(missing or wrong: .*{field}"
    ):
        Activations.load(store)


def test_a_shape_that_is_not_the_files_is_refused(store):
    edit_manifest(store, lambda m: site(m).update(shape=[3, m["n_tokens"], 16]))
    with pytest.raises(LensError, match="resid_post.npy is truncated or corrupt"):
        Activations.load(store)


def test_attention_offsets_past_the_values_are_refused(store):
    edit_table(store, "attention_index", lambda t: t.__setitem__("offset", t["offset"] + 4000))
    with pytest.raises(LensError, match="offset/length columns of .*attention_index.parquet point past the"):
        Activations.load(store)
    edit_table(store, "attention_index", lambda t: t.__setitem__("length", t["length"] * 10**9))  # no overflow
    with pytest.raises(LensError, match="point past the"):
        Activations.load(store)
    edit_table(store, "attention_index", lambda t: t.__setitem__("offset", -t["offset"] - 1))
    with pytest.raises(LensError, match="point past the"):
        Activations.load(store)


def test_the_untouched_store_loads_and_its_attentions_read(store):
    acts = Activations.load(store)
    assert acts.attentions.get(2).shape[:2] == (2, acts.attentions.n_heads)


# ------------------------------------------------------------------ finding 3: table types and references
def test_token_columns_of_another_type_are_refused_by_name(store):
    edit_table(store, "tokens", lambda t: t.__setitem__("special", t["special"].map({True: "True", False: "False"})))
    with pytest.raises(LensError, match=r"tokens.parquet, the column\(s\) \['special'\] should hold booleans"):
        Activations.load(store)
    edit_table(store, "tokens", lambda t: t.__setitem__("special", t["special"] == "True"))
    Activations.load(store)  # mended
    edit_table(store, "tokens", lambda t: t.__setitem__("position", t["position"].astype(float)))
    with pytest.raises(LensError, match=r"\['position'\] should hold integers, found position: float64"):
        Activations.load(store)


def test_a_text_id_outside_the_text_table_is_refused(store):
    edit_table(store, "tokens", lambda t: t.__setitem__("text_id", t["text_id"] + 10))
    with pytest.raises(LensError, match="row\\(s\\) of .*tokens.parquet have a text_id that .*texts.parquet does not"):
        Activations.load(store)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda t: t.__setitem__("token_end", t["token_end"] + 1), "do not cover the .* rows of .*tokens.parquet once"),
        (lambda t: t.__setitem__("token_start", t["token_start"] - 1), "do not cover"),
        (lambda t: t.__setitem__("n_tokens", t["n_tokens"] + 1), "disagree with its n_tokens column"),
        (lambda t: t.__setitem__("text_id", t["text_id"][::-1].to_numpy()), "point at rows of .* of other texts"),
        (lambda t: t.__setitem__("text_id", 0), "lists a text_id more than once"),
    ],
    ids=["past-the-end", "before-the-start", "n_tokens", "swapped", "repeated"],
)
def test_text_ranges_that_disagree_with_the_token_table_are_refused(store, change, message):
    edit_table(store, "texts", change)
    with pytest.raises(LensError, match=message):
        Activations.load(store)


def test_pooled_and_selected_stores_still_load(store, tmp_path):
    acts = Activations.load(store)
    for name, derived in {
        "texts": acts.pool_texts(),
        "words": acts.pool_words(),
        "sel": acts.select(items=[1, 2]),
    }.items():
        assert len(Activations.load(derived.save(tmp_path / name))) == len(derived)


def test_save_refuses_activations_whose_store_would_not_load(store, tmp_path):
    acts = Activations.load(store)
    texts = acts.texts.assign(token_end=acts.texts["token_end"] + 1)
    broken = Activations(acts.arrays, acts.layers_by_site, acts.table, texts=texts, model=acts.model)
    with pytest.raises(
        LensError,
        match=f"^path: .*nothing at {tmp_path / 'x'} was replaced. store: .* of {tmp_path / 'x' / 'texts.parquet'}",
    ):
        broken.save(tmp_path / "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]


# ------------------------------------------------------------------ finding 4: symbolic links
def test_a_resume_refuses_an_array_that_is_a_link(tiny_models, tmp_path):
    half = unfinished(tiny_models, tmp_path / "s")
    outside = tmp_path / "outside.bin"
    shutil.move(half / "resid_post.npy", outside)
    before = outside.read_bytes()
    os.symlink(outside, half / "resid_post.npy")
    with pytest.raises(LensError, match="resid_post.npy is a symbolic link; lensnb does not write through links"):
        lensnb.extract(tiny_models["bert"], TEXTS, batch_size=4, store=half, progress=False)
    assert outside.read_bytes() == before
    again = lensnb.extract(tiny_models["bert"], TEXTS, batch_size=4, store=half, overwrite=True, progress=False)
    assert outside.read_bytes() == before and not (half / "resid_post.npy").is_symlink()
    assert len(again) == len(Activations.load(half))


@pytest.mark.parametrize("name", [".manifest.json.tmp", ".done.npy.tmp"])
def test_a_temporary_that_is_a_link_is_replaced_not_followed(tiny_models, tmp_path, name):
    half = unfinished(tiny_models, tmp_path / "s")
    victim = tmp_path / "notes.txt"
    victim.write_text("user's notes\n")
    os.symlink(victim, half / name)
    resumed = lensnb.extract(tiny_models["bert"], TEXTS, batch_size=4, store=half, progress=False)
    assert victim.read_text() == "user's notes\n"
    reference = lensnb.extract(tiny_models["bert"], TEXTS, batch_size=4, progress=False)
    np.testing.assert_array_equal(np.asarray(resumed.values), reference.values)


def test_a_table_temporary_that_is_a_link_is_not_followed(tmp_path):
    victim = tmp_path / "notes.txt"
    victim.write_text("user's notes\n")
    os.symlink(victim, tmp_path / ".t.parquet.tmp")
    lensnb.store.write_table(tmp_path / "t.parquet", pd.DataFrame({"a": [1, 2]}))
    assert victim.read_text() == "user's notes\n"
    assert pd.read_parquet(tmp_path / "t.parquet")["a"].tolist() == [1, 2]


# ------------------------------------------------------------------ finding 5: read-only places
@pytest.fixture
def read_only(monkeypatch):
    """Make the folders put in the returned set refuse writes, as a read-only mount does
    (tests run as root too, whom chmod does not stop)."""
    folders: set[Path] = set()
    real_open, real_mkdtemp = os.open, tempfile.mkdtemp
    writing = os.O_WRONLY | os.O_RDWR | os.O_CREAT

    def refused(path) -> bool:
        return any(Path(path).resolve().is_relative_to(folder) for folder in folders)

    def fake_open(path, flags, *args, **kwargs):
        if flags & writing and refused(path):
            raise PermissionError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *args, **kwargs)

    def fake_mkdtemp(suffix=None, prefix=None, dir=None):
        if dir is not None and refused(dir):
            raise PermissionError(errno.EROFS, "Read-only file system", str(dir))
        return real_mkdtemp(suffix, prefix, dir)

    monkeypatch.setattr(os, "open", fake_open)
    monkeypatch.setattr(tempfile, "mkdtemp", fake_mkdtemp)
    return folders


def test_an_unfinished_store_in_a_read_only_place_says_what_to_do(tiny_models, tmp_path, read_only):
    half = unfinished(tiny_models, tmp_path / "half")
    read_only.add(half.resolve())
    with pytest.raises(LensError, match=f"^store: lensnb cannot write {half}.* read-only .* choose a folder you can"):
        lensnb.extract(tiny_models["bert"], TEXTS, batch_size=4, store=half, progress=False)


def test_a_finished_read_only_store_is_read_and_reused_but_not_saved_beside(tiny_models, store, read_only):
    read_only.add(store.parent.resolve())
    assert len(Activations.load(store)) > 0
    reused = lensnb.extract(tiny_models["bert"], TEXTS[:3], store=store, attentions=True, progress=False)
    assert reused.path == store
    with pytest.raises(LensError, match=f"^path: lensnb cannot write {store.parent} \\(Read-only file system\\)"):
        Activations.load(store).save(store.parent / "copy")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="chmod does not stop root")
def test_a_really_read_only_folder(tiny_models, tmp_path):
    half = unfinished(tiny_models, tmp_path / "half")
    for path in (half, *half.iterdir()):
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        with pytest.raises(LensError, match="cannot write"):
            lensnb.extract(tiny_models["bert"], TEXTS, batch_size=4, store=half, progress=False)
    finally:
        half.chmod(0o755)


# ------------------------------------------------------------------ batch settings on resume
def manifest_of(n_segments: int = 2) -> dict:
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "n_segments": n_segments, "n_tokens": 4,
            "sites": {"resid_post": {"layers": [0], "file": "resid_post.npy", "shape": [1, 4, 2], "dtype": "<f4"}}}  # fmt: skip


def write_half(path: Path, batching: dict | None) -> None:
    writer = StoreWriter(path, manifest_of(), {}, {"resid_post": (1, 4, 2)}, np.float32, batching=batching)
    writer.write("resid_post", 0, 0, np.ones((2, 2), np.float32))
    writer.mark_done([0])
    writer.commit(force=True)
    writer.close()


def test_a_resume_with_other_batch_settings_is_refused_naming_them(tmp_path):
    write_half(tmp_path / "s", {"batch_size": 4, "max_batch_tokens": 2048})
    assert json.loads((tmp_path / "s" / "manifest.json").read_text())["batching"]["batch_size"] == 4
    other = {"batch_size": 8, "max_batch_tokens": 2048}
    with pytest.raises(
        LensError, match=r"partly extracted with batch_size=4 \(this call: 8\)\. Resume it with the same"
    ):
        StoreWriter(tmp_path / "s", manifest_of(), {}, {"resid_post": (1, 4, 2)}, np.float32, batching=other)
    same = StoreWriter(tmp_path / "s", manifest_of(), {}, {"resid_post": (1, 4, 2)}, np.float32,
                       batching={"batch_size": 4, "max_batch_tokens": 2048})  # fmt: skip
    assert same.done.tolist() == [True, False]  # resumed
    same.close()


def test_a_resume_without_recorded_batch_settings_is_accepted(tmp_path):
    write_half(tmp_path / "s", None)
    resumed = StoreWriter(tmp_path / "s", manifest_of(), {}, {"resid_post": (1, 4, 2)}, np.float32,
                          batching={"batch_size": 8})  # fmt: skip
    assert resumed.done.tolist() == [True, False]
    resumed.close()
