"""Thumbnailer, an example app built on the reference clients, and its tests."""
