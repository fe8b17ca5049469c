"""One module per ``tankerwatch`` subcommand, each with ``add_arguments(parser)`` and ``run(args)``.

:mod:`tankerwatch.infer.cli` imports only the module of the command being run, so this package
imports nothing itself; :mod:`.args` holds the argument types and options the commands share.
"""

__all__ = ["args", "check_labels", "convert", "detect", "report", "synth"]
