"""localstripe for `make load`: tests/localstripe_server.py, plus a record of
every refund it made, with the idempotency key it was sent with.

    python stripe_server.py PORT

GET /_load/refunds answers [{"key": ..., "payment_intent": ..., "amount": ...,
"metadata": {...}}, ...]: one item per refund made, so that `make load` counts
Stripe's refunds per idempotency key and per payment (localstripe itself keeps
no idempotency keys: the real Stripe answers a repeated key with the refund it
made the first time, localstripe would make a second one, which is what the
count must catch).
"""

import json
import os
import sys

from aiohttp import web

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests"))

import localstripe_server  # noqa: E402  pylint: disable=import-error,wrong-import-position
from localstripe import resources, server  # noqa: E402  pylint: disable=import-error,wrong-import-position

MADE = []


@web.middleware
async def record_refunds(request, handler):
    response = await handler(request)
    if request.method == "POST" and request.path == "/v1/refunds" and response.status == 200:
        made = json.loads(response.body)
        MADE.append({
            "key": request.headers.get("Idempotency-Key"),
            "id": made.get("id"),
            "payment_intent": made.get("payment_intent"),
            "amount": made.get("amount"),
            "metadata": made.get("metadata") or {},
        })
    return response


async def list_made(_request):
    return web.json_response(MADE)


def main(port):
    resources.Store.dump_to_disk = lambda store: None
    localstripe_server._accept_reason()  # pylint: disable=protected-access
    server.app.middlewares.append(record_refunds)
    server.app.router.add_get("/_load/refunds", list_made)
    web.run_app(server.app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main(int(sys.argv[1]))
