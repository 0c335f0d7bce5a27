"""How a refund under load ended, from the error Odoo answered (used by
locustfile.py; plain Python, so that tools/tests checks it without locust)."""


def classify(name, message, side):
    """An error answered by Odoo: expected ones are the refusals a busy
    counter gets (someone else has the document, nothing left), the rest is a
    failure of the addon or of the load. Core's path has no check of what is
    left: the addon's check at posting ("more than its total") refuses its
    credit notes beyond an invoice's total; on the addon's path, reaching
    that check means its own lock or check was passed by."""
    text = f"{name} {message}"
    if "being refunded by someone else" in text:
        return "expected: being refunded by someone else"
    refusals = (" left", "refunded in full", "already", "nothing left", "Nothing left",
                "no longer")
    if side == "core":
        refusals += ("more than its total",)
    if ("UserError" in name or "ValidationError" in name) and any(
            words in message for words in refusals):
        return "expected: nothing left to refund"
    if "SerializationFailure" in text or "could not serialize" in text:
        return "serialization failure reaching the user"
    if "LockNotAvailable" in text or "could not obtain lock" in text:
        return "lock error reaching the user"
    return f"other error: {name.rsplit('.', 1)[-1]}"
