"""Helpers that tests in several folders share: a test module never imports another test module or a conftest."""
