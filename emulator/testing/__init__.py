"""Test support: the helper the pytest plugin's fixtures (``imagegen_emulator``,
``imagegen_server``) give, its two backends, and the server pool; pytest_plugin.py is the
plugin itself (entry point ``pytest11``)."""

from emulator.testing.backends import InProcess, OverHttp
from emulator.testing.handle import EmulatorAdminError, ImagegenEmulator
from emulator.testing.server import ServerPool, start_server
from emulator.testing.settings import EmulatorSettings, SettingsError

__all__ = [
    "EmulatorAdminError",
    "EmulatorSettings",
    "ImagegenEmulator",
    "InProcess",
    "OverHttp",
    "ServerPool",
    "SettingsError",
    "start_server",
]
