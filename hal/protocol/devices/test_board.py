"""ICD of the bench test board: a PUS-17 responder used to prove a device link end to end.

Every bench can carry it (it needs no mission hardware); ``msr sil`` uses it until the mission
boards exist. APID :data:`APID` (0x7F0); packets are PUS-C with packet error control.

======================  =============  =====================================================
telecommand             reply          meaning
======================  =============  =====================================================
TC[17,1] are-you-alive  TM[17,2]       connection test, no data either way
TC[128,1] echo          TM[128,2]      the application data (0..1024 octets) sent back as is
anything else           TM[1,2]        acceptance failure, data = request's packet id and
                                       sequence control (4 octets) + failure code (1 octet)
======================  =============  =====================================================

Failure codes: 1 unknown service or subtype, 2 application data too long.
"""

from __future__ import annotations

from typing import Final

APID: Final = 0x7F0
MAX_PACKET_LENGTH: Final = 1024 + 19 + 2
SERVICE_TEST: Final = 17
SUBTYPE_ARE_YOU_ALIVE: Final = 1
SUBTYPE_ALIVE_REPORT: Final = 2
SERVICE_ECHO: Final = 128
SUBTYPE_ECHO: Final = 1
SUBTYPE_ECHO_REPORT: Final = 2
MAX_ECHO: Final = 1024
SERVICE_VERIFICATION: Final = 1
SUBTYPE_ACCEPTANCE_FAILED: Final = 2
FAIL_UNKNOWN: Final = 1
FAIL_TOO_LONG: Final = 2
