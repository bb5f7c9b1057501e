"""The one exception type for bad user input: the CLI prints its message on one line and exits 2."""


class UserError(ValueError):
    """Bad input from the user (config, data, files): the message says what was wrong and what is valid."""
