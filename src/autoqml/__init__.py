"""autoqml: automated architecture search for Born-sampled quantum GANs."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("autoqml")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"
