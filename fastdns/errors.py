# SPDX-License-Identifier: MIT
"""Exceptions of the control plane; plain Python so they import without the extension."""


class FastDNSError(Exception):
    """Base class of every error fastdns reports to an operator."""


class ConfigError(FastDNSError):
    """The configuration is invalid; the message names the file, key and reason."""


class ZoneError(FastDNSError):
    """A zone file failed to load or validate; str() is 'file:line: reason'."""

    def __init__(self, filename: str, line: int | None, reason: str) -> None:
        self.filename = filename
        self.line = line
        self.reason = reason
        where = f"{filename}:{line}" if line else filename
        super().__init__(f"{where}: {reason}")


class ControlError(FastDNSError):
    """The control socket could not be reached or answered with an error."""
