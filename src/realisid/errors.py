"""User-facing errors: each names the problem with the input, never an internal failure."""

import math
import numbers


class RealisIDError(ValueError):
    """Bad input given by a user (photo, box, checkpoint, option). The CLI prints it as one line."""


class CheckpointError(RealisIDError):
    """A checkpoint is missing, corrupted, of another format, or does not fit the base model."""


def whole_number(name: str, value: object, least: int | None = None, most: int | None = None) -> int:
    """``value`` as an ``int`` when it is a whole number in ``[least, most]`` (a whole float too, as JSON and
    web forms send them); else a one-line :class:`RealisIDError` naming ``name``."""
    whole = not isinstance(value, bool) and (
        isinstance(value, numbers.Integral) or (isinstance(value, float) and math.isfinite(value) and value.is_integer())
    )
    if whole and (least is None or value >= least) and (most is None or value <= most):
        return int(value)
    if least is not None and most is not None:
        bounds = f" from {least} to {most}"
    else:
        bounds = f" of at least {least}" if least is not None else f" of at most {most}" if most is not None else ""
    raise RealisIDError(f"{name} must be a whole number{bounds}, got {value!r}")
