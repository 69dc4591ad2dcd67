"""`python -m ordnance_db ...`"""

import sys

from ordnance_db.cli import main

sys.exit(main())
