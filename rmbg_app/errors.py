"""Errors whose message is meant for the user, in the UI, the API and the CLI alike."""


class RmbgError(Exception):
    """Base class: ``str(error)`` is a complete, readable sentence with the fix."""


class InputError(RmbgError):
    """The uploaded file cannot be processed (not an image, damaged, too large...)."""


class EmptyResult(RmbgError):
    """The matte is (almost) empty: there is no subject to cut out."""


class ModelUnavailable(RmbgError):
    """The model snapshot cannot be found, downloaded or loaded."""


class DeviceUnavailable(RmbgError):
    """The requested compute device does not exist on this machine."""


class RemoteCodeRefused(RmbgError):
    """The model's Python code is not trusted by the current settings."""
