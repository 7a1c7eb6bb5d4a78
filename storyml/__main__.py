import sys

from storyml.cli import main

sys.exit(main())
