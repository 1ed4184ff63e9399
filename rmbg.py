#!/usr/bin/env python3
"""rmbg: remove image backgrounds with RMBG-2.0 / BiRefNet.

``python rmbg.py`` serves the web app and API on port 7860; ``python rmbg.py --help``
lists the other commands.
"""

import sys

from rmbg_app.frontends.cli import main

if __name__ == "__main__":
    sys.exit(main())
