"""User-facing errors: each names the problem with the input, never an internal failure."""


class RealisIDError(ValueError):
    """Bad input given by a user (photo, box, checkpoint, option). The CLI prints it as one line."""


class CheckpointError(RealisIDError):
    """A checkpoint is missing, corrupted, of another format, or does not fit the base model."""
