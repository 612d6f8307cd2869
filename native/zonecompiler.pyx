# SPDX-License-Identifier: MIT
# cython: language_level=3
"""fastdns._compiler: the zone compiler at native speed.

It does what fastdns/lookup.py + fastdns/compiler.py + fastdns/image.py's ImageWriter do
(those stay the executable specification, and tests/unit/test_native_compiler.py holds the
two to byte-identical images), from zones held in a compact native form instead of
dnspython objects:

    records (RFC 1035 4.1.3 wire form, file order, from fastdns._zonefile)
      ─▶ names interned in a hash table, empty non-terminals added, sorted by wire bytes
      ─▶ records sorted by (name, type, file order): an RRset is a run of them
      ─▶ for every name the data plane can find, the lookup of lookup.py in C structs,
         the reply rendered with dnspython's compression rules, the image laid out as
         ImageWriter lays it out (blobs shared where identical).

No Python object is made per name or per record.
"""

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t
from libc.stdlib cimport calloc, malloc, realloc, free
from libc.string cimport memcpy, memcmp, memmove, memset
from cpython.ref cimport PyObject
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE

import zlib

include "buffers.pxi"
include "names.pxi"
include "zonedata.pxi"
include "denial.pxi"
include "lookup.pxi"
include "render.pxi"
include "plan.pxi"
include "writer.pxi"
include "pipeline.pxi"
