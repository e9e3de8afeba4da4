"""The one exception type the CLI turns into a single clear line and exit status 2."""


class UserError(Exception):
    """A mistake in what the user asked for (bad recipe, missing file, bad value), not a bug."""
