"""One settings model for a store, read from the Fluss, Alluxio and Kafka Connect dialects."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tierstore.lazy import lazy_attributes

if TYPE_CHECKING:
    from tierstore.settings.dialects import DIALECTS, get_dialect, known_keys
    from tierstore.settings.keys import Dialect, KeySpec
    from tierstore.settings.loader import (
        LoadedSettings,
        check_store_settings,
        load_store_settings,
        settings_from_mapping,
        settings_from_options,
    )
    from tierstore.settings.model import StoreLocation, StoreSettings, parse_location
    from tierstore.settings.problems import ConfigProblems, Problem
    from tierstore.settings.secret import Secret, mask_key_id

__all__ = [
    "DIALECTS",
    "ConfigProblems",
    "Dialect",
    "KeySpec",
    "LoadedSettings",
    "Problem",
    "Secret",
    "StoreLocation",
    "StoreSettings",
    "check_store_settings",
    "get_dialect",
    "known_keys",
    "load_store_settings",
    "mask_key_id",
    "parse_location",
    "settings_from_mapping",
    "settings_from_options",
]

# Imported when first used: the dialects' key tables and the YAML reader cost more than most
# commands need (``tierstore --help`` reads no settings at all).
__getattr__ = lazy_attributes(
    __name__,
    {
        "DIALECTS": "tierstore.settings.dialects",
        "get_dialect": "tierstore.settings.dialects",
        "known_keys": "tierstore.settings.dialects",
        "Dialect": "tierstore.settings.keys",
        "KeySpec": "tierstore.settings.keys",
        "LoadedSettings": "tierstore.settings.loader",
        "check_store_settings": "tierstore.settings.loader",
        "load_store_settings": "tierstore.settings.loader",
        "settings_from_mapping": "tierstore.settings.loader",
        "settings_from_options": "tierstore.settings.loader",
        "StoreLocation": "tierstore.settings.model",
        "StoreSettings": "tierstore.settings.model",
        "parse_location": "tierstore.settings.model",
        "ConfigProblems": "tierstore.settings.problems",
        "Problem": "tierstore.settings.problems",
        "Secret": "tierstore.settings.secret",
        "mask_key_id": "tierstore.settings.secret",
    },
)
