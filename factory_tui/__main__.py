import sys

from factory_tui.cli import main

sys.exit(main())
