# SPDX-License-Identifier: MIT
"""`python -m fastdns` is the `fastdns` command."""
import sys

from fastdns.cli import main

sys.exit(main())
