"""Load a training checkpoint safely: ``torch.load(weights_only=True)`` (no code is unpickled) and
only files that carry the project's ``"tankerwatch"`` member (written by the LightningModule)."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from tankerwatch.infer.core.errors import ConfigError, ModelError, located
from tankerwatch.models import OrientedDetector, build_detector

from .lightning_module import CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_VERSION

# The detector's weights in a checkpoint's state_dict: the moving average when the run kept one
# (``model.ema_decay``; what validation selected the checkpoint by), else the trained weights.
EMA_PREFIX, MODEL_PREFIX = "ema.module.", "model."


def load_checkpoint(path) -> tuple[OrientedDetector, dict]:
    """``(model in eval mode with decode=False, meta)`` from a checkpoint written by ``tankerwatch fit``
    (the EMA weights when the run kept an average).

    ``meta``: format, format_version, project_version, model_config, scaling (dict), type_names,
    load_names, gsd_range_m, load_uncertain_band, load_max_gsd_m, config_yaml, config_sha256,
    val_metrics; and, from checkpoints written since they existed (no format_version bump: each is
    optional and its absence means what older checkpoints did), max_vessel_px, label_counts and
    taught (``{"type": bool, "load": bool}``, see
    :func:`~tankerwatch.train.datamodule.taught_heads`; absent means taught both). Raises ModelError
    for a missing, foreign, pickled-code or damaged file.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(located(path, "no such checkpoint file"))
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unsafe content"
        raise ModelError(located(path, f"refused: not a plain-data checkpoint ({first[:160]})")) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise ModelError(located(path, f"not a readable torch checkpoint ({str(exc).splitlines()[0][:160]})")) from None
    meta = checkpoint.get("tankerwatch") if isinstance(checkpoint, dict) else None
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise ModelError(located(path, "not a tankerwatch checkpoint (no 'tankerwatch' metadata)"))
    if meta.get("format_version") != CHECKPOINT_FORMAT_VERSION:
        raise ModelError(located(path, f"checkpoint format_version {meta.get('format_version')!r} is not "
                                       f"{CHECKPOINT_FORMAT_VERSION}; this tankerwatch cannot read it"))
    state = checkpoint.get("state_dict")
    if not isinstance(state, dict):
        raise ModelError(located(path, "checkpoint has no state_dict"))
    try:
        model = build_detector(**meta["model_config"])
    except (ConfigError, KeyError, TypeError) as exc:
        raise ModelError(located(path, f"checkpoint model_config is unusable ({exc})")) from None
    prefix = EMA_PREFIX if any(k.startswith(EMA_PREFIX) for k in state) else MODEL_PREFIX
    weights = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise ModelError(located(path, f"weights do not fit the model ({str(exc).splitlines()[0][:160]})")) from None
    return model.eval(), meta


def copy_matching_weights(path, model: torch.nn.Module) -> tuple[int, list[str]]:
    """Start ``model`` from the detector weights of the tankerwatch checkpoint ``path`` (fine-tuning:
    e.g. a model pre-trained on synthetic scenes, then trained on real ones). Every tensor whose name
    and shape match is copied; the rest keep their initial values. The checkpoint is read as
    :func:`load_checkpoint` reads it (no code unpickled, format checked).

    Returns ``(tensors copied, names left at their initial values)``. Raises ModelError when nothing
    matches (a checkpoint of another backbone or band count), so a wrong path cannot silently train
    from scratch."""
    source, _ = load_checkpoint(path)
    given = source.state_dict()
    target = model.state_dict()
    copied = {name: tensor for name, tensor in given.items()
              if name in target and target[name].shape == tensor.shape}
    if not copied:
        raise ModelError(located(Path(path), "no weight of this checkpoint fits the model (another backbone or band count?)"))
    model.load_state_dict(copied, strict=False)
    return len(copied), sorted(set(target) - set(copied))
