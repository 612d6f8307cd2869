# SPDX-License-Identifier: MIT
"""fastdns: an authoritative DNS appliance with a Python control plane and a Cython data plane."""

__version__ = "0.1.0"
