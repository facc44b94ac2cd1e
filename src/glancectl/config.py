"""The Glance settings that shape the store's rules.

Precedence, highest first: ``GLANCECTL_<NAME>`` in the environment, then
``<home>/glancectl.toml``, then Glance's defaults. (Where the home is comes
from ``cli.context.resolve_home``.)

Settings are read once per command and passed down explicitly; nothing
below the CLI reads the environment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Mapping

from glancectl.errors import InvalidValue

CONFIG_FILE_NAME = "glancectl.toml"
ENV_PREFIX = "GLANCECTL_"
TiB = 1024**4


@dataclass(frozen=True)
class Settings:
    delayed_delete: bool = False
    scrub_time: int = 0  # seconds an image stays pending_delete before scrub removes it
    image_size_cap: int = TiB
    user_storage_quota: int = 0  # bytes; 0 means unlimited
    image_location_quota: int = 10
    image_property_quota: int = 128
    image_tag_quota: int = 128
    task_time_to_live: int = 48  # hours
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)


_SIZE_UNITS = {"": 1, "B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


def parse_size(value) -> int:
    """Glance's quota syntax: a number of bytes, optionally with B/KB/MB/GB/TB."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        if value < 0:
            raise ValueError(value)
        return value
    match = re.fullmatch(r"\s*(\d+)\s*([KMGT]?B?)\s*", str(value).upper())
    if not match:
        raise ValueError(value)
    return int(match.group(1)) * _SIZE_UNITS[match.group(2)]


def parse_bool(value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


def parse_count(value) -> int:
    # A float (scrub_time = 1.5) is refused, never truncated; int("1.5") refuses a string.
    if isinstance(value, (bool, float)):
        raise ValueError(value)
    number = int(value)
    if number < 0:
        raise ValueError(value)
    return number


_PARSERS = {
    "delayed_delete": parse_bool,
    "scrub_time": parse_count,
    "image_size_cap": parse_size,
    "user_storage_quota": parse_size,
    "image_location_quota": parse_count,
    "image_property_quota": parse_count,
    "image_tag_quota": parse_count,
    "task_time_to_live": parse_count,
}
SETTING_NAMES = tuple(_PARSERS)
_EXPECTED = {parse_bool: "true or false", parse_count: "a whole number, 0 or more",
             parse_size: "a whole number of bytes, optionally with B, KB, MB, GB or TB"}


def load_settings(home: str | Path, environ: Mapping[str, str]) -> Settings:
    config_path = Path(home, CONFIG_FILE_NAME)
    file_values: dict = {}
    if config_path.is_file():
        import tomllib  # only when there is a file to read

        try:
            with open(config_path, "rb") as handle:
                file_values = tomllib.load(handle)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InvalidValue(f"config file {config_path} is not valid TOML: {exc}") from None
        unknown = sorted(set(file_values) - set(_PARSERS))
        if unknown:
            raise InvalidValue(
                f"config file {config_path}: unknown setting(s) {', '.join(unknown)}; "
                f"known: {', '.join(SETTING_NAMES)}"
            )
    values, sources = {}, {}
    for name, parse in _PARSERS.items():
        env_name = ENV_PREFIX + name.upper()
        if env_name in environ:
            raw, source = environ[env_name], f"env {env_name}"
        elif name in file_values:
            raw, source = file_values[name], f"file {config_path}"
        else:
            continue
        try:
            values[name] = parse(raw)
        except (ValueError, TypeError):
            raise InvalidValue(f"invalid value {raw!r} for {name} (from {source}): "
                               f"expected {_EXPECTED[parse]}") from None
        sources[name] = source
    for f in fields(Settings):
        if f.name in _PARSERS:
            sources.setdefault(f.name, "default")
    return Settings(**values, sources=sources)
