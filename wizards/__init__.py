from . import client_refund_wizard_mixin
from . import client_refund_wizard
from . import client_refund_reject_wizard
from . import client_refund_balance_wizard
