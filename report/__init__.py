from . import client_refund_receipt
