"""``python -m trustpub``: the same as the ``trustpub`` command."""

import sys

from trustpub.cli import main

sys.exit(main())
