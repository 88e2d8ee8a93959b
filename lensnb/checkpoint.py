"""Resumable training: checkpoints that give back exactly the run that wrote them.

A checkpoint folder holds two files:

- ``state-<step>.safetensors``: the model's weights, AdamW's moments and step counts,
  and the states of torch's random generators (tensors only; never pickle);
- ``lensnb_fine_tune.json``: the record (JSON scalars): which model and which run
  (settings and data) wrote it, the step reached, the optimiser's hyper-parameters,
  the learning-rate schedule's position and the name of its state file.

A run resumed from it continues from the same weights, moments, learning rate and
random stream, so that it ends where an uninterrupted run ends (bit for bit on a CPU).
A checkpoint of another model (class, config, parameter shapes, pre-training weights or
trainable parameters) or of another run is refused, never silently resumed.

The same model object, trained in place by a run that was interrupted (Ctrl-C in a
notebook) or that finished, resumes its run when the same call is made again: its
weights are partly trained, so its identity is the one taken before that run, and the
checkpoint's weights replace its own (the resumed run is exact; a finished run gives
back its finished weights and runs no step). An object interrupted before its run's
first checkpoint cannot be resumed (nothing holds the weights it started from): it is
refused, with the advice to reload it.

Writes are crash-safe: the state file is written under a temporary name and renamed,
then the record is written under a temporary name and renamed over the old one (the one
atomic step that switches checkpoints), and only then are older state files removed. A
run killed at any point leaves the old checkpoint or the new one, never a mix. The
temporary files of a process that was killed (``.<name>.<host>.<pid>.tmp``) are removed by
the next run that resumes or saves there, once their process has gone (or a day after
their last change, for a process of another machine); never a running process's.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lensnb.errors import LensError

__all__ = [
    "FORMAT",
    "RECORD",
    "Checkpoint",
    "TrainingState",
    "check_checkpoint",
    "checkpoint_lock",
    "model_identity",
    "private_rng",
    "rng_states",
    "seed_rng",
    "set_rng_states",
]

#: Written in every record; records of another format are refused.
FORMAT = "lensnb-fine-tune-checkpoint/2"
#: Name of the record in a checkpoint folder.
RECORD = "lensnb_fine_tune.json"
#: Config keys that do not change what a model computes when trained (bookkeeping and output switches).
_CONFIG_IGNORED = {
    "transformers_version", "architectures", "dtype", "torch_dtype", "output_hidden_states",
    "output_attentions", "return_dict", "use_cache", "attn_implementation",
    # set by transformers on the first forward pass with labels (inferred from num_labels and the
    # labels' dtype, which the run's task and data fix): a model trained in place has it, the same
    # model loaded afresh has not
    "problem_type",
}  # fmt: skip
#: What identifies a model in a record (its name is recorded for messages only: a moved folder is the same model).
_IDENTITY = ("class", "config", "architecture", "weights", "trainable")


@dataclass(frozen=True)
class TrainingState:
    """The live objects of a training run that a checkpoint saves and restores.

    Attributes
    ----------
    net : torch.nn.Module
        The model being trained.
    optimizer : torch.optim.Optimizer
        Over the trainable parameters of ``net``, in ``named_parameters`` order.
    schedule : torch.optim.lr_scheduler.LRScheduler
        The learning-rate schedule (its position is saved, not its function).
    device : torch.device
        Where the model runs (whose random generator drives dropout).
    """

    net: torch.nn.Module
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    device: torch.device


# ----------------------------------------------------------------------------- random generators
def _accelerator(device: torch.device) -> Any:
    """torch's module for ``device``'s random generator (``torch.cuda``...), or None for the CPU."""
    if device.type == "cpu":
        return None
    module = getattr(torch, device.type, None)
    return module if hasattr(module, "get_rng_state") and hasattr(module, "set_rng_state") else None


def rng_states(device: torch.device) -> dict[str, torch.Tensor]:
    """The states of torch's default generators: ``"cpu"``, and ``device.type`` for an accelerator.

    Returns
    -------
    dict of str to uint8 tensor of shape (state bytes,)
    """
    states = {"cpu": torch.random.get_rng_state()}
    module = _accelerator(device)
    if module is not None:
        states[device.type] = module.get_rng_state(device)
    return states


def set_rng_states(device: torch.device, states: dict[str, torch.Tensor]) -> None:
    """Give torch's default generators the ``states`` of :func:`rng_states` (those present)."""
    if "cpu" in states:
        torch.random.set_rng_state(states["cpu"])
    module = _accelerator(device)
    if module is not None and device.type in states:
        module.set_rng_state(states[device.type], device)


def seed_rng(device: torch.device, seed: int) -> None:
    """Seed torch's default CPU generator and ``device``'s (no other device's)."""
    torch.random.default_generator.manual_seed(seed)
    if device.type == "cuda":
        with torch.cuda.device(device):
            torch.cuda.manual_seed(seed)
    elif (module := _accelerator(device)) is not None and hasattr(module, "manual_seed"):
        module.manual_seed(seed)


@contextmanager
def private_rng(device: torch.device) -> Iterator[None]:
    """Run a block on torch's default generators, then give the caller's states back.

    Like :func:`torch.random.fork_rng` for the CPU and ``device``: dropout inside the
    block may seed and draw as it likes; the caller's random stream afterwards is the
    one it had before.
    """
    saved = rng_states(device)
    try:
        yield
    finally:
        set_rng_states(device, saved)


# ----------------------------------------------------------------------------- model identity
def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _config_digest(config: Any) -> str:
    """Digest of a transformers config, without bookkeeping (paths, versions) and output switches."""
    values = json.loads(config.to_json_string(use_diff=False)) if hasattr(config, "to_json_string") else {}
    return _digest({k: v for k, v in values.items() if not k.startswith("_") and k not in _CONFIG_IGNORED})


def _weights_digest(module: torch.nn.Module) -> str:
    """Digest of parameter names, shapes, dtypes and an evenly spread sample of up to 4096 values of each."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        if tensor.device.type != "meta" and tensor.numel() and tensor.is_floating_point():
            flat = tensor.detach().reshape(-1)
            sample = flat[:: max(1, flat.numel() // 4096)][:4096]
            digest.update(sample.to("cpu", torch.float32).numpy().tobytes())
        elif tensor.device.type != "meta" and tensor.numel():
            digest.update(tensor.detach().reshape(-1)[:4096].cpu().numpy().tobytes())
    return digest.hexdigest()[:32]


def model_identity(net: torch.nn.Module, name: str) -> dict[str, str]:
    """What a checkpoint records of the model that wrote it, taken before training.

    Parameters
    ----------
    net : torch.nn.Module
        A transformers model with a head.
    name : str
        Its hub name or folder (recorded for messages, not compared).

    Returns
    -------
    dict of str to str
        ``name``, ``class``, and digests of its ``config``, its ``architecture``
        (parameter names, shapes, dtypes), the ``weights`` of its body (``base_model``:
        the pre-trained part, which the same model loaded twice always has; a new head's
        random weights are left out, since a resumed run takes them from the checkpoint)
        and the names of its ``trainable`` parameters.
    """
    state = net.state_dict()
    return {
        "name": str(name),
        "class": type(net).__name__,
        "config": _config_digest(getattr(net, "config", None)),
        "architecture": _digest([(k, list(v.shape), str(v.dtype)) for k, v in state.items()]),
        "weights": _weights_digest(getattr(net, "base_model", net)),
        "trainable": _digest([k for k, p in net.named_parameters() if p.requires_grad]),
    }


# ----------------------------------------------------------------------------- tensors <-> state
def _weight_tensors(net: torch.nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """CPU copies of the weights (``"model/<key>"``), tied weights once, and the tied keys' owners."""
    tensors, tied, seen = {}, {}, {}
    for key, value in net.state_dict().items():
        view = (value.data_ptr(), value.dtype, tuple(value.shape), value.stride(), str(value.device))
        if value.numel() and view in seen:
            tied[key] = seen[view]
            continue
        seen[view] = key
        tensors[f"model/{key}"] = value.detach().to("cpu", copy=True).contiguous()
    return tensors, tied


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The optimiser's per-parameter state: tensors (``"optimizer/<index>/<key>"``) and the rest (JSON)."""
    tensors, scalars = {}, {}
    for index, values in optimizer.state_dict()["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer/{index}/{key}"] = value.detach().to("cpu", copy=True).contiguous()
            else:
                scalars[f"{index}/{key}"] = value
    return tensors, scalars


def _param_groups(optimizer: torch.optim.Optimizer) -> list[dict[str, Any]]:
    groups = optimizer.state_dict()["param_groups"]
    return [{k: list(v) if isinstance(v, tuple) else v for k, v in group.items()} for group in groups]


def _optimizer_state(
    optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], saved: dict[str, Any]
) -> dict[str, Any]:
    """The ``state_dict`` to load into ``optimizer``, from the state file's tensors and the record."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer/"):
            _, index, name = key.split("/", 2)
            state.setdefault(int(index), {})[name] = value
    for key, value in saved["scalars"].items():
        index, name = key.split("/", 1)
        state.setdefault(int(index), {})[name] = value
    live = optimizer.state_dict()["param_groups"]
    groups = []
    for group, now in zip(saved["param_groups"], live):  # tuples (AdamW's betas) come back as tuples
        groups.append({k: tuple(v) if isinstance(now.get(k), tuple) else v for k, v in group.items()})
    return {"state": state, "param_groups": groups + saved["param_groups"][len(live) :]}


# ----------------------------------------------------------------------------- files
def _fsync_folder(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # folders cannot be opened on some systems (Windows)
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _host() -> str:
    """This machine's name as temporary files carry it: letters, digits and '-' only."""
    return re.sub(r"[^A-Za-z0-9-]+", "-", socket.gethostname())[:63].strip("-") or "host"


#: The temporary files of :func:`_write_atomically` in a checkpoint folder: ``.<state file or
#: record>.<host>.<pid>.tmp`` (``.<name>.<pid>.tmp`` from lensnb before the host was added).
_TEMPORARY = re.compile(
    r"\.(?:state-\d+\.safetensors|" + re.escape(RECORD) + r")\.(?:(?P<host>[A-Za-z0-9-]+)\.)?(?P<pid>\d+)\.tmp"
)
#: Seconds after its last change when a temporary file of another machine's process is taken as left behind.
_FOREIGN_TEMPORARY_AGE = 24 * 3600


def _running(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (True when that cannot be told)."""
    if os.name == "nt":  # os.kill(pid, 0) would terminate it there
        import ctypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return ctypes.get_last_error() != 87  # ERROR_INVALID_PARAMETER: no such process
        try:
            code = ctypes.c_ulong()
            return not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)) or code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError, ValueError):  # PermissionError: another user's process
        return True
    return True


def _remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove the temporary files that killed processes left in a checkpoint folder; those removed.

    Only lensnb's own temporaries (:data:`_TEMPORARY`) are considered, and of those only
    the ones of a process of this machine that no longer runs (or of this process, whose
    writes into the folder are over when this is called), or, for another machine's
    process, that nothing changed for a day. A running process's are never touched.
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:  # no folder yet
        return removed
    host, now = _host(), time.time()
    for entry in entries:
        match = _TEMPORARY.fullmatch(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        pid = int(match["pid"])
        try:
            if match["host"] in (None, host):
                stale = pid == os.getpid() or not _running(pid)
            else:
                stale = now - entry.stat(follow_symlinks=False).st_mtime > _FOREIGN_TEMPORARY_AGE
            if stale:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:  # gone meanwhile, or not ours to remove: left as it is
            continue
    return removed


def _write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` through ``write(temporary path)``, flush it to disk, and rename it into place."""
    temporary = path.with_name(f".{path.name}.{_host()}.{os.getpid()}.tmp")
    try:
        write(temporary)
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


@contextmanager
def checkpoint_lock(folder: Path | None, writers: str) -> Iterator[None]:
    """Hold the lock on a checkpoint folder (made here if new) while a run uses it.

    A second run into the same folder, in this process or another, is refused (naming
    ``checkpoint``) rather than interleaving its saves with the first's. The lock is that of
    a store (:class:`~lensnb.store_lock.StoreLock`): released when the run ends or its
    process dies. None: no checkpoint, no lock.
    """
    if folder is None:
        yield
        return
    from lensnb.store_lock import StoreLock

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise LensError.bad_argument(
            "checkpoint", str(folder), "a folder lensnb can create", f"{type(error).__name__}: {error.strerror}"
        ) from None
    lock = StoreLock(folder, "checkpoint", kind="checkpoint", writers=writers)
    try:
        yield
    finally:
        lock.release()


def check_checkpoint(checkpoint: Any) -> Path | None:
    """``checkpoint`` as a folder path (None stays None), refusing an existing file or a non-path.

    Raises
    ------
    LensError
        Naming ``checkpoint``, for anything but None, a str or an os.PathLike, for an
        empty path, and for a path that exists and is not a folder.
    """
    if checkpoint is None:
        return None
    expected = "None or a folder path (new, or holding a checkpoint of this run)"
    if not isinstance(checkpoint, (str, os.PathLike)) or not str(os.fspath(checkpoint)).strip():
        raise LensError.bad_argument("checkpoint", checkpoint, expected)
    folder = Path(checkpoint).expanduser()
    if folder.exists() and not folder.is_dir():
        raise LensError.bad_argument("checkpoint", str(folder), expected, "That path is a file, not a folder.")
    return folder


@dataclass
class _InPlace:
    """A run that trained a model object in place with a checkpoint, the last into its folder (see :func:`_runs_in_place`)."""

    folder: Path  # the run's checkpoint folder, resolved
    identity: dict[str, str]  # the model's identity its records carry: taken before the run began
    weights: str  # _weights_digest of the whole model when its steps began (after any restore)
    finished: bool  # its last step was taken (the model holds the run's final weights)


#: The attribute under which a model object keeps the runs that trained it in place with a
#: checkpoint, by folder (state of that object, not of the module). A partly trained object is
#: then still known as the model of its run: the same call made again resumes it (its weights
#: replaced by the checkpoint's) instead of refusing it, and so does a pipeline of runs into
#: several folders (stage 1, then stage 2), made again.
_IN_PLACE_ATTRIBUTE = "_lensnb_runs_in_place"


def _runs_in_place(net: torch.nn.Module) -> dict[Path, _InPlace]:
    """The runs that trained ``net`` in place, by checkpoint folder (made empty on first use)."""
    runs = net.__dict__.get(_IN_PLACE_ATTRIBUTE)
    if runs is None:
        runs = {}
        object.__setattr__(net, _IN_PLACE_ATTRIBUTE, runs)  # a plain attribute: not a parameter, buffer or module
    return runs


def _resolved(folder: Path) -> Path:
    try:
        return folder.resolve()
    except (OSError, RuntimeError):
        return folder.absolute()


class Checkpoint:
    """A checkpoint folder of one run of one model.

    Parameters
    ----------
    folder : Path
        From :func:`check_checkpoint`.
    identity : dict
        :func:`model_identity` of the model before training (for a model object that an
        earlier run into this folder trained in place, :meth:`resume` takes the identity
        that run recorded instead).
    settings : dict
        The run's settings and a digest of its data (JSON scalars); a checkpoint of
        other settings is refused.
    total : int
        Steps of the whole run.
    """

    def __init__(self, folder: Path, identity: dict[str, str], settings: dict[str, Any], total: int):
        self.folder, self.identity, self.settings, self.total = folder, identity, settings, total
        self._earlier: _InPlace | None = None  # this folder's run that trained the model object in place

    @property
    def record_path(self) -> Path:
        return self.folder / RECORD

    def resume(self, state: TrainingState) -> int:
        """Restore ``state`` from the folder's checkpoint; the step it reached (0: no checkpoint yet).

        The model object of an earlier run into this folder (interrupted, or finished),
        trained in place by it, resumes that run: it is identified as it was before the
        run, and the checkpoint's weights replace its partly trained ones. Temporary
        files that killed runs left in the folder are removed.

        Raises
        ------
        LensError
            Naming the folder, for a checkpoint of another model, of other settings or
            data, of an older format, or a damaged one; naming ``model``, for a model
            object partly trained in place by a run into this folder that left no
            checkpoint to resume (it must be reloaded).
        """
        _remove_stale_temporaries(self.folder)
        earlier = _runs_in_place(state.net).get(_resolved(self.folder))
        record = self._read_record()
        if record is None:
            if earlier is not None and not earlier.finished and _weights_digest(state.net) != earlier.weights:
                name = self.identity["name"]
                raise LensError.bad_argument(
                    "model", name, "a model as loaded, or the model object of the run that saves its checkpoints "
                    f"in {self.folder}",
                    f"This {self.identity['class']} object was trained in place by an earlier call into that folder "
                    "that stopped before it saved a checkpoint there, so its weights are partly trained and no "
                    f"checkpoint holds the ones it started from. Reload it (lensnb.load_model({name!r}, ...)) and "
                    "run again.",
                )  # fmt: skip
            self._started(state, finished=False)
            return 0
        if earlier is not None:  # the object that this folder's run trained in place: known as it was before
            self.identity, self._earlier = earlier.identity, earlier
        self._check_same_run(record)
        tensors = self._read_state(record)
        self._load_weights(state.net, tensors, record["tied"])
        try:
            state.optimizer.load_state_dict(_optimizer_state(state.optimizer, tensors, record["optimizer"]))
            state.schedule.load_state_dict(record["schedule"])
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise self._damaged(f"its optimiser state does not fit this run ({error})") from None
        set_rng_states(state.device, {k.removeprefix("rng/"): v for k, v in tensors.items() if k.startswith("rng/")})
        step = int(record["step"])
        self._started(state, finished=step == self.total)
        return step

    def _started(self, state: TrainingState, *, finished: bool) -> None:
        """Remember that ``state.net``'s weights are now this run's, from the step it starts at."""
        folder = _resolved(self.folder)
        _runs_in_place(state.net)[folder] = _InPlace(folder, self.identity, _weights_digest(state.net), finished)

    def save(self, state: TrainingState, step: int) -> None:
        """Write the checkpoint of ``state`` after ``step`` steps, replacing the previous one atomically."""
        self.folder.mkdir(parents=True, exist_ok=True)
        weights, tied = _weight_tensors(state.net)
        moments, scalars = _optimizer_tensors(state.optimizer)
        rng = {f"rng/{k}": v.detach().to("cpu", copy=True) for k, v in rng_states(state.device).items()}
        name = f"state-{step:08d}.safetensors"

        def write_state(path: Path) -> None:
            from safetensors.torch import save_file

            save_file({**weights, **moments, **rng}, str(path), metadata={"format": FORMAT})

        _write_atomically(self.folder / name, write_state)
        record = {
            "format": FORMAT, "model": self.identity, "settings": self.settings, "total": self.total,
            "step": int(step), "state_file": name, "state_bytes": (self.folder / name).stat().st_size,
            "tied": tied, "optimizer": {"param_groups": _param_groups(state.optimizer), "scalars": scalars},
            "schedule": state.schedule.state_dict(),
        }  # fmt: skip
        text = json.dumps(record, indent=1)
        _write_atomically(self.record_path, lambda path: path.write_text(text, encoding="utf-8"))
        for stale in self.folder.glob("state-*.safetensors"):
            if stale.name != name:
                stale.unlink(missing_ok=True)
        _remove_stale_temporaries(self.folder)
        if step == self.total and (run := _runs_in_place(state.net).get(_resolved(self.folder))) is not None:
            run.finished = True

    # ------------------------------------------------------------------ reading
    def _damaged(self, why: str) -> LensError:
        return LensError(
            f"checkpoint: the checkpoint in {self.folder} cannot be resumed: {why}. "
            f"{self._reload_first()}Delete that folder to start the run again, or pass another folder."
        )

    def _reload_first(self) -> str:
        """For a model object trained in place by this folder's run: the advice to reload it first."""
        if self._earlier is None:
            return ""
        load = f"lensnb.load_model({self.identity['name']!r}, ...)"
        if self._earlier.finished:
            return (
                "This model object holds the weights that the finished run of that checkpoint trained in place: "
                f"reload it first ({load}) for a new run from the loaded weights. "
            )
        return (
            "This model object was partly trained in place by the interrupted run that wrote that checkpoint: "
            f"reload it first ({load}), since a new run must start from the loaded weights. "
        )

    def _read_record(self) -> dict[str, Any] | None:
        path = self.record_path
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise self._damaged(f"its record {path} is damaged or truncated (not JSON: {error})") from None
        if isinstance(record, dict) and "format" not in record and "step" in record:
            raise self._damaged(
                f"its record {path} was written by an earlier lensnb that did not save the optimiser's "
                "state and the random stream, so the run cannot continue exactly"
            )
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            raise self._damaged(f"its record {path} is not a lensnb checkpoint record of format {FORMAT!r}")
        shapes = {"model": dict, "settings": dict, "total": int, "step": int, "state_file": str,
                  "state_bytes": int, "tied": dict, "optimizer": dict, "schedule": dict}  # fmt: skip
        wrong = [key for key, kind in shapes.items() if not isinstance(record.get(key), kind)]
        if wrong or not 0 < record["step"] <= record["total"]:
            raise self._damaged(f"its record {path} lacks or has damaged fields {wrong or ['step']}")
        return record

    def _check_same_run(self, record: dict[str, Any]) -> None:
        model = record["model"]
        differ = [key for key in _IDENTITY if model.get(key) != self.identity[key]]
        if differ:
            changed_in_place = "" if self._earlier is not None or differ != ["weights"] else (
                "If it was written while training this model, whose weights have changed in place since it was "
                f"loaded (by another training call, say), reload it (lensnb.load_model({self.identity['name']!r}, "
                "...)) and run again: the run resumes from the checkpoint. Otherwise, "
            )  # fmt: skip
            advice = "pass another folder, or delete this one to train this model from the start."
            raise LensError.bad_argument(
                "checkpoint", str(self.folder), "a folder saved while training this model",
                f"It was written by {model.get('name')!r} ({model.get('class')}), whose {', '.join(differ)} "
                f"differ from those of this model, {self.identity['name']!r} ({self.identity['class']}). "
                f"{self._reload_first()}{changed_in_place}{advice if changed_in_place else advice.capitalize()}",
            )  # fmt: skip
        keys = sorted(set(record["settings"]) | set(self.settings))
        changed = [key for key in keys if record["settings"].get(key) != self.settings.get(key)]
        if changed or record["total"] != self.total:
            raise LensError.bad_argument(
                "checkpoint", str(self.folder), "a folder saved by a run with the same data and settings",
                f"Its record differs in {', '.join(changed or ['total steps'])}. {self._reload_first()}"
                "Pass another folder, or delete this one.",
            )  # fmt: skip

    def _read_state(self, record: dict[str, Any]) -> dict[str, torch.Tensor]:
        from safetensors.torch import load_file

        path = self.folder / Path(record["state_file"]).name
        if not path.is_file() or path.stat().st_size != record["state_bytes"]:
            raise self._damaged(f"its state file {path} is missing or not of the size its record gives")
        try:
            return load_file(str(path))
        except Exception as error:  # safetensors raises its own error types for a damaged file
            raise self._damaged(f"its state file {path} does not read ({error})") from None

    def _load_weights(self, net: torch.nn.Module, tensors: dict[str, torch.Tensor], tied: dict[str, str]) -> None:
        weights = {k.removeprefix("model/"): v for k, v in tensors.items() if k.startswith("model/")}
        for key, owner in tied.items():
            if owner not in weights:
                raise self._damaged(f"its tied weight {key!r} names {owner!r}, which is not in the state file")
            weights[key] = weights[owner]
        try:
            net.load_state_dict(weights, strict=True)
        except RuntimeError as error:
            raise self._damaged(f"its weights do not fit this model ({' '.join(str(error).split())})") from None
