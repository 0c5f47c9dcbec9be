"""`python3 -m kubeapi --state-dir DIR [--host 127.0.0.1] [--port 0] [--config FILE]`"""

from .startup import main

main()
