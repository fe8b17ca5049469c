"""The project's one error hierarchy and the exit codes the CLI maps it to.

Every error a user can cause (bad file, bad flag, bad model) is raised as a ``TankerwatchError``
whose message is one line naming the file and what is wrong; the CLI prints it without a traceback
(unless ``--debug``) and exits with ``EXIT_BAD_INPUT``.
"""

EXIT_OK = 0
EXIT_SOME_FAILED = 1  # a batch finished, but some items failed and were skipped
EXIT_BAD_INPUT = 2  # bad input or usage; nothing was written


class TankerwatchError(Exception):
    """Base class: a one-line, user-facing message."""


class LabelError(TankerwatchError):
    """A label file is malformed or inconsistent with its image."""


class RasterError(TankerwatchError):
    """An image or raster cannot be read, is too large, or does not fit the model."""


class ModelError(TankerwatchError):
    """A model file or checkpoint is not ours, is tampered with, or does not fit the input."""


class ConfigError(TankerwatchError):
    """A configuration value or command-line argument is invalid."""


def located(path, message, line=None):
    """Format ``path[:line]: message``, the one shape every file error takes."""
    where = f"{path}:{line}" if line is not None else f"{path}"
    return f"{where}: {message}"


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of a library's exception message, for a one-line error (GDAL and onnxruntime
    put pages of detail after it)."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:limit]
