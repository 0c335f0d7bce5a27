"""localstripe for the test suite: run as `python localstripe_server.py PORT`.

Three changes to the stock server, each to behave like the real Stripe API
or to stay out of the machine's way:
- it listens on 127.0.0.1 only (stock: every interface);
- it keeps its store in memory (stock: /tmp/localstripe.pickle after every write);
- a refund takes Stripe's `reason` parameter, which the real API accepts and
  stock localstripe refuses.
"""

import sys

from aiohttp import web
from localstripe import resources, server


def _accept_reason():
    create_refund = resources.Refund.__init__

    def __init__(self, reason=None, **kwargs):
        create_refund(self, **kwargs)
        self.reason = reason

    resources.Refund.__init__ = __init__


def main(port):
    resources.Store.dump_to_disk = lambda store: None
    _accept_reason()
    web.run_app(server.app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main(int(sys.argv[1]))
