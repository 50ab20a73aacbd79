"""``python -m shm_ring producer|consumer ...``: the conformance peer (see ``_peer``)."""

import sys

from ._peer import main

if __name__ == "__main__":
    sys.exit(main())
