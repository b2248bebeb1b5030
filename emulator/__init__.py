"""imagegen-emulator: an offline, faithful stand-in for commercial image-generation APIs."""

from emulator.app import create_app
from emulator.config import Config

__all__ = ["Config", "create_app"]
