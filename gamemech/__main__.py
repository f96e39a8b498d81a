import sys

from gamemech.cli import main

sys.exit(main())
