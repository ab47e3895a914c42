"""One settings model for a store, read from the Fluss, Alluxio and Kafka Connect dialects."""

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
