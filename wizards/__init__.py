from . import client_refund_wizard
