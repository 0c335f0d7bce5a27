from . import test_client_refund_register
from . import test_client_refund_security
from . import test_client_refund_settings
from . import test_invoice_refund
from . import test_pos_refund
from . import test_race
from . import test_client_refund_approval
from . import test_client_refund_receipt
