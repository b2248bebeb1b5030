"""Test support: the helper the pytest plugin's fixtures (``imagegen_emulator``,
``imagegen_server``, ``imagegen_intercept``) give, its two backends, the server pool, and
``intercept`` (the providers' real hosts answered in-process); pytest_plugin.py is the plugin
itself (entry point ``pytest11``)."""

from emulator.testing.backends import InProcess, OverHttp
from emulator.testing.handle import EmulatorAdminError, ImagegenEmulator
from emulator.testing.interception import InterceptError, intercept
from emulator.testing.server import ServerPool, start_server
from emulator.testing.settings import EmulatorSettings, SettingsError

__all__ = [
    "EmulatorAdminError",
    "EmulatorSettings",
    "ImagegenEmulator",
    "InProcess",
    "InterceptError",
    "OverHttp",
    "ServerPool",
    "SettingsError",
    "intercept",
    "start_server",
]
