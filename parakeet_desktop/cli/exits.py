"""The command line's exit codes, the same for every command."""

EXIT_OK = 0
EXIT_FAILED = 1  # some inputs failed (the others were done), or the command could not do its work
EXIT_USAGE = 2  # argparse's own
EXIT_MODEL = 3  # the model could not be had
EXIT_INTERRUPTED = 130  # Ctrl+C
