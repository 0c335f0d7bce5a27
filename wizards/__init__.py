from . import client_refund_wizard
from . import client_refund_reject_wizard
