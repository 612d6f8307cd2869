# SPDX-License-Identifier: MIT
"""The benchmark (deploy/bench) at a tiny scale."""
