from __future__ import annotations

import sys

from k49desk.cli import main

sys.exit(main())
