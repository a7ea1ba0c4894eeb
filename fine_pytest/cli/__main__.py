"""``python -m fine_pytest.cli``: the ``fine-pytest`` command."""

import sys

from fine_pytest.cli.main import main

sys.exit(main())
